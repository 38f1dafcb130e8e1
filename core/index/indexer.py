"""Indexing pipeline: read catalogue -> skip unchanged (fingerprints) -> embed batches -> write to the store."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from core.common.config import MAX_PIXELS
from core.common.iterables import chunks
from core.ingest.catalog import CatalogFile, Product, RowProblem, check_inputs, product_text
from core.ingest.formats import ProblemKind
from core.common.errors import CatalogError, ImageRejected
from core.ingest.fetch import download_in_arrival_order
from core.ingest.images import MAX_ASPECT, MIN_SIDE_PX, decode_image, read_image_bytes
from core.ingest.colour_stats import foreground_colours
from core.common.fields import COLOUR_STATS, FINGERPRINT, IMAGE_PATH, IMAGE_PROBLEM, PAYLOAD_HASH, PRODUCT_ID, TEXT_ONLY
from core.index.store import ProductStore, StoredPoint, point_id

Progress = Callable[[int, int], None]
Stage = Callable[[str], None]  # told each stage's name (READ, PLAN, EMBED, PRUNE, PUBLISH) as it starts
READ, PLAN, EMBED, PRUNE, PUBLISH = "read", "plan", "embed", "prune", "publish"
# The report's stages that follow one another, with the callers' steps before the run (a photos zip, the model);
# embed_text and decode_threads are parts of embed, not stages of their own.
WALL_STAGES = ("zip", "model", READ, PLAN, EMBED, "write", PRUNE, PUBLISH)
MAX_LISTED_PROBLEMS = 1000  # problems listed by name in a report; the rest are counted
MAX_LISTED_REEMBEDDED = 100  # products re-embedded listed by name with their reasons; the rest are counted by reason
PLAN_CHUNK = 2000           # products compared with the store at a time (their photos hashed in parallel)


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
                "reembedded_not_listed": self.to_embed - len(self.reembedded)}


def fingerprint(model: str, text: str, image_digest: str, refused_under: str = "") -> str:
    """'<whole>:<parts>'. The whole changes when the image bytes, the product text or the model change (or, for a
    product indexed text-only, the decode settings it was refused under): when the vectors must be redone. The
    parts, a short hash of each input, only say which of them changed (see changed_parts); a fingerprint stored
    before they were kept is the whole alone, and still matches."""
    image_key = f"{image_digest}|{refused_under}" if refused_under else image_digest
    whole = hashlib.sha256(f"{model}\0{text}\0{image_key}".encode()).hexdigest()[:32]
    return f"{whole}:{_part(model)}{_part(text)}{_image_part(image_digest)}{_part(refused_under)}"


PART_CHARS = 6  # hex characters per input in a fingerprint's parts


def _part(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:PART_CHARS]


# A photo's part starts with a letter that is not hex when there was no photo to embed, so that the next run can
# tell a photo added from a photo changed (a part stored before these letters reads as a photo).
NO_PHOTO_STATES = {"missing": "m", "uncached": "n", "unfetched": "n", "unreadable": "r"}


def _no_photo_state(image_digest: str) -> str | None:
    return NO_PHOTO_STATES.get(image_digest.partition(":")[0]) if ":" in image_digest else None


def _image_part(image_digest: str) -> str:
    state = _no_photo_state(image_digest)
    return state + _part(image_digest)[1:] if state else _part(image_digest)


def same_vectors(stored: str, current: str) -> bool:
    """Whether a stored fingerprint stands for the same vectors as the current one (their wholes agree)."""
    return stored.partition(":")[0] == current.partition(":")[0]


# Why a product is embedded again; a product changed in two ways has both reasons.
NEW_PRODUCT = "new product"
PHOTO_CHANGED = "photo changed"
PHOTO_ADDED = "photo added"                      # a product indexed without a photo has one now
PHOTO_MISSING = "photo missing"                  # a product's photo is gone (or cannot be chosen): its text only
PHOTO_NOT_FETCHED = "photo not fetched before"   # a new URL, or one whose fetch failed last time: tried now
PHOTO_NOT_CACHED = "photo fetched again (no longer in the image cache)"
TEXT_CHANGED = "text changed"
MODEL_CHANGED = "setting changed: model"
LIMITS_CHANGED = "setting changed: photo limits (LENS_MAX_PIXELS)"  # a text-only product's photo is tried again
UNKNOWN_CHANGE = "changed (indexed before reasons were kept)"


def changed_parts(stored: str, current: str, image_digest: str) -> list[str]:
    """The reasons a stored fingerprint differs from the current one, from their parts (current's image_digest
    tells a photo not fetched yet from one that changed)."""
    old, new = stored.partition(":")[2], current.partition(":")[2]
    if len(old) != len(new):
        return [UNKNOWN_CHANGE]
    model, text, image, limits = (old[i:i + PART_CHARS] != new[i:i + PART_CHARS]
                                  for i in range(0, len(new), PART_CHARS))
    reasons = [MODEL_CHANGED] * model + [TEXT_CHANGED] * text
    if image:
        reasons.append(_photo_reason(old[2 * PART_CHARS], image_digest, had_photo=old[3 * PART_CHARS:] == _part("")))
    elif limits:
        reasons.append(LIMITS_CHANGED)
    return reasons or [UNKNOWN_CHANGE]


def _photo_reason(old_state: str, image_digest: str, had_photo: bool) -> str:
    """Why a product's photo part changed: old_state is the stored part's first character (a NO_PHOTO_STATES
    letter, or hex for a photo), had_photo whether the product was stored with its photo embedded."""
    new_state = _no_photo_state(image_digest)
    if new_state == "m":
        return PHOTO_MISSING
    if new_state == "n":  # a URL not in the image cache: one embedded before was cleared from it
        return PHOTO_NOT_CACHED if had_photo else PHOTO_NOT_FETCHED
    if old_state == "m":
        return PHOTO_ADDED
    if old_state == "n":
        return PHOTO_NOT_FETCHED
    return PHOTO_CHANGED


def decode_settings(max_pixels: int) -> str:
    """The settings that decide whether a photo is refused: part of a text-only product's fingerprint, so
    raising LENS_MAX_PIXELS (or a change of the shape limits) retries the photos it refused."""
    return f"decode:{max_pixels}:{MIN_SIDE_PX}:{MAX_ASPECT:g}"


def payload_hash(payload: dict) -> str:
    """Changes when any stored attribute changes (price, image URL, folder...), even if the vectors do not."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


