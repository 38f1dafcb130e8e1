"""Catalogue health: every problem the index already knows of (photos, near-duplicates, suspect labels, Merchant
Center's required attributes, titles, prices, stock) in one ranked report, with a score a merchandiser can follow.

The score is 100 x the share of products with no problem at all, overall and per category. Drafts and archived
products are checked too: health is about the whole catalogue, not the shop window. Near-duplicates and the label
audit (the two costly checks) are kept in caches keyed by the index's content version (core.index.indexer's
content_version: it moves only when a run changed the stored products, so re-indexing an unchanged catalogue reuses
them) and by the decisions files a person writes, and the last report per filter set too, so a page's first render
and a re-check of an unchanged index compute nothing. The score history lives in the index metadata, so
`index --recreate` (a new index) starts a new history.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from core.common.errors import BadQuery, LensError, NotIndexed
from core.common.fields import CATEGORY, PRODUCT_ID, values_of
from core.common.filters import Filters
from core.index.indexer import content_version
from core.index.store import ProductStore
from core.insights import health_cache as cache
from core.insights.audit import AUDIT_FIELDS, MAX_LABELS, audit
from core.insights.audit_decisions import AuditDecisions
from core.insights.health_rules import KEYS, importance, product_problems
from core.curation.duplicate_dismissals import DuplicateDismissals
from core.search.duplicates import find_pairs

KINDS = ("no_photo", "photo_failed", "small_photo", "duplicate_photo", "suspect_label", "missing_attribute",
         "title_length", "no_price", "bad_sale_price", "out_of_stock_active", "in_stock_draft")
DUPLICATE_THRESHOLD = 0.95  # the Catalog page's default: near-identical photos
NO_CATEGORY = "(none)"
HISTORY_KEY = "health_history"
NOT_SEARCHED = ("near-duplicates not re-checked after this index run (a large catalogue: the search takes minutes); "
                "`python -m core health` or the Health page checks them")
MAX_HISTORY = 100           # rows kept in the index metadata, one per index version (every meta() read parses them)
SHOWN_IN_GROUP = 5          # other members a duplicate's detail names ("and N more" after them)
MAX_RELATED = 50            # other members of a duplicate group kept per product (a group of 300 stays small)
PAGE = 1000                 # products read per scroll page
# The check an index run ends with searches near-duplicates again only up to this many products: the search asks
# the engine for each photo's neighbours (beyond the exact path's 10,000 photo vectors), ~2.3 ms a photo, so a
# 100,000-product shop with 242,578 photos took 550-660 s (docs/benchmarks.md), which no incremental run should pay.
# Past it, fresh cached pairs are reused, else duplicate_photo waits for `core health` or the Health page.
AFTER_INDEX_DUPLICATES_UP_TO = 5_000
Progress = Callable[[int, int], None]


@dataclass
class Problem:
    """One kind of problem: its products, most important first, each with its reason as plain text."""

    kind: str
    products: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    related: dict[str, list[str]] = field(default_factory=dict)  # duplicate_photo: the group's other ids;
    # suspect_label and missing_attribute: the fields concerned

    @property
    def count(self) -> int:
        return len(self.products)


@dataclass
class HealthReport:
    """The whole check: products looked at, the score, every kind largest first, and per category the same."""

    products: int
    checked_at: float
    score: float
    problems: list[Problem]
    by_category: dict[str, dict]
    index_version: float | None = None
    notes: list[str] = field(default_factory=list)

    def problem(self, kind: str) -> Problem:
        return next(p for p in self.problems if p.kind == kind)

    @property
    def counts(self) -> dict[str, int]:
        return {p.kind: p.count for p in self.problems}

    def summary(self) -> dict:
        """What an index run's --json adds under "health": the score and every kind's count."""
        return {"score": self.score, "problems": self.counts}

    def line(self, lister: str = "`python -m core health`") -> str:
        """The one line an index run ends with; lister: where the problems are listed (the app: its Health page)."""
        kinds = sum(1 for p in self.problems if p.count)
        if not kinds:
            return f"health: score {self.score}, no problem found"
        return (f"health: score {self.score}, {kinds} kind{'s' if kinds > 1 else ''} of problem; "
                f"{lister} lists them")

    def as_dict(self) -> dict:
        """The issue's JSON, exactly: products, checked_at, score, problems, by_category."""
        return {"products": self.products, "checked_at": self.checked_at, "score": self.score,
                "problems": [{"kind": p.kind, "count": p.count, "products": list(p.products),
                              "details": dict(p.details)} for p in self.problems],
                "by_category": {k: dict(v) for k, v in self.by_category.items()}}

    def to_cache(self) -> dict:
        """as_dict plus what the cache must keep: related ids and fields, the index version, the notes."""
        out = self.as_dict()
        for row, p in zip(out["problems"], self.problems):
            row["related"] = dict(p.related)
        return dict(out, index_version=self.index_version, notes=list(self.notes))

    @classmethod
    def from_dict(cls, d: dict) -> "HealthReport":
        problems = [Problem(p["kind"], list(p["products"]), dict(p["details"]), dict(p.get("related") or {}))
                    for p in d["problems"]]
        return cls(int(d["products"]), float(d["checked_at"]), float(d["score"]), problems,
                   {k: dict(v) for k, v in d["by_category"].items()}, d.get("index_version"),
                   list(d.get("notes") or []))


