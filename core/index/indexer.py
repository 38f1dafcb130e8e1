"""Indexing pipeline as stages you can see: read -> plan -> embed -> keywords -> write -> prune -> publish.

Each stage is a named callable (read_catalog, make_plan, embed_points, add_keywords, PointWriter, prune_missing,
publish) and
index_catalog composes them, timing each on its own (StageClock), as clip-retrieval's runner composes its reader,
mapper and writer. The embed stage, the mapper, lives in core.index.embed_stage; the keyword stage (each point's
words as a sparse vector, and the catch-up of an index made before the keyword index) in core.index.keyword_stage;
whether a product must be embedded again, and why, is core.index.fingerprints' to say; each photo's pixel size, and
the catch-up of an index made before sizes were stored, core.index.photo_sizes'.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from core.common.config import MAX_PIXELS, Settings
from core.common.errors import CatalogError, ImageRejected
from core.common.fields import (COLOUR_STATS, FINGERPRINT, IMAGE_PATH, IMAGE_PROBLEM, MATCHED_PHOTOS, PAYLOAD_HASH,
                                PHOTO_COLOURS, PHOTO_DIGESTS, PHOTO_PROBLEMS, PHOTO_SIZES, PRODUCT_ID, SHARED_PHOTOS,
                                TEXT_ONLY)
from core.common.iterables import chunks
from core.index.embed_stage import URL_WORKERS, EmbeddedBatch, PhotoWork, decode_workers, embed_points
from core.index.fingerprints import (NEW_PRODUCT, changed_parts, decode_settings, embedded_with_photo, fingerprint,
                                     missing_digest, payload_hash, same_vectors)
from core.index import photo_sizes
from core.index.keyword_stage import add_keywords, caught_up, keyword_updates, lacking_keywords
from core.index.photos import SHA256, PhotoPlan, hero_ref, photo_key, photo_refs
from core.index.store import ProductStore, StoredPoint
from core.ingest.catalog import CatalogFile, Product, RowProblem, check_inputs, product_text
from core.ingest.formats import ProblemKind
from core.ingest.images import read_image_bytes

if TYPE_CHECKING:  # for annotations only: importing this module does not load the model's modules
    from core.models.embedder import EmbeddingModel

Progress = Callable[[int, int], None]
Stage = Callable[[str], None]  # told each stage's name (READ, PLAN, EMBED, KEYWORDS, PRUNE, PUBLISH) as it starts
READ, PLAN, EMBED, KEYWORDS, WRITE, PRUNE, PUBLISH = "read", "plan", "embed", "keywords", "write", "prune", "publish"
# Parts of embed, timed inside it and not stages of their own: the text tower, and the loader threads' read + hash
# + decode time summed over threads (it runs alongside embed, so it does not add to the wall time).
EMBED_TEXT, DECODE_THREADS = "embed_text", "decode_threads"
# The report's stages that follow one another, with the callers' steps before the run (a photos zip, the model).
WALL_STAGES = ("zip", "model", READ, PLAN, EMBED, KEYWORDS, WRITE, PRUNE, PUBLISH)
CONTENT_VERSION = "content_version"  # index metadata: when a run last changed the stored points (content_meta)
MAX_LISTED_PROBLEMS = 1000  # problems listed by name in a report; the rest are counted
MAX_LISTED_REEMBEDDED = 100  # products re-embedded listed by name with their reasons; the rest are counted by reason
PLAN_CHUNK = 2000           # products compared with the store at a time (their photos hashed in parallel)
# A stored product's keys that describe its vectors, not its catalogue values: an attribute-only rewrite keeps them.
VECTOR_KEYS = (FINGERPRINT, TEXT_ONLY, IMAGE_PROBLEM, COLOUR_STATS, MATCHED_PHOTOS, PHOTO_DIGESTS, PHOTO_COLOURS,
               SHARED_PHOTOS, PHOTO_PROBLEMS, PHOTO_SIZES)


@dataclass
class IndexReport:
    """What one run did; as_dict() is the CLI's --json output."""

    total: int = 0
    indexed: int = 0
    updated: int = 0          # attributes changed, vectors still valid: payload rewritten, nothing embedded
    unchanged: int = 0
    text_only: int = 0
    pruned: int = 0
    other_parts: int = 0      # products left to the other workers of a --part run
    failed: list[RowProblem] = field(default_factory=list)  # listed problems: the first MAX_LISTED_PROBLEMS
    problems: int = 0         # every problem, listed or not (text-only products included)
    catalog: dict = field(default_factory=dict)  # the format, the column mapping and what each column became
    seconds: float = 0.0
    # Wall seconds of each stage in turn, plus two parts that are not stages of their own: embed_text (inside
    # embed) and decode_threads (the loader threads' read + hash + decode time, summed over threads; it runs
    # alongside embed, so it does not add to the wall time).
    stages: dict[str, float] = field(default_factory=dict)
    runtime: str = ""         # what ran the model: torch, onnx or onnx-int8
    warnings: list[str] = field(default_factory=list)
    # Why products are embedded: (product id, reasons) for the first MAX_LISTED_REEMBEDDED, and how many products
    # have each reason (a product changed in two ways counts under both).
    reembedded: list[tuple[str, list[str]]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    to_embed: int = 0         # products the plan found new or changed (indexed says how many were written)
    # Photos: embedded by the model, rows kept from the store (same bytes), failed (beyond each hero), shared
    # (left out of matching), and products given their photo rows for the first time (an older index).
    photo_counts: dict = field(default_factory=lambda: dict.fromkeys(("embedded", "kept", "failed", "shared",
                                                                      "upgraded"), 0))
    notes: list[str] = field(default_factory=list)  # what a user should know about this run (shared photos, upgrade)
    keywords_added: int = 0   # stored products given their keyword vector from their stored values (an older index)
    photo_sizes_added: int = 0  # stored products given their photos' sizes from the photos' headers (an older index)

    @property
    def failed_rows(self) -> int:
        """Rows not indexed at all (text-only products are indexed, so they are not counted here)."""
        return self.problems - self.text_only

    @property
    def not_listed(self) -> int:
        """Problems counted but not listed: a million text-only rows are a count, not a million lines."""
        return self.problems - len(self.failed)

    @property
    def listing(self) -> bool:
        return len(self.failed) < MAX_LISTED_PROBLEMS

    def add_reembedded(self, product_id: str, reasons: list[str]) -> None:
        """Count why a product is embedded, and name it while fewer than MAX_LISTED_REEMBEDDED are."""
        self.to_embed += 1
        for reason in reasons:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.reembedded) < MAX_LISTED_REEMBEDDED:
            self.reembedded.append((product_id, reasons))

    def add_stage_before(self, stage: str, seconds: float) -> None:
        """A step the caller ran before index_catalog (loading the model): listed first, and part of the run's
        duration, which is then what the user waited for."""
        self.stages = {stage: seconds, **self.stages}
        self.seconds += seconds

    def add_problem(self, problem: RowProblem | None, text_only: bool = False) -> None:
        """Count a problem, and list it while fewer than MAX_LISTED_PROBLEMS are (None: count only)."""
        self.problems += 1
        self.text_only += text_only
        if problem is not None and self.listing:
            self.failed.append(problem)

    def as_dict(self) -> dict:
        return {"total": self.total, "indexed": self.indexed, "updated": self.updated, "unchanged": self.unchanged,
                "text_only": self.text_only, "pruned": self.pruned, "other_parts": self.other_parts,
                "other_shards": self.other_parts,  # its name before --part: kept for scripts that read it
                "failed_rows": self.failed_rows, "failed_not_listed": self.not_listed,
                "failed": [p.as_dict() for p in self.failed], "warnings": self.warnings, "catalog": self.catalog,
                "seconds": round(self.seconds, 3), "stages": {k: round(v, 3) for k, v in self.stages.items()},
                "runtime": self.runtime, "reasons": self.reasons,
                "reembedded": [{"product_id": pid, "reasons": reasons} for pid, reasons in self.reembedded],
                "reembedded_not_listed": self.to_embed - len(self.reembedded), "photo_counts": dict(self.photo_counts),
                "keywords_added": self.keywords_added, "photo_sizes_added": self.photo_sizes_added,
                "notes": list(self.notes)}