URL_WORKERS = 16  # threads downloading photos behind URLs (waiting on the network); they never decode


def missing_digest(product: Product) -> str:
    """A missing photo's digest: from the catalogue's stable kind of absence (what was looked for), never from
    the message, which named every id claiming the same photo: one more such id embedded all the others again."""
    return f"missing:{product.image_missing or ''}"


def _image_digest(product: Product, fetcher) -> str:
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


def _rewrite_payloads(store: ProductStore, changed: list[tuple[str, Product]]) -> None:
    """New attributes for products whose vectors are still valid; each keeps its text-only status and reason, and
    its photo's colour statistics (the photo is unchanged, so they still hold)."""
    if not changed:
        return
    stored = {h.id: h.payload for h in store.retrieve([point for point, _ in changed])}
    for point, product in changed:
        old = stored.get(point, {})
        payload = dict(product.payload, **{PRODUCT_ID: product.product_id,
                                           PAYLOAD_HASH: payload_hash(product.payload)},
                       **{k: old[k] for k in (FINGERPRINT, TEXT_ONLY, IMAGE_PROBLEM, COLOUR_STATS) if k in old})
        store.overwrite_payload(point, payload)


class _Job:
    """A product on its way through the pipeline; the loader fills in what it learnt from the bytes."""

    def __init__(self, product: Product):
        self.product = product
        self.image_digest = ""
        self.colour_stats: list | None = None  # the photo's dominant colours, made while it is decoded anyway
        self.data: bytes | None = None         # a downloaded photo the image cache could not keep
        self.download_problem = ""             # why its photo behind a URL could not be downloaded