def category_of(payload: dict) -> str:
    """The category a product counts under in by_category: its category's first value, "(none)" when empty."""
    return (values_of(payload.get(CATEGORY)) or [NO_CATEGORY])[0] or NO_CATEGORY


def filters_key(filters: Filters | None) -> str:
    """A filter set as a stable string (the report cache's file name and key), from every one of its fields, so a
    filtered report (by excluded ids, lacking fields...) is never served as another filter set's."""
    f = filters or Filters()
    return json.dumps({fld.name: _plain(getattr(f, fld.name)) for fld in fields(f)}, sort_keys=True, default=str)


def _plain(value):
    """A filter field's value as JSON: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _report_key(store: ProductStore, data_dir: Path, filters: Filters | None, meta: dict) -> dict:
    return {"index_version": meta.get("last_indexed"), "filters": filters_key(filters),
            "decisions": cache.decisions_stamp(data_dir, store.collection), "threshold": DUPLICATE_THRESHOLD}


def cached_report(store: ProductStore, data_dir: Path, filters: Filters | None = None) -> HealthReport | None:
    """The last report for these filters while it still holds (same index version, no decision made since), or
    None; nothing is computed (a page's first render)."""
    meta = store.meta()
    if meta is None:
        return None
    where = cache.folder(data_dir, store.collection)
    found = cache.load_report(where, filters_key(filters), _report_key(store, data_dir, filters, meta))
    return None if found is None else HealthReport.from_dict(found)


def check_health(store: ProductStore, data_dir: Path, filters: Filters | None = None,
                 encoder: Callable[[], object] | None = None, progress: Progress | None = None,
                 use_cache: bool = True, search_duplicates: bool = True) -> HealthReport:
    """Check every product the filters keep (drafts and archived ones included) and rank what is wrong.

    progress(done, total): products read so far of those the filters keep, after each page of the scroll (the
    costly checks after it report nothing). encoder: a zero-argument callable returning the query encoder, called
    only when the label audit has to run (its cache is not fresh); with None, suspect_label comes from a fresh
    cached audit only, and a note says when there is none. use_cache=False recomputes near-duplicates and the
    audit (and refreshes their caches). The products themselves are always read again (the last report without
    any computing is cached_report's); the report is then kept for cached_report. An unfiltered check records
    one row per index version in the index's health history. search_duplicates=False (the check after a large
    index run): near-duplicates come from fresh cached pairs only; without them the report is partial, said in its
    notes, and neither kept for cached_report nor recorded in the history (a later whole check does both).
    """
    meta = store.require_meta()
    if store.count() == 0:
        raise NotIndexed("the index has no products to check: index a catalogue first")
    filters = filters or Filters()
    if filters:
        filters.check(store.schema())
    where = cache.folder(data_dir, store.collection)
    key = _report_key(store, data_dir, filters, meta)
    total = store.count(filters)
    if total == 0:
        raise BadQuery("no product matches these filters: loosen or remove them to check some products")
    notes: list[str] = []
    version = meta.get("last_indexed")
    state = _Tally()
    for hit in store.scroll(filters, payload_keys=KEYS, page=PAGE):
        state.add(hit.payload)
        if progress and state.seen % PAGE == 0:
            progress(state.seen, total)
    if progress:
        progress(state.seen, total)
    stamp, content = key["decisions"], content_version(meta)
    whole = _add_duplicates(state, store, data_dir, where, {"content_version": content,
                                                            "threshold": DUPLICATE_THRESHOLD},
                            use_cache, notes, search_duplicates)
    _add_suspects(state, store, data_dir, where, {"content_version": content, "audit": stamp["audit"],
                                                  "enrich": stamp["enrich"]}, encoder, use_cache, notes)
    if state.unsized:
        notes.insert(0, f"{state.unsized} product(s) have no photo size yet, so small photos were not judged for "
                        "them: re-run `python -m core index` to store their sizes")
    report = state.report(version, notes)
    if whole:
        cache.save_report(where, key["filters"], key, report.to_cache())
        if not filters:
            _record_history(store, report)
    return report


class _Tally:
    """What the scroll learns, bounded: per product its id, order key and category (a catalogue-wide check may
    flag any of them later), and short reasons for the products with a problem."""

    def __init__(self):
        self.seen = 0
        self.unsized = 0
        self.problems = {kind: Problem(kind) for kind in KINDS}
        self.order: dict[str, tuple] = {}       # product id -> importance (health_rules.importance)
        self.category: dict[str, str] = {}      # product id -> category
        self.category_sizes: dict[str, int] = {}

    def add(self, payload: dict) -> None:
        self.seen += 1
        product_id = str(payload.get(PRODUCT_ID, ""))
        category = category_of(payload)
        self.category_sizes[category] = self.category_sizes.get(category, 0) + 1
        self.order[product_id] = importance(payload)
        self.category[product_id] = category
        found, missing, sized = product_problems(payload)
        self.unsized += not sized
        if missing:
            self.problems["missing_attribute"].related[product_id] = missing
        for kind, detail in found:
            self.flag(kind, product_id, detail)

    def flag(self, kind: str, product_id: str, detail: str) -> None:
        problem = self.problems[kind]
        if product_id not in problem.details:
            problem.products.append(product_id)
        problem.details[product_id] = detail

    def kept(self, product_id: str) -> bool:
        """Whether the filters keep this product (the scroll saw it)."""
        return product_id in self.order

    def report(self, version: float | None, notes: list[str]) -> HealthReport:
        for problem in self.problems.values():
            problem.products.sort(key=lambda pid: self.order[pid])
        flagged = {pid for problem in self.problems.values() for pid in problem.products}
        by_category = {c: {"products": n, "score": 0.0, **{k: 0 for k in KINDS}}
                       for c, n in sorted(self.category_sizes.items())}
        sick_in: dict[str, int] = {}
        for pid in flagged:
            sick_in[self.category[pid]] = sick_in.get(self.category[pid], 0) + 1
        for problem in self.problems.values():
            for pid in problem.products:
                by_category[self.category[pid]][problem.kind] += 1
        for c, row in by_category.items():
            row["score"] = _score(row["products"], sick_in.get(c, 0))
        ranked = sorted(self.problems.values(), key=lambda p: (-p.count, KINDS.index(p.kind)))
        return HealthReport(self.seen, time.time(), _score(self.seen, len(flagged)), ranked, by_category, version,
                            notes)


def _score(products: int, with_problems: int) -> float:
    return round(100.0 * (products - with_problems) / products, 1) if products else 100.0


def _add_duplicates(state: _Tally, store: ProductStore, data_dir: Path, where: Path, key: dict, use_cache: bool,
                    notes: list[str], search: bool = True) -> bool:
    """duplicate_photo: near-duplicate groups of the whole catalogue (drafts included), less the pairs a person
    dismissed; a product the filters keep is flagged when its group has any other member, in or out of them.
    False when the pairs were neither cached nor searched (search=False): the report is partial."""
    pairs = cache.load_pairs(where, key) if use_cache else None
    if pairs is None and not search:
        notes.append(NOT_SEARCHED)
        return False
    if pairs is None:
        try:
            pairs = find_pairs(store, DUPLICATE_THRESHOLD, show_hidden=True)
        except LensError as exc:  # too many pairs at this threshold: said, the other checks stand
            notes.append(f"near-duplicates not checked: {exc}")
            return True
        cache.save_pairs(where, key, pairs)
    try:
        dismissed = DuplicateDismissals(data_dir, store.collection).pairs()
    except LensError as exc:  # an unreadable dismissals file: said, the other checks stand
        notes.append(f"near-duplicates not checked: {exc}")
        return True
    for group in pairs.without(dismissed).groups():
        members = group.closest_first()
        for pid in members:
            others = [m for m in members if m != pid]
            if not state.kept(pid):
                continue
            shown = ", ".join(others[:SHOWN_IN_GROUP]) + (f" and {len(others) - SHOWN_IN_GROUP} more"
                                                          if len(others) > SHOWN_IN_GROUP else "")
            state.flag("duplicate_photo", pid, f"group of {len(members)}: with {shown}")
            state.problems["duplicate_photo"].related[pid] = others[:MAX_RELATED]
    return True


def _add_suspects(state: _Tally, store: ProductStore, data_dir: Path, where: Path, key: dict, encoder,
                  use_cache: bool, notes: list[str]) -> None:
    """suspect_label: the label audit of each audited field with at least two values (drafts included; labels a
    person confirmed left out, as on the Audit page)."""
    suspects = cache.load_suspects(where, key) if use_cache else None
    if suspects is None:
        fields = [f for f in AUDIT_FIELDS if _labels(store, f) >= 2]
        if not fields:
            suspects = []
        elif encoder is None:
            notes.append("suspect labels not checked: the label audit has not run on this index version (run "
                         "`python -m core health` to run it)")
            return
        else:
            try:
                suspects = _audited(store, data_dir, encoder(), fields)
            except LensError as exc:  # another model than the index's, an unreadable decisions file: said
                notes.append(f"suspect labels not checked: {exc}")
                return
        cache.save_suspects(where, key, suspects)
    reasons: dict[str, list[tuple[str, str]]] = {}
    for product_id, fld, label, suggested in suspects:
        reasons.setdefault(product_id, []).append((fld, f"{fld}: {label} (photo looks {suggested})"))
    for pid, found in sorted(reasons.items()):
        if not state.kept(pid):
            continue
        state.flag("suspect_label", pid, "; ".join(text for _, text in found))
        state.problems["suspect_label"].related[pid] = list(dict.fromkeys(fld for fld, _ in found))


def _audited(store: ProductStore, data_dir: Path, embedder, fields: list[str]) -> list[list[str]]:
    """[[product id, field, label, suggested], ...]: every suspect of each field's audit."""
    confirmed = AuditDecisions(data_dir).confirmed()
    return [[s.product_id, s.field, s.label, s.suggested] for f in fields
            for s in audit(store, embedder, f, confirmed=confirmed, show_hidden=True).suspects]


def _labels(store: ProductStore, fld: str) -> int:
    return len([v for v, _ in store.facet(fld, None, limit=MAX_LABELS) if v != ""])



def check_after_index(store: ProductStore, data_dir: Path, encoder: Callable[[], object] | None,
                      lister: str = "`python -m core health`") -> tuple[HealthReport | None, str]:
    """The health check an index run ends with (the CLI's and the app's), its model already loaded: (the report,
    its one line), or (None, why it failed). Never raises: a failed check must not fail a finished index run."""
    try:
        report = check_health(store, data_dir, encoder=encoder,
                              search_duplicates=store.count() <= AFTER_INDEX_DUPLICATES_UP_TO)
        if not store.read_only:  # the copy other processes read gets the new history row (only metadata, unless
            store.publish()      # the audit stored colour statistics the run had not)
    except LensError as exc:
        return None, f"the health check failed: {exc}"
    except Exception as exc:  # a bug or an engine failure: the index stands, the details go to the log
        logging.getLogger(__name__).exception("the health check after indexing failed")
        return None, f"the health check failed ({type(exc).__name__}: {exc})"
    line = report.line(lister)
    return report, (f"{line} (near-duplicates not re-checked: a large catalogue; {lister} checks them)"
                    if NOT_SEARCHED in report.notes else line)


def health_history(store: ProductStore) -> list[dict]:
    """One row per index version that was checked whole, oldest first: {"indexed_at", "checked_at", "products",
    "score", "counts": {kind: n}} (the page's score-over-runs chart)."""
    rows = (store.meta() or {}).get(HISTORY_KEY) or []
    return sorted((r for r in rows if isinstance(r, dict)), key=lambda r: (r.get("indexed_at") or 0.0,
                                                                          r.get("checked_at") or 0.0))


def _record_history(store: ProductStore, report: HealthReport) -> None:
    """Replace this index version's row (or add it), keeping the newest MAX_HISTORY; a read-only copy (another
    process's published snapshot) is left as it is."""
    if store.read_only or report.index_version is None:
        return
    row = {"indexed_at": report.index_version, "checked_at": report.checked_at, "products": report.products,
           "score": report.score, "counts": report.counts}
    rows = sorted([r for r in health_history(store) if r.get("indexed_at") != report.index_version] + [row],
                  key=lambda r: (r.get("indexed_at") or 0.0, r.get("checked_at") or 0.0))
    try:
        store.update_meta(**{HISTORY_KEY: rows[-MAX_HISTORY:]})
    except LensError as exc:  # another process took the index meanwhile: the next check records it
        report.notes.append(f"health history not recorded: {exc}")
