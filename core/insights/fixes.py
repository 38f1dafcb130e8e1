"""The merchandiser's fixes that every index run re-applies to the catalogue's values until the source has them:
the audit's label changes and the accepted enrichments (core.insights.enrich_decisions), as one hook."""

from __future__ import annotations

from pathlib import Path

from core.common.fields import Schema
from core.index.store import ProductStore
from core.insights.audit_decisions import AuditDecisions
from core.insights.enrich_decisions import Accepted, EnrichmentDecisions, shown


class CatalogueFixes:
    """The relabel hook index_catalog takes: fix(product_id, payload) applies this data folder's fixes, as they
    stand when the run starts, to one product's values (in place) and says whether any changed. The run ends with
    after_run(store), which retires the accepted enrichments the source has settled meanwhile."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._audit = AuditDecisions(data_dir).relabeller()
        self._enrichments = EnrichmentFixer(EnrichmentDecisions(data_dir).accepted())

    def __call__(self, product_id: str, payload: dict) -> bool:
        relabelled = self._audit(product_id, payload)
        return self._enrichments(product_id, payload) or relabelled

    def after_run(self, store: ProductStore) -> None:
        """After index_catalog: the accepted enrichments this run saw the source settle are retired (one locked
        write: no later run re-applies them, export-fixes no longer lists them), and every attribute with one still
        standing is a keyword filter. A --part worker retires what its part saw, which is right for those products."""
        decisions = EnrichmentDecisions(self.data_dir)
        decisions.settle(self._enrichments.settled)
        keep_fixed_fields(store, self.data_dir)


def catalogue_fixes(data_dir: Path) -> CatalogueFixes:
    """This data folder's fixes as index_catalog's relabel hook (see CatalogueFixes)."""
    return CatalogueFixes(data_dir)


class EnrichmentFixer:
    """fix(product_id, payload) setting each accepted value while the source's value is empty or still the one it
    replaced. Once the source holds the accepted value or any other new value, the source wins (nothing is set),
    and the decision is noted in `settled` ((product id, attribute, decided_at) each): the source owns the field
    from then on, even if it is emptied again later."""

    def __init__(self, accepted: list[Accepted]):
        self._by_product: dict[str, list[Accepted]] = {}
        for a in accepted:
            self._by_product.setdefault(a.product_id, []).append(a)
        self.settled: list[tuple[str, str, float]] = []

    def __call__(self, product_id: str, payload: dict) -> bool:
        changed = False
        for a in self._by_product.get(str(product_id), ()):
            source = shown(payload.get(a.attribute))
            if source in ("", a.previous):
                if source != a.value:
                    payload[a.attribute] = a.value
                    changed = True
            else:
                self.settled.append((a.product_id, a.attribute, a.decided_at))
        return changed


def keep_fixed_fields(store: ProductStore, data_dir: Path) -> None:
    """After an index run: every attribute with an accepted enrichment is a keyword filter, also in a collection
    that was just recreated (whose schema is the catalogue's alone) although the run wrote the values back."""
    attributes = tuple(dict.fromkeys(a.attribute for a in EnrichmentDecisions(data_dir).accepted()))
    if attributes and not store.read_only and not set(attributes) <= set(store.schema().keyword):
        store.add_fields(Schema(keyword=attributes))