def _downloaded(jobs: Iterable[_Job], fetcher) -> Iterator[_Job]:
    """Jobs with their photos behind URLs downloaded into the cache, URL_WORKERS at a time, in the order the
    downloads end: a stalled server holds back only its own product. Decoding stays in the decode pool, so the
    decoded pixels in memory are bounded the same whether photos come from files or from URLs."""
    for job, data, problem in download_in_arrival_order(jobs, lambda j: j.product.image_url, fetcher, URL_WORKERS):
        job.data, job.download_problem = data, problem or ""
        yield job


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
    write_s: float = 0.0                           # time spent rewriting attributes (the write stage)
    kept_text_only: list[tuple[int, str, str]] = field(default_factory=list)  # (row, product id, point) to list


def index_catalog(csv_path: Path, images_dir: Path | None, embedder, store: ProductStore, *,
                  batch_size: int = 32, recreate: bool = False, prune: bool = False,
                  max_pixels: int = MAX_PIXELS, progress: Progress | None = None,
                  workers: int | None = None, format: str = "auto", columns: dict | None = None,
                  fetcher=None, part: Part = Part(), relabel: Callable[[str, dict], bool] | None = None,
                  stage: Stage | None = None) -> IndexReport:
    """Index a catalogue incrementally; safe to interrupt and re-run (each batch is written as it completes).

    Stages, each timed in the report: read (a first streaming pass: layout, schema, row problems), plan (a second
    pass comparing fingerprints with the store: new, changed, payload-only, unchanged), embed (a third pass, only
    when something must be embedded, in batches of points), write, prune, publish. The catalogue is never held
    whole: memory grows with product ids and stored fingerprints, not with the catalogue's values. Photos behind
    http(s) URLs are fetched by `fetcher` (core.ingest.fetch.ImageFetcher) in the same streaming pipeline as decoding,
    and cached, so a re-run fetches nothing it already has. With a part, this run indexes only that part.
    relabel(product_id, payload) is a hook the caller gives (the audit's label changes:
    core.insights.audit_decisions.AuditDecisions.relabeller()); it changes a product's values as they are read and
    says whether it did, so a fixed label survives every re-index until the source is fixed.
    stage is told each stage's name before it starts, so a caller can say what is going on before the first
    product is embedded; progress then counts the products embedded.
    """
    started = time.perf_counter()
    stage = stage or (lambda name: None)
    report = IndexReport(runtime=getattr(embedder, "runtime", ""))
    workers = workers or decode_workers(getattr(embedder, "device", "cpu"))
    check_inputs(csv_path, images_dir)
    refuse_partial(prune, recreate, part)

    stage(READ)
    t = time.perf_counter()
    catalog = CatalogFile(Path(csv_path), images_dir, format=format, columns=columns)
    report.catalog = catalog.report.as_dict()
    report.total = catalog.total_rows
    for problem in catalog.problems:  # rows without an id go to worker 0
        if part.owns(problem.product_id) if problem.product_id else part.index == 0:
            report.add_problem(problem)
    report.stages["read"] = time.perf_counter() - t

    # The catalogue's size picks the store's settings when it is created (int8, vectors on disk); every worker
    # of a --part run sizes it for the whole catalogue, its part plus the others'.
    store.ensure(embedder.name, embedder.dim, recreate=recreate, expected_points=catalog.product_count)
    store.add_fields(catalog.report.schema)
    # Until this run stamps last_indexed, the index may differ from what it stamped last (an interrupted run
    # leaves this set): readers that trust the stamp (the map's freshness) must look closer meanwhile.
    store.update_meta(indexing_since=time.time())

    stage(PLAN)
    t = time.perf_counter()
    # Planning only looks photos behind URLs up in the cache, unless --refresh-images revalidates every one.
    plan_workers = max(workers, URL_WORKERS) if fetcher is not None and fetcher.refresh else workers
    plan = make_plan(_prepared(catalog.products(), fetcher, relabel), store, embedder.name, fetcher, max_pixels,
                     plan_workers, part, report)
    report.stages["plan"] = time.perf_counter() - t - plan.write_s
    report.updated, report.unchanged, report.other_parts = plan.payload_only, plan.unchanged, plan.other_parts
    _list_stored_text_only(plan, store, report)

    write_s, embed_s = plan.write_s, 0.0
    stage(EMBED)
    if progress:
        progress(0, len(plan.todo))
    if plan.todo:
        todo = (p for p in _prepared(catalog.products(), fetcher, relabel) if p.product_id in plan.todo)
        t = time.perf_counter()
        for points in embed_points(todo, embedder, fetcher, max_pixels, batch_size, workers, report):
            now = time.perf_counter()
            embed_s += now - t
            store.upsert(points)
            t = time.perf_counter()
            write_s += t - now
            report.indexed += len(points)
            if progress:
                progress(report.indexed, len(plan.todo))
    report.stages["embed"] = embed_s
    report.stages["write"] = write_s

    t = time.perf_counter()
    if prune:
        stage(PRUNE)
        prune_missing(catalog.problems, plan, store, report)
    report.stages["prune"] = time.perf_counter() - t
    t = time.perf_counter()
    store.flush()  # a server applies wait=false writes behind the run: writing ends when all of them are applied
    report.stages["write"] += time.perf_counter() - t

    stage(PUBLISH)
    store.update_meta(last_indexed=time.time(), indexing_since=None, catalog=str(Path(csv_path).resolve()),
                      **runtime_meta(embedder, store, report.indexed))
    t = time.perf_counter()
    store.publish()  # a consistent copy for read-only commands in other processes
    report.stages["publish"] = time.perf_counter() - t
    report.failed.sort(key=lambda p: p.row)
    report.seconds = time.perf_counter() - started
    return report


