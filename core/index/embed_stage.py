"""The embed stage (the mapper): products in, batches of points out, each of a product's photos read or fetched
and decoded in loader threads, then both towers; a product whose hero cannot be used is embedded by its text (and
its other photos), and a product whose hero and text are unchanged keeps their vectors and every unchanged row.
Each photo decoded leaves its own pixel size (PHOTO_SIZES); a kept row keeps the size stored with it."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from core.common.errors import ImageRejected
from core.common.fields import (COLOUR_STATS, FINGERPRINT, IMAGE_PROBLEM, MATCHED_PHOTOS, PAYLOAD_HASH, PHOTO_COLOURS,
                                PHOTO_DIGESTS, PHOTO_PROBLEMS, PHOTO_SIZES, PHOTO_VECTORS, PRODUCT_ID, SHARED_PHOTOS,
                                TEXT_ONLY)
from core.common.iterables import chunks
from core.index.fingerprints import decode_settings, fingerprint, missing_digest, payload_hash
from core.index.photo_sizes import StoredSizes
from core.index.photos import SHA256, PhotoPlan, hero_ref, is_url, matched, photo_key, photo_refs, shared_refs
from core.index.store import Hit, StoredPoint, point_id
from core.ingest.catalog import Product, RowProblem
from core.ingest.colour_stats import foreground_colours
from core.ingest.fetch import download_in_arrival_order
from core.ingest.formats import ProblemKind
from core.ingest.images import decode_image, read_image_bytes, source_size

URL_WORKERS = 16  # threads downloading photos behind URLs (waiting on the network); they never decode


def decode_workers(device: str, cores: int | None = None) -> int:
    """Loader threads that read and decode photos. On a CPU the model needs the cores, so at most 4; on a GPU
    the model is fast enough that decoding sets the pace, so every core this process may use decodes."""
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
    return max(1, cores if device != "cpu" else min(4, cores))


class _Job:
    """One photo on its way through the pipeline: a product's hero (whose vector is the 'image' vector), another of
    its photos (a row of its photos multivector), or nothing (a product whose rows are all kept: it still passes
    through, so the pipeline stays bounded); the loader fills in what it learnt from the bytes."""

    HERO, PHOTO, NOTHING = "hero", "photo", "nothing"

    def __init__(self, work: "_Work", kind: str, ref: str = ""):
        self.work, self.kind, self.ref = work, kind, ref
        self.url = (work.product.image_url or "") if kind == self.HERO else ref if is_url(ref) else ""
        self.image_digest = ""
        self.colour_stats: list | None = None  # the photo's dominant colours, made while it is decoded anyway
        self.size: tuple[int, int] | None = None  # the photo's own pixel size, read while it is decoded anyway
        self.data: bytes | None = None         # a downloaded photo the image cache could not keep
        self.download_problem = ""             # why its photo behind a URL could not be downloaded

    @property
    def product(self) -> Product:
        return self.work.product


@dataclass
class _Row:
    """One row of a product's photos multivector: its vector, the sha256 of its bytes, its colour statistics, its
    photo's pixel size (None: not known, a row kept from an index made before sizes were stored)."""

    vector: object
    digest: str
    colours: list | None
    size: tuple | None = None