class StageClock:
    """Each stage's own wall seconds. A stage timed inside another (the writes made while planning or embedding)
    is taken out of the one around it, so the stages add up to the run; embed's parts are noted, not taken out."""

    ORDER = (READ, PLAN, EMBED_TEXT, DECODE_THREADS, EMBED, KEYWORDS, WRITE, PRUNE, PUBLISH)  # the report's order

    def __init__(self):
        self.seconds = dict.fromkeys((READ, PLAN, EMBED, KEYWORDS, WRITE, PRUNE, PUBLISH), 0.0)
        self._inner: list[float] = []  # for each stage being timed, the seconds of the stages timed inside it

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._inner.append(0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] += elapsed - self._inner.pop()
            if self._inner:
                self._inner[-1] += elapsed

    def note(self, part: str, seconds: float) -> None:
        """A part of a stage (EMBED_TEXT, DECODE_THREADS), measured by the stage itself: its total so far."""
        self.seconds[part] = seconds

    def stages(self) -> dict[str, float]:
        """The report's stages in their order; embed's parts only when something was embedded."""
        return {name: self.seconds[name] for name in self.ORDER if name in self.seconds}


@dataclass(frozen=True)
class Part:
    """Worker `index` of `count` (0-based): its part of a catalogue is the products whose id hashes to it."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Part":
        """'2/8' -> worker 2 of 8 (0-based, like Slurm array and Kubernetes Job completion indexes)."""
        index, sep, count = (text or "").partition("/")
        try:
            part = cls(int(index), int(count))
        except ValueError:
            part = None
        if not sep or part is None or not 0 <= part.index < part.count:
            raise CatalogError(f"--part must look like i/n with 0 <= i < n (worker i of n, counted from 0), "
                               f"got {text!r}")
        return part

    def owns(self, product_id: str) -> bool:
        """A stable hash of the product id (the same on every machine and Python), modulo the worker count."""
        if self.count == 1:
            return True
        digest = hashlib.blake2b(str(product_id).encode("utf-8", "surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index


def refuse_partial(prune: bool, recreate: bool, part: Part) -> None:
    """A worker sees only its part of the catalogue: pruning from it would delete the others' products, and a
    worker that starts late and recreates the collection would drop what the others wrote."""
    if part.count == 1:
        return
    if prune:
        raise CatalogError("--prune cannot run with --part: a worker sees only its part of the catalogue, so it "
                           "would delete the others' products; run one `index --prune` without --part after the "
                           "workers")
    if recreate:
        raise CatalogError("--recreate cannot run with --part: a worker that starts late would drop what the others "
                           "wrote; delete the collection (or run `index --recreate` without --part) before starting "
                           "the workers: the first to start creates it, the others use it")


def index_catalog(csv_path: Path, images_dir: Path | None, embedder: EmbeddingModel, store: ProductStore, *,
                  batch_size: int = 32, recreate: bool = False, prune: bool = False,
                  max_pixels: int = MAX_PIXELS, progress: Progress | None = None,
                  workers: int | None = None, format: str = "auto", columns: dict | None = None,
                  fetcher=None, part: Part = Part(), relabel: Callable[[str, dict], bool] | None = None,
                  stage: Stage | None = None, max_photos: int = Settings.max_photos,
                  shared_photo_min: int = Settings.shared_photo_min) -> IndexReport:
    """Index a catalogue incrementally; safe to interrupt and re-run (each batch is written as it completes).

    Stages, each timed in the report: read (a first streaming pass: layout, schema, row problems), plan (a second
    pass comparing fingerprints with the store: new, changed, payload-only, unchanged), embed (a third pass, only
    when something must be embedded, in batches of points), keywords (each point's words, tokenised as it is
    written; an older index's unchanged products given theirs from their stored values), write, prune, publish.
    The catalogue is never held
    whole: memory grows with product ids and stored fingerprints, not with the catalogue's values. Photos behind
    http(s) URLs are fetched by `fetcher` (core.ingest.fetch.ImageFetcher) in the same streaming pipeline as decoding,
    and cached, so a re-run fetches nothing it already has. With a part, this run indexes only that part.
    relabel(product_id, payload) is a hook the caller gives (the audit's label changes:
    core.insights.audit_decisions.AuditDecisions.relabeller()); it changes a product's values as they are read and
    says whether it did, so a fixed label survives every re-index until the source is fixed.
    stage is told each stage's name before it starts, so a caller can say what is going on before the first
    product is embedded; progress then counts the products embedded.
    Every photo of a product (PHOTOS, at most max_photos) becomes a row of its photos multivector, except photos
    used by shared_photo_min products or more (a size chart); a photo whose bytes are unchanged keeps its row.
    """
    started = time.perf_counter()
    stage = stage or (lambda name: None)
    report = IndexReport(runtime=embedder.runtime)
    workers = workers or decode_workers(embedder.device)
    check_inputs(csv_path, images_dir)
    refuse_partial(prune, recreate, part)
    clock = StageClock()
    write = PointWriter(store, clock)

    stage(READ)
    with clock(READ):
        catalog = read_catalog(csv_path, images_dir, format, columns, part, report, max_photos)
    open_store(store, embedder, catalog, recreate)

    def products() -> Iterator[Product]:  # the catalogue streamed again, the same way for every pass
        return _prepared(catalog.products(), fetcher, relabel)

    stage(PLAN)
    with clock(PLAN):
        plan = make_plan(products(), store, write, embedder.name, fetcher, max_pixels,
                         plan_workers(workers, fetcher), part, report, PhotoPlan(shared_photo_min, max_photos))
    _list_stored_text_only(plan, store, report)  # a read for the report's listing, outside the stages as before

    stage(EMBED)
    if progress:
        progress(0, len(plan.todo))
    if plan.todo:
        with clock(EMBED):
            todo = (p for p in products() if p.product_id in plan.todo)
            work = PhotoWork(plan.photos, plan.stale, store)
            for batch in embed_points(todo, embedder, fetcher, max_pixels, batch_size, workers, work):
                _count_embedded(batch, report, clock)
                write(batch.points)
                # a product whose photos only moved (same bytes, new paths) had nothing embedded: its payload was
                # rewritten, as an attribute change is
                report.indexed += len(batch.points) - batch.nothing_embedded
                report.updated += batch.nothing_embedded
                if progress:
                    progress(report.indexed + report.updated - plan.payload_only, len(plan.todo))

    with clock(PRUNE):
        if prune:
            stage(PRUNE)
            prune_missing(catalog.problems, plan, store, report)
    add_missing_keywords(store, write, part, report, clock, stage)
    add_missing_photo_sizes(store, write, part, report, clock, fetcher, max_pixels)
    write.flush()

    _photo_notes(plan, report)
    stage(PUBLISH)
    publish(store, csv_path, embedder, report, clock)
    report.stages = clock.stages()
    report.failed.sort(key=lambda p: p.row)
    report.seconds = time.perf_counter() - started
    return report


# -- read --------------------------------------------------------------------------------------------------------------

def read_catalog(csv_path: Path, images_dir: Path | None, format: str, columns: dict | None, part: Part,
                 report: IndexReport, max_photos: int = Settings.max_photos) -> CatalogFile:
    """The first streaming pass: the catalogue's layout, schema and size, and the problems of this part's rows."""
    catalog = CatalogFile(Path(csv_path), images_dir, format=format, columns=columns, max_photos=max_photos)
    report.catalog = catalog.report.as_dict()
    report.total = catalog.total_rows
    for problem in catalog.problems:  # rows without an id go to worker 0
        if part.owns(problem.product_id) if problem.product_id else part.index == 0:
            report.add_problem(problem)
    return catalog


def open_store(store: ProductStore, embedder, catalog: CatalogFile, recreate: bool) -> None:
    """The collection for this model, with the catalogue's fields, marked as being indexed."""
    # The catalogue's size picks the store's settings when it is created (int8, vectors on disk); every worker
    # of a --part run sizes it for the whole catalogue, its part plus the others'.
    fresh = recreate or store.meta() is None
    store.ensure(embedder.name, embedder.dim, recreate=recreate, expected_points=catalog.product_count)
    store.add_fields(catalog.report.schema)
    # Until this run stamps last_indexed, the index may differ from what it stamped last (an interrupted run
    # leaves this set): readers that trust the stamp (the map's freshness) must look closer meanwhile. A new
    # index holds only products written with their photo sizes: no catch-up will ever have anything to read.
    store.update_meta(indexing_since=time.time(), **({photo_sizes.PHOTO_SIZES_COMPLETE: True} if fresh else {}))


def _prepared(products: Iterable[Product], fetcher, relabel: Callable[[str, dict], bool] | None = None
              ) -> Iterator[Product]:
    """Each product with the audit's label changes applied, and the place its photo behind a URL will be cached:
    thumbnails and the product view read it from there (both are part of the stored attributes, so every pass
    must set them the same way)."""
    for product in products:
        if relabel and relabel(product.product_id, product.payload):
            product.text = product_text(product.payload)
        if product.image_url:
            product.payload[IMAGE_PATH] = str(fetcher.path_for(product.image_url)) if fetcher else ""
            if fetcher is None:
                product.image_problem = "photos behind URLs are not fetched by this caller (no image cache)"
        yield product


# -- plan --------------------------------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What a run must do, kept as product ids and counts so its memory does not grow with the catalogue's values:
    the products to embed, and what planning found (attribute-only changes are rewritten as they are found)."""

    existing: dict = field(default_factory=dict)   # product id -> (point id, fingerprint, payload hash), stored
    todo: set[str] = field(default_factory=set)    # product ids: new, or image / text / model changed
    seen: set[str] = field(default_factory=set)    # every product id of this run's share (what --prune keeps)
    payload_only: int = 0                          # attributes changed, vectors still valid: rewritten
    unchanged: int = 0
    other_parts: int = 0                           # products left to the other workers of a --part run
    has_urls: bool = False
    stale: set[str] = field(default_factory=set)   # product ids of todo whose hero / text vectors are redone (the
    # others keep theirs: only their photo rows change)
    rewritten: set[str] = field(default_factory=set)  # product ids whose attributes were rewritten while planning
    photos: PhotoPlan = field(default_factory=PhotoPlan)
    kept_text_only: list[tuple[int, str, str]] = field(default_factory=list)  # (row, product id, point) to list


def plan_workers(workers: int, fetcher) -> int:
    """Planning only looks photos behind URLs up in the cache, unless --refresh-images revalidates every one."""
    return max(workers, URL_WORKERS) if fetcher is not None and fetcher.refresh else workers


def make_plan(products: Iterable[Product], store: ProductStore, write: PointWriter, model: str, fetcher,
              max_pixels: int, workers: int, part: Part, report: IndexReport, photos: PhotoPlan | None = None) -> Plan:
    """The second pass: compare every product's fingerprint (image bytes, text, model) and attributes with what
    is stored, a chunk at a time; attribute-only changes are written (`write.rewrite`) as they are found. Products
    stored text-only that stay as they are count as text-only in the report (and are listed while it lists
    problems). The report gets the counts: updated, unchanged and other_parts.

    Photos: every product's photos are counted (a photo many products use is shared, left out of matching), and
    once all are, a product whose hero and text are unchanged but whose photo rows are not what they should be (a
    photo added or changed, one now shared, or none stored: an index made before products kept several) is
    scheduled too, keeping its hero and text vectors (not in plan.stale)."""
    plan = Plan(existing=store.fingerprints(), photos=photos or PhotoPlan())
    plan.photos.read_stored(store)
    refused_under = decode_settings(max_pixels)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in chunks(products, PLAN_CHUNK):
            mine = [p for p in chunk if part.owns(p.product_id)]
            plan.other_parts += len(chunk) - len(mine)
            digests = pool.map(lambda p: _digests(p, fetcher, plan.photos.max_photos), mine)
            changed: list[tuple[str, Product]] = []
            for product, (digest, refs, keys) in zip(mine, digests):
                plan.seen.add(product.product_id)
                plan.has_urls = plan.has_urls or bool(product.image_url)
                plan.photos.add(product, refs, keys)
                stored = plan.existing.get(product.product_id)
                if stored is None:
                    _schedule(plan, report, product.product_id, [NEW_PRODUCT])
                    plan.stale.add(product.product_id)
                    continue
                as_text_only = fingerprint(model, product.text, digest, refused_under)
                as_photo = fingerprint(model, product.text, digest)
                text_only = same_vectors(stored[1], as_text_only)
                if not (text_only or same_vectors(stored[1], as_photo)):
                    # compared with the kind it was stored as: a photo embedded keeps no decode settings
                    _schedule(plan, report, product.product_id,
                              changed_parts(stored[1], as_photo if embedded_with_photo(stored[1]) else as_text_only,
                                            digest))
                    plan.stale.add(product.product_id)
                    continue
                if text_only:
                    report.add_problem(None, text_only=True)
                    if len(report.failed) + len(plan.kept_text_only) < MAX_LISTED_PROBLEMS:
                        plan.kept_text_only.append((product.row, product.product_id, stored[0]))
                if stored[2] != payload_hash(product.payload):
                    changed.append((stored[0], product))
                    plan.rewritten.add(product.product_id)
                else:
                    plan.unchanged += 1
            write.rewrite(changed)
            plan.payload_only += len(changed)
    _schedule_photo_rows(plan, report)
    report.updated, report.unchanged, report.other_parts = plan.payload_only, plan.unchanged, plan.other_parts
    return plan


def _digests(product: Product, fetcher, max_photos: int) -> tuple[str, list[str], list[str]]:
    """The hero's digest as fingerprints take it, and the product's photos with what each is (photo_key); a local
    hero is read once for both."""
    digest = _image_digest(product, fetcher)
    refs = photo_refs(product, max_photos)
    keys = [digest if ref == hero_ref(product) and not product.image_url and SHA256.match(digest)
            else photo_key(ref, fetcher) for ref in refs]
    return digest, refs, keys


def _schedule_photo_rows(plan: Plan, report: IndexReport) -> None:
    """Once every product is counted (which photos are shared is known): the products whose hero and text hold but
    whose photo rows do not; they leave the unchanged (or attributes-only) count for the embedded one."""
    photos = plan.photos
    photos.settle()
    for product_id in photos.current:  # products with photos, in catalogue order
        reason = None if product_id in plan.todo else photos.outdated(product_id)
        if reason:
            _schedule(plan, report, product_id, [reason])
            if product_id in plan.rewritten:
                plan.payload_only -= 1
            else:
                plan.unchanged -= 1
    # planning's view of each product's photos is done with; the embed pass reads them again
    photos.current.clear(), photos.stored.clear(), photos.legacy.clear()
    plan.rewritten.clear()


def _photo_notes(plan: Plan, report: IndexReport) -> None:
    """The report's lines about photos: shared ones, and products of an older index given every photo."""
    shared = plan.photos.notes()  # one line per shared photo (a URL is counted under its address and its bytes)
    report.photo_counts["shared"] = len(shared)
    report.notes.extend(shared)
    if report.photo_counts["upgraded"]:
        report.notes.append(f"added every photo's vector to {report.photo_counts['upgraded']} products indexed before "
                            "products kept several photos; no unchanged photo was fetched again")
    if report.photo_counts["failed"]:
        report.notes.append(f"{report.photo_counts['failed']} photos (beyond each product's main photo) could not be used; "
                            "their products are indexed with the others (photo_problems lists them)")


def _image_digest(product: Product, fetcher) -> str:
    """What a product's photo is, as planning sees it: the sha256 of its bytes, or why there are none."""
    if product.image_url:
        # A cached photo stands for its URL; an uncached one (new, or failed last time) must be fetched.
        if fetcher is not None and fetcher.refresh:
            try:  # revalidated now (ETag / Last-Modified): a photo changed behind the same URL is embedded again
                return hashlib.sha256(fetcher.fetch(product.image_url)).hexdigest()
            except ImageRejected:
                pass  # the server failed: keep the cached photo rather than lose it
        digest = fetcher.cached(product.image_url) if fetcher else None
        return digest or f"uncached:{product.image_url}"
    if product.image_file is None:
        return missing_digest(product)
    try:
        return hashlib.sha256(read_image_bytes(product.image_file)).hexdigest()
    except ImageRejected as exc:
        return f"unreadable:{exc}"


def _schedule(plan: Plan, report: IndexReport, product_id: str, reasons: list[str]) -> None:
    """A product to embed, and why (a repeated id is embedded, and counted, once)."""
    if product_id not in plan.todo:
        plan.todo.add(product_id)
        report.add_reembedded(product_id, reasons)


def _list_stored_text_only(plan: Plan, store: ProductStore, report: IndexReport) -> None:
    """Kept products keep their stored image problem, so every run lists the same text-only rows (counted in
    planning; their reasons are read here, only for the ones the report lists)."""
    for chunk in chunks(plan.kept_text_only, PLAN_CHUNK):
        reasons = {h.id: h.payload.get(IMAGE_PROBLEM, "") for h in store.retrieve([point for *_, point in chunk])}
        for row, product_id, point in chunk:
            if len(report.failed) < MAX_LISTED_PROBLEMS:  # counted already, in make_plan
                report.failed.append(RowProblem(row, product_id, f"indexed text-only: {reasons.get(point, '')}",
                                                ProblemKind.TEXT_ONLY))


# -- embed (core.index.embed_stage) ------------------------------------------------------------------------------------

def _count_embedded(batch: EmbeddedBatch, report: IndexReport, clock: StageClock) -> None:
    """A batch's text-only products and photo counts into the report, and the embed stage's parts (text tower,
    decoding) so far."""
    for problem in batch.text_only:
        report.add_problem(problem, text_only=True)
    report.photo_counts["embedded"] += batch.photos_embedded
    report.photo_counts["kept"] += batch.photos_kept
    report.photo_counts["failed"] += batch.photos_failed
    report.photo_counts["upgraded"] += len(batch.upgraded)
    clock.note(EMBED_TEXT, batch.text_seconds)
    clock.note(DECODE_THREADS, batch.decode_seconds)


# -- write -------------------------------------------------------------------------------------------------------------

class PointWriter:
    """The writer: points to the store as each batch is embedded (called), attribute-only changes as planning
    finds them (rewrite), keyword vectors of products that lack them (keywords), and flush() at the end; each
    timed as the write stage. Every point and payload it writes has its words tokenised first (the keyword stage,
    timed as its own)."""

    def __init__(self, store: ProductStore, clock: StageClock):
        self.store, self.clock = store, clock

    def __call__(self, points: list[StoredPoint]) -> None:
        with self.clock(KEYWORDS):
            add_keywords(points)
        with self.clock(WRITE):
            self.store.upsert(points)

    def rewrite(self, changed: list[tuple[str, Product]]) -> None:
        """New attributes for products whose vectors are still valid; each keeps its text-only status and reason,
        and its photo's colour statistics (the photo is unchanged, so they still hold). Their words are tokenised
        again: new terms and lookup keys in the payload, a new keyword vector beside the kept ones."""
        if not changed:
            return
        with self.clock(WRITE):
            stored = {h.id: h.payload for h in self.store.retrieve([point for point, _ in changed])}
            payloads = {}
            for point, product in changed:
                old = stored.get(point, {})
                payloads[point] = dict(product.payload, **{PRODUCT_ID: product.product_id,
                                                           PAYLOAD_HASH: payload_hash(product.payload)},
                                       **{k: old[k] for k in VECTOR_KEYS if k in old})
        with self.clock(KEYWORDS):
            vectors = keyword_updates(payloads, stored)
        with self.clock(WRITE):
            # The vectors first, as the catch-up writes them: a run stopped between the two leaves a product with its
            # old payload hash, which the next run rewrites; payloads first would leave new words over an old vector
            # that no later run would see (the hash matches, the words are there, check_keywords counts it done).
            self.store.update_vectors(vectors)
            for point, payload in payloads.items():
                self.store.overwrite_payload(point, payload)

    def keywords(self, vectors: dict[str, dict], payloads: dict[str, dict]) -> None:
        """Keyword vectors and keyword payload keys for stored products, each keeping its other vectors and values."""
        with self.clock(WRITE):
            self.store.update_vectors(vectors)
            self.store.set_payload(payloads)

    def flush(self) -> None:
        """A server applies wait=false writes behind the run: writing ends when all of them are applied."""
        with self.clock(WRITE):
            self.store.flush()


# -- keywords: an older index catching up --------------------------------------------------------------------------

def add_missing_keywords(store: ProductStore, write: PointWriter, part: Part, report: IndexReport, clock: StageClock,
                         stage: Stage) -> None:
    """An index made before the keyword index (keywords_complete false after ensure(), or an earlier run of this
    kind interrupted): the stored products still without keywords get them from their stored values, a page at a
    time, and the report says so. Only this run's part of them (a --part worker); no photo is fetched, decoded or
    embedded for them. After this run's writes and pruning, so nothing written or deleted now is tokenised twice."""
    if store.keywords_complete:
        return
    stage(KEYWORDS)
    write.flush()  # a server applies writes behind the run: what this run wrote is read as written
    with clock(KEYWORDS):
        for page in lacking_keywords(store):
            mine = [hit for hit in page if part.owns(hit.payload.get(PRODUCT_ID, ""))]
            if mine:
                write.keywords(*caught_up(mine))
                report.keywords_added += len(mine)
    if report.keywords_added:
        report.notes.append(f"keyword index: added to {report.keywords_added:,} products (no photo re-embedded)")


# -- photo sizes: an older index catching up ----------------------------------------------------------------------

def add_missing_photo_sizes(store: ProductStore, write: PointWriter, part: Part, report: IndexReport,
                            clock: StageClock, fetcher, max_pixels: int) -> None:
    """An index made before photo sizes were stored (no photo_sizes_complete flag, or an earlier run of this kind
    interrupted): the stored products still without PHOTO_SIZES get them from their photos' headers, a page at a
    time (only this run's part of them); no pixel is decoded and nothing is embedded. The flag is set once none
    lacks them, so a later run costs one metadata read. Timed as writing: it is header reads and payload writes."""
    if (store.meta() or {}).get(photo_sizes.PHOTO_SIZES_COMPLETE):
        return
    write.flush()  # a server applies writes behind the run: what this run wrote is read as written
    with clock(WRITE):
        for page in photo_sizes.lacking_sizes(store):
            mine = [hit for hit in page if part.owns(hit.payload.get(PRODUCT_ID, ""))]
            if mine:
                store.set_payload(photo_sizes.caught_up(mine, fetcher, max_pixels))
                report.photo_sizes_added += len(mine)
        if report.photo_sizes_added:
            store.flush()  # counted as written
        if store.count(photo_sizes.lacking_filter()) == 0:
            store.update_meta(**{photo_sizes.PHOTO_SIZES_COMPLETE: True})
    if report.photo_sizes_added:
        report.notes.append(f"photo sizes: added to {report.photo_sizes_added:,} products (no photo decoded)")


# -- prune -------------------------------------------------------------------------------------------------------------

def prune_missing(problems: list[RowProblem], plan: Plan, store: ProductStore, report: IndexReport) -> None:
    """Delete stored products the catalogue no longer has, unless unreadable rows may be hiding some. Whether a
    problem may hide products is its kind's to say (ProblemKind.may_hide_products), never its reason's words."""
    unreadable = [p for p in problems if p.kind.may_hide_products]
    if unreadable or not plan.seen:
        # A stray quote can swallow the rest of the file into one bad row: pruning then would delete
        # products that are still in the catalogue. Losing nothing matters more than tidiness.
        report.warnings.append(f"--prune skipped: {len(unreadable)} row(s) could not be read, so the CSV may "
                               "hide products that still exist; fix those rows and run again")
        return
    keep = plan.seen | {p.product_id for p in problems}
    stale = [pid for product_id, (pid, *_) in plan.existing.items() if product_id not in keep]
    store.delete(stale)
    report.pruned = len(stale)


# -- publish -----------------------------------------------------------------------------------------------------------

def publish(store: ProductStore, csv_path: Path, embedder, report: IndexReport, clock: StageClock) -> None:
    """Stamp the run as finished (when, from which catalogue, with which runtime), then publish: a consistent copy
    for read-only commands in other processes (only the copy is timed as the publish stage)."""
    now = time.time()
    store.update_meta(last_indexed=now, indexing_since=None, catalog=str(Path(csv_path).resolve()),
                      **runtime_meta(embedder, store, report.indexed), **content_meta(store, report, now))
    store.check_multi_photo()  # searches match on every photo once no product lacks its rows
    if not store.check_keywords():  # searches say the keyword index is incomplete while a product lacks its vector
        report.notes.append("keyword index: incomplete, some products still lack their keyword vector (another "
                            "worker's part, or written by something other than this indexer); the next run adds them")
    with clock(PUBLISH):
        store.publish()


def content_meta(store: ProductStore, report: IndexReport, now: float) -> dict:
    """`content_version`: when a run last changed what the index holds (points or payloads written or deleted),
    unlike last_indexed, which every run moves. What is computed from the stored products alone (the health
    check's near-duplicates and label audit) is keyed on it, so re-indexing an unchanged catalogue recomputes
    nothing. A new collection (or one made before the stamp) gets it on its first run."""
    changed = (report.indexed + report.updated + report.pruned + report.keywords_added
               + report.photo_sizes_added)
    if changed or (store.meta() or {}).get(CONTENT_VERSION) is None:
        return {CONTENT_VERSION: now}
    return {}


def content_version(meta: dict) -> float | None:
    """When the stored products last changed by indexing (content_meta), or last_indexed for an index stamped
    before content_version existed: what caches computed from the stored products alone are keyed on."""
    stamp = meta.get(CONTENT_VERSION)
    return meta.get("last_indexed") if stamp is None else stamp


def runtime_meta(embedder, store: ProductStore, written: int) -> dict:
    """The metadata of the runtime that wrote this run's vectors: `runtime` (the last writer), its note (why it is
    not what was asked for) and `runtimes` (every runtime whose vectors the index holds). Nothing when no vector
    was written, or for a stand-in embedder whose runtime is empty."""
    if not embedder.runtime or not written:
        return {}
    before = (store.meta() or {}).get("runtimes", [])
    return {"runtime": embedder.runtime, "runtime_note": embedder.runtime_note,
            "runtimes": sorted({*before, embedder.runtime})}