def decode_workers(device: str, cores: int | None = None) -> int:
    """Loader threads that read and decode photos. On a CPU the model needs the cores, so at most 4; on a GPU
    the model is fast enough that decoding sets the pace, so every core this process may use decodes."""
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
    return max(1, cores if device != "cpu" else min(4, cores))


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


def runtime_meta(embedder, store: ProductStore, written: int) -> dict:
    """The metadata of the runtime that wrote this run's vectors: `runtime` (the last writer), its note (why it is
    not what was asked for) and `runtimes` (every runtime whose vectors the index holds). Nothing when no vector
    was written, or for a stand-in embedder without a runtime."""
    runtime = getattr(embedder, "runtime", None)
    if not runtime or not written:
        return {}
    before = (store.meta() or {}).get("runtimes", [])
    return {"runtime": runtime, "runtime_note": getattr(embedder, "runtime_note", ""),
            "runtimes": sorted({*before, runtime})}


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


def make_plan(products: Iterable[Product], store: ProductStore, model: str, fetcher, max_pixels: int,
              workers: int, part: Part = Part(), report: IndexReport | None = None) -> Plan:
    """Compare every product's fingerprint (image bytes, text, model) and attributes with what is stored, a chunk
    at a time; attribute-only changes are rewritten as they are found. Products stored text-only that stay as
    they are count as text-only in the report (and are listed while it lists problems)."""
    report = report if report is not None else IndexReport()
    plan = Plan(existing=store.fingerprints())
    refused_under = decode_settings(max_pixels)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in chunks(products, PLAN_CHUNK):
            mine = [p for p in chunk if part.owns(p.product_id)]
            plan.other_parts += len(chunk) - len(mine)
            digests = pool.map(lambda p: _image_digest(p, fetcher), mine)
            changed: list[tuple[str, Product]] = []
            for product, digest in zip(mine, digests):
                plan.seen.add(product.product_id)
                plan.has_urls = plan.has_urls or bool(product.image_url)
                stored = plan.existing.get(product.product_id)
                if stored is None:
                    _schedule(plan, report, product.product_id, [NEW_PRODUCT])
                    continue
                as_text_only = fingerprint(model, product.text, digest, refused_under)
                as_photo = fingerprint(model, product.text, digest)
                text_only = same_vectors(stored[1], as_text_only)
                if not (text_only or same_vectors(stored[1], as_photo)):
                    # compared with the kind it was stored as: a photo embedded keeps no decode settings
                    kept_photo = stored[1].endswith(_part(""))
                    _schedule(plan, report, product.product_id,
                              changed_parts(stored[1], as_photo if kept_photo else as_text_only, digest))
                    continue
                if text_only:
                    report.add_problem(None, text_only=True)
                    if len(report.failed) + len(plan.kept_text_only) < MAX_LISTED_PROBLEMS:
                        plan.kept_text_only.append((product.row, product.product_id, stored[0]))
                if stored[2] != payload_hash(product.payload):
                    changed.append((stored[0], product))
                else:
                    plan.unchanged += 1
            t = time.perf_counter()
            _rewrite_payloads(store, changed)
            plan.write_s += time.perf_counter() - t
            plan.payload_only += len(changed)
    return plan


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