class _Work:
    """A product in the embed pass: whether its hero and text vectors are redone (stale) or kept, what it has
    stored, which of its photos are matched, and the photos still on their way."""

    def __init__(self, product: Product, stale: bool, stored: Hit | None, refs: list[str], keys: list[str],
                 shared: set):
        self.product, self.stale, self.stored = product, stale, stored
        self.refs, self.keys = refs, keys
        self.matched = matched(refs, keys, shared)
        self.shared = shared_refs(refs, keys, shared)
        self.hero = hero_ref(product)
        self.rows: dict[int, _Row] = {}
        self.problems: dict[str, str] = dict(getattr(product, "photo_problems", None) or {})
        self.image_vector = None
        self.image_problem = ""
        self.hero_job: _Job | None = None
        self.hero_size: tuple | None = None  # the hero's pixel size: decoded now, or kept with its vector
        self.sizes_known = True  # False when a kept photo's size was never stored (an index made before sizes)
        self.pending = 0
        self.embedded = self.kept = 0

    def jobs(self) -> list[_Job]:
        """The photos to load and embed; rows the store holds for the same bytes are kept as they are."""
        stored_vectors = self.stored.vectors if self.stored is not None else {}
        stored_payload = self.stored.payload if self.stored is not None else {}
        digests, vectors = stored_payload.get(PHOTO_DIGESTS) or [], stored_vectors.get(PHOTO_VECTORS) or []
        colours = list(stored_payload.get(PHOTO_COLOURS) or []) + [None] * len(digests)
        sizes = StoredSizes(stored_payload)
        stored_rows = {}
        for digest, vector, stats in zip(digests, vectors, colours):
            stored_rows.setdefault(digest, _Row(vector, digest, stats, sizes.of_digest(digest)))
        jobs = []
        if not self.stale and self.hero and not stored_payload.get(TEXT_ONLY):
            # the hero's vector is kept: so is its size (under its reference, or its bytes' under a new reference)
            hero_key = self.keys[self.refs.index(self.hero)] if self.hero in self.refs else ""
            self.hero_size = sizes.of(self.hero, hero_key)
            self.sizes_known = self.hero_size is not None
        if self.stale:
            self.hero_job = _Job(self, _Job.HERO, self.hero)
            jobs.append(self.hero_job)
        for i in self.matched:
            ref, key = self.refs[i], self.keys[i]
            if self.stale and ref == self.hero and self.hero:
                continue  # its row is the hero's vector, made by the hero's job
            if key in stored_rows:
                self.rows[i] = stored_rows[key]
            elif not self.stale and ref == self.hero and SHA256.match(key) and "image" in stored_vectors:
                # stored before the multivector: the hero's kept 'image' vector is this photo's row (its
                # fingerprint, which holds the hero's digest, is unchanged), so it is not fetched again
                self.rows[i] = _Row(stored_vectors["image"], key, stored_payload.get(COLOUR_STATS), self.hero_size)
            else:
                jobs.append(_Job(self, _Job.PHOTO, ref))
                continue
            self.sizes_known = self.sizes_known and self.rows[i].size is not None
            self.kept += 1
        if not jobs:
            jobs.append(_Job(self, _Job.NOTHING))
        self.pending = len(jobs)
        return jobs

    def done(self, job: _Job, vector, problem: str | None) -> bool:
        """A job's result; True once the product has every photo it waits for."""
        if job.kind == _Job.HERO:
            self.image_vector, self.image_problem = vector, problem or ""
            self.embedded += vector is not None
            self.hero_size = job.size if vector is not None else None
            index = self.refs.index(self.hero) if self.hero and self.hero in self.refs else None
            if vector is not None and index in self.matched:
                self.rows[index] = _Row(vector, job.image_digest, job.colour_stats, job.size)
            elif vector is None and index is not None:
                self.problems[self.hero] = problem or "no image"
        elif job.kind == _Job.PHOTO:
            if vector is None:
                self.problems[job.ref] = problem or "no image"
            else:
                self.rows[self.refs.index(job.ref)] = _Row(vector, job.image_digest, job.colour_stats, job.size)
                self.embedded += 1
        self.pending -= 1
        return self.pending == 0

    def photo_payload(self) -> tuple[list, dict]:
        """The photos multivector's rows (at most one per digest, in the photos' order) and the payload keys that
        describe them."""
        rows, refs, digests, colours, seen = [], [], [], [], set()
        for i in sorted(self.rows):
            row = self.rows[i]
            if row.digest in seen:  # two references to the same bytes: one row
                continue
            seen.add(row.digest)
            rows.append(row.vector)
            refs.append(self.refs[i])
            digests.append(row.digest)
            colours.append(row.colours)
        return rows, {MATCHED_PHOTOS: refs, PHOTO_DIGESTS: digests, PHOTO_COLOURS: colours,
                      SHARED_PHOTOS: self.shared, PHOTO_PROBLEMS: self.problems}

    def photo_sizes(self, matched_refs: list[str]) -> dict | None:
        """PHOTO_SIZES: the pixel size of the hero (when its vector stands) and of every photo with a row, hero first;
        None when a kept photo's size was never stored (an index made before sizes): the key is then left out, and
        the same run's catch-up (core.index.photo_sizes) reads every size of the product from the photos' headers."""
        if not self.sizes_known:
            return None
        sizes = {}
        if self.hero_size is not None and self.hero:
            sizes[self.hero] = list(self.hero_size)
        by_ref = {self.refs[i]: row.size for i, row in self.rows.items()}
        for ref in matched_refs:
            if by_ref.get(ref) is not None:
                sizes.setdefault(ref, list(by_ref[ref]))
        return sizes


