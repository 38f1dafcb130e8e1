"""The embed stage (the mapper): products in, batches of points out, each photo read or fetched and decoded in
loader threads, then both towers; a product whose photo cannot be used is embedded by its text alone."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from core.common.errors import ImageRejected
from core.common.fields import COLOUR_STATS, FINGERPRINT, IMAGE_PROBLEM, PAYLOAD_HASH, PRODUCT_ID, TEXT_ONLY
from core.index.fingerprints import decode_settings, fingerprint, missing_digest, payload_hash
from core.index.store import StoredPoint, point_id
from core.ingest.catalog import Product, RowProblem
from core.ingest.colour_stats import foreground_colours
from core.ingest.fetch import download_in_arrival_order
from core.ingest.formats import ProblemKind
from core.ingest.images import decode_image, read_image_bytes

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


@dataclass
class EmbeddedBatch:
    """One batch of points ready to write, the text-only products among them, and the embed stage's parts so far."""

    points: list[StoredPoint]
    text_only: list[RowProblem]  # products embedded without their photo, and why
    text_seconds: float          # the text tower, every batch so far
    decode_seconds: float        # the loader threads' read + hash + decode, summed over threads, every batch so far


def embed_points(products: Iterable[Product], embedder, fetcher, max_pixels: int, batch_size: int,
                 workers: int) -> Iterator[EmbeddedBatch]:
    """The third pass (the mapper): batches of points ready to write, photos read or fetched and decoded in worker
    threads, then both towers. A product whose photo cannot be used is embedded text-only, and says why."""
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
        text_s += time.perf_counter() - t
        points, text_only = [], []
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
                text_only.append(RowProblem(product.row, product.product_id, f"indexed text-only: {reason}",
                                            ProblemKind.TEXT_ONLY))
            else:
                vectors["image"] = image_vector
                payload[COLOUR_STATS] = job.colour_stats
            points.append(StoredPoint(point_id(product.product_id), vectors, payload))
        yield EmbeddedBatch(points, text_only, text_s, decoding[0])