def embed_points(products: list[Product], embedder, fetcher, max_pixels: int, batch_size: int, workers: int,
                 report: IndexReport):
    """Batches of points ready to write: photos read or fetched and decoded in worker threads, then both towers."""
    refused_under = decode_settings(max_pixels)
    decoding, decode_lock = [0.0], threading.Lock()  # loader thread-seconds, reported as decode_threads

    def load(job: _Job):
        started = time.perf_counter()
        try:
            return _load(job)
        finally:
            with decode_lock:
                decoding[0] += time.perf_counter() - started

    def _load(job: _Job):
        product = job.product
        if product.image_url and fetcher is not None:
            try:
                if job.download_problem:
                    raise ImageRejected(job.download_problem)
                data, job.data = job.data or fetcher.fetch(product.image_url), None  # fetch: from the cache
            except ImageRejected as exc:
                job.image_digest = f"unfetched:{product.image_url}"  # never equals a cached digest: retried next run
                raise ImageRejected(f"photo URL failed: {exc}") from None
        elif product.image_file is None:
            job.image_digest = missing_digest(product)
            raise ImageRejected(product.image_problem or "no image")
        else:
            try:
                data = read_image_bytes(product.image_file)
            except ImageRejected as exc:
                job.image_digest = f"unreadable:{exc}"
                raise
        job.image_digest = hashlib.sha256(data).hexdigest()
        image = decode_image(data, max_pixels, draft_size=embedder.image_size)
        try:  # here, so the audit never decodes a photo again (~1 ms)
            job.colour_stats = foreground_colours(image)
        except Exception:  # evidence for the audit, never a reason to refuse a product the model can embed
            job.colour_stats = None
        return image

    jobs = (_Job(p) for p in products)
    if fetcher is not None:
        jobs = _downloaded(jobs, fetcher)
    for batch in embedder.stream_images(jobs, load, batch_size=batch_size, workers=workers):
        pairs = list(zip(batch.items, batch.vectors)) + [(job, None) for job, _ in batch.rejected]
        rejected = dict(batch.rejected)
        t = time.perf_counter()
        text_vectors = embedder.encode_texts([job.product.text for job, _ in pairs], batch_size=batch_size)
        report.stages["embed_text"] = report.stages.get("embed_text", 0.0) + time.perf_counter() - t
        report.stages["decode_threads"] = decoding[0]
        points = []
        for (job, image_vector), text_vector in zip(pairs, text_vectors):
            product = job.product
            refused = refused_under if image_vector is None else ""  # a text-only product: retried when they change
            payload = dict(product.payload, **{PRODUCT_ID: product.product_id,
                                               FINGERPRINT: fingerprint(embedder.name, product.text,
                                                                        job.image_digest, refused),
                                               PAYLOAD_HASH: payload_hash(product.payload),
                                               TEXT_ONLY: image_vector is None})
            vectors = {"text": text_vector}
            if image_vector is None:
                reason = rejected.get(job, "no image")
                payload[IMAGE_PROBLEM] = reason
                report.add_problem(RowProblem(product.row, product.product_id, f"indexed text-only: {reason}",
                                              ProblemKind.TEXT_ONLY),
                                   text_only=True)
            else:
                vectors["image"] = image_vector
                payload[COLOUR_STATS] = job.colour_stats
            points.append(StoredPoint(point_id(product.product_id), vectors, payload))
        yield points


def prune_missing(problems: list[RowProblem], plan: Plan, store: ProductStore, report: IndexReport) -> None:
    """Delete stored products the catalogue no longer has, unless unreadable rows may be hiding some."""
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
