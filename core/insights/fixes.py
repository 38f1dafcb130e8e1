"""The merchandiser's fixes that every index run re-applies to the catalogue's values until the source has them:
the audit's label changes and the accepted enrichments (core.insights.enrich_decisions), as one hook."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.common.fields import Schema
from core.index.store import ProductStore
from core.insights.audit_decisions import AuditDecisions
from core.insights.enrich_decisions import Accepted, EnrichmentDecisions, shown


def catalogue_fixes(data_dir: Path) -> Callable[[str, dict], bool]:
    """The relabel hook index_catalog takes: fix(product_id, payload) applies this data folder's fixes, as they
    stand now, to one product's values (in place) and says whether any changed."""
    audit = AuditDecisions(data_dir).relabeller()
    enrichments = enrichment_fixer(EnrichmentDecisions(data_dir).accepted())

    def fix(product_id: str, payload: dict) -> bool:
        relabelled = audit(product_id, payload)
        return enrichments(product_id, payload) or relabelled

    return fix


def enrichment_fixer(accepted: list[Accepted]) -> Callable[[str, dict], bool]:
    """fix(product_id, payload) setting each accepted value while the source's value is empty or still the one it
    replaced; once the source holds the accepted value or any other new value, the source wins (nothing is set)."""
    by_product: dict[str, list[Accepted]] = {}
    for a in accepted:
        by_product.setdefault(a.product_id, []).append(a)

    def fix(product_id: str, payload: dict) -> bool:
        changed = False
        for a in by_product.get(str(product_id), ()):
            source = shown(payload.get(a.attribute))
            if source in ("", a.previous) and source != a.value:
                payload[a.attribute] = a.value
                changed = True
        return changed

    return fix


def keep_fixed_fields(store: ProductStore, data_dir: Path) -> None:
    """After an index run: every attribute with an accepted enrichment is a keyword filter, also in a collection
    that was just recreated (whose schema is the catalogue's alone) although the run wrote the values back."""
    attributes = tuple(dict.fromkeys(a.attribute for a in EnrichmentDecisions(data_dir).accepted()))
    if attributes and not store.read_only and not set(attributes) <= set(store.schema().keyword):
        store.add_fields(Schema(keyword=attributes))