def _downloaded(jobs: Iterable[_Job], fetcher) -> Iterator[_Job]:
    """Jobs with their photos behind URLs downloaded into the cache, URL_WORKERS at a time, in the order the
    downloads end: a stalled server holds back only its own photo. Decoding stays in the decode pool, so the
    decoded pixels in memory are bounded the same whether photos come from files or from URLs."""
    for job, data, problem in download_in_arrival_order(jobs, lambda j: j.url, fetcher, URL_WORKERS):
        job.data, job.download_problem = data, problem or ""
        yield job


@dataclass
class EmbeddedBatch:
    """One batch of points ready to write, the text-only products among them, and the embed stage's parts so far."""

    points: list[StoredPoint]
    text_only: list[RowProblem]  # products embedded without their photo, and why
    text_seconds: float          # the text tower, every batch so far
    decode_seconds: float        # the loader threads' read + hash + decode, summed over threads, every batch so far
    photos_embedded: int = 0     # photos the model encoded in this batch (heroes included)
    photos_kept: int = 0         # photo rows kept from the store (the same bytes as before)
    photos_failed: int = 0       # photos beyond the hero that could not be used
    upgraded: list[str] = field(default_factory=list)  # product ids that had no photos rows before
    nothing_embedded: int = 0    # products rewritten with every vector kept (their photos only moved or were renamed)


@dataclass
class PhotoWork:
    """What the embed pass needs to know about photos: planning's PhotoPlan (shared photos, cap, products stored
    before the multivector), the products whose hero and text vectors are redone, and the store to keep rows from."""

    plan: PhotoPlan
    stale: set | None = None  # None: every product (a caller without planning)
    store: object = None


def embed_points(products: Iterable[Product], embedder, fetcher, max_pixels: int, batch_size: int,
                 workers: int, photos: PhotoWork | None = None) -> Iterator[EmbeddedBatch]:
    """The third pass (the mapper): batches of points ready to write, every photo read or fetched and decoded in
    worker threads, then both towers. A product whose hero cannot be used is embedded text-only, and says why;
    another photo that cannot be used is left out of its rows and listed in PHOTO_PROBLEMS. A product whose hero
    and text are unchanged keeps their vectors, and every row whose bytes are unchanged: only new photos are
    embedded."""
    photos = photos or PhotoWork(PhotoPlan())
    refused_under = decode_settings(max_pixels)
    decoding, decode_lock = [0.0], threading.Lock()  # loader thread-seconds
    text_s = 0.0

    def load(job: _Job):
        started = time.perf_counter()
        try:
            return _load(job)
        finally:
            with decode_lock:
                decoding[0] += time.perf_counter() - started

    def _load(job: _Job):
        product = job.product
        if job.kind == _Job.NOTHING:
            raise ImageRejected("nothing to embed")
        if job.url and fetcher is not None:
            try:
                if job.download_problem:
                    raise ImageRejected(job.download_problem)
                data, job.data = job.data or fetcher.fetch(job.url), None  # fetch: from the cache
            except ImageRejected as exc:
                job.image_digest = f"unfetched:{job.url}"  # never equals a cached digest: retried next run
                raise ImageRejected(f"photo URL failed: {exc}") from None
        elif job.kind == _Job.PHOTO and job.url:
            raise ImageRejected("photos behind URLs are not fetched by this caller (no image cache)")
        elif job.kind == _Job.HERO and product.image_file is None:
            job.image_digest = missing_digest(product)
            raise ImageRejected(product.image_problem or "no image")
        else:
            try:
                data = read_image_bytes(product.image_file if job.kind == _Job.HERO else Path(job.ref))
            except ImageRejected as exc:
                job.image_digest = f"unreadable:{exc}"
                raise
        job.image_digest = hashlib.sha256(data).hexdigest()
        image = decode_image(data, max_pixels, draft_size=embedder.image_size)
        job.size = source_size(image)
        try:  # here, so the audit never decodes a photo again (~1 ms)
            job.colour_stats = foreground_colours(image)
        except Exception:  # evidence for the audit, never a reason to refuse a product the model can embed
            job.colour_stats = None
        return image

    def jobs() -> Iterator[_Job]:
        for chunk in chunks(products, batch_size):
            stored = _stored(photos.store, chunk)
            for product in chunk:
                refs = photo_refs(product, photos.plan.max_photos)
                keys = [photo_key(ref, fetcher) for ref in refs]
                # a product gone from the store since planning (another writer) is embedded whole
                stale = photos.stale is None or product.product_id in photos.stale or product.product_id not in stored
                yield from _Work(product, stale, stored.get(product.product_id), refs, keys,
                                 photos.plan.shared).jobs()

    stream = jobs()
    if fetcher is not None:
        stream = _downloaded(stream, fetcher)
    for batch in embedder.stream_images(stream, load, batch_size=batch_size, workers=workers):
        finished: list[_Work] = []
        for job, vector in zip(batch.items, batch.vectors):
            if job.work.done(job, vector, None):
                finished.append(job.work)
        for job, reason in batch.rejected:
            if job.work.done(job, None, reason):
                finished.append(job.work)
        if not finished:
            continue
        stale = [w for w in finished if w.stale]
        t = time.perf_counter()
        text_vectors = embedder.encode_texts([w.product.text for w in stale], batch_size=batch_size) if stale else []
        text_s += time.perf_counter() - t
        texts = dict(zip((id(w) for w in stale), text_vectors))
        out = EmbeddedBatch([], [], 0.0, 0.0)
        for work in finished:
            point, problem = _point(work, texts.get(id(work)), embedder.name, refused_under)
            out.points.append(point)
            if problem is not None:
                out.text_only.append(problem)
            out.photos_embedded += work.embedded
            out.photos_kept += work.kept
            out.nothing_embedded += not work.stale and work.embedded == 0
            out.photos_failed += len([r for r in work.problems if r != work.hero])
            if work.product.product_id in photos.plan.upgraded:
                out.upgraded.append(work.product.product_id)
        out.text_seconds, out.decode_seconds = text_s, decoding[0]
        yield out


def _stored(store, chunk: list[Product]) -> dict[str, Hit]:
    """The stored points of a chunk of products, with their vectors, by product id (none without a store)."""
    if store is None:
        return {}
    hits = store.retrieve([point_id(p.product_id) for p in chunk], with_vectors=True)
    return {h.payload.get(PRODUCT_ID): h for h in hits}


def _point(work: _Work, text_vector, model: str, refused_under: str) -> tuple[StoredPoint, RowProblem | None]:
    """A finished product as the point to write, and its text-only problem (a hero that could not be used)."""
    product = work.product
    payload = dict(product.payload, **{PRODUCT_ID: product.product_id, PAYLOAD_HASH: payload_hash(product.payload)})
    problem = None
    if work.stale:
        image_vector = work.image_vector
        refused = refused_under if image_vector is None else ""  # a text-only product: retried when they change
        payload.update({FINGERPRINT: fingerprint(model, product.text, work.hero_job.image_digest, refused),
                        TEXT_ONLY: image_vector is None})
        vectors = {"text": text_vector}
        if image_vector is None:
            reason = work.image_problem or "no image"
            payload[IMAGE_PROBLEM] = reason
            problem = RowProblem(product.row, product.product_id, f"indexed text-only: {reason}",
                                 ProblemKind.TEXT_ONLY)
        else:
            vectors["image"] = image_vector
            payload[COLOUR_STATS] = work.hero_job.colour_stats
    else:  # hero and text unchanged: their vectors and what was learnt from the hero stay
        old = work.stored.payload
        payload.update({k: old[k] for k in (FINGERPRINT, TEXT_ONLY, IMAGE_PROBLEM, COLOUR_STATS) if k in old})
        vectors = {k: v for k, v in work.stored.vectors.items() if k in ("image", "text")}
    rows, keys = work.photo_payload()
    if not rows and "image" in vectors and work.hero:
        # every other photo failed or is shared: the hero's row keeps the product findable by photo search, and
        # keeps "every product with a hero has rows" (multi_photo) true
        digest = work.hero_job.image_digest if work.stale else work.keys[work.refs.index(work.hero)] \
            if work.hero in work.refs else ""
        rows = [vectors["image"]]
        keys.update({MATCHED_PHOTOS: [work.hero], PHOTO_DIGESTS: [digest], PHOTO_COLOURS: [payload.get(COLOUR_STATS)]})
    payload.update(keys)
    sizes = work.photo_sizes(keys[MATCHED_PHOTOS])
    if sizes is not None:
        payload[PHOTO_SIZES] = sizes
    if rows:
        vectors[PHOTO_VECTORS] = rows
    return StoredPoint(point_id(product.product_id), vectors, payload), problem
