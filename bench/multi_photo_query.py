"""Image query latency with several photos per product: Nearest on the `photos` multivector (MaxSim) against
Nearest on the hero's single `image` vector, same store, same run, embedded engine.

    python -m bench.multi_photo_query [--n 100000] [--per-product 4] [--reps 300] [--reuse]

The store is built through the store API (EdgeStore.ensure + upsert) with random unit vectors, 512 dims: each
product's `photos` multivector holds --per-product rows, and its `image` vector is the first row (the hero), as the
indexer stores them. No `text` vectors are written (an image query never reads them, and their HNSW build would
only lengthen the run). Timings are of store.query(Nearest(...)), limit 12, with a new random query vector each
time (no model): unfiltered, and with Filters.visible() (drafts and archived left out, what every default view
asks). First as written, then after optimize() (HNSW and int8 per segment, what publish() builds at the end of
every `python -m core index` run before it copies the shard), which is the state a user queries. --reuse times the
store an earlier run left (optimised) again, without rebuilding it: the build takes minutes, a quieter moment may come.

Since an image query searches "image" AND "photos" (core.search.query.best_photo_hits: one store.query_batch with a
Nearest on each, merged by max per product), the optimised store is also timed through that merged query, unfiltered
and visible, and through the entry point the app and the CLI call, search() with an uploaded image (the default view:
visible), the model's encoder stubbed by one that returns the same query vectors (a 64x64 PIL image is the upload,
so no decode): the engine's time plus everything search() adds (metadata reads, filters, merge, results). Same query
vectors as the single-vector rows. The found-first checks run through search() too (show_hidden, as the
store-level check is unfiltered), with a product's last photo (a back view) and with its hero photo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import OUT
from bench.index_throughput import cpu_line, load_average
from core.common.fields import PHOTO_VECTORS, PRODUCT_ID, STATUS, Schema
from core.common.filters import Filters
from core.index.store import EdgeStore, Nearest, Overrides, StoredPoint, point_id
from core.search.query import SearchRequest, best_photo_hits, photo_spaces, search

DIM = 512
LIMIT = 12
WORK = OUT / "multi-photo-query"
STATUSES = (["active", "draft", "archived"], [0.95, 0.03, 0.02])
TARGET_MS, TARGET_RATIO = 20.0, 1.5
UPLOAD = Image.new("RGB", (64, 64))  # what search() opens as the upload; the stub encoder ignores its pixels
MERGED, ENTRY = "merged", "search()"  # best_photo_hits; search() with an uploaded image


def unit(rng, *shape) -> np.ndarray:
    v = rng.normal(size=(*shape, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def build(store: EdgeStore, n: int, per_product: int, related: float, seed: int = 0) -> float:
    """Write n products with per_product photo rows each; returns the seconds the writes took."""
    rng = np.random.default_rng(seed)
    store.ensure("bench-random", DIM, expected_points=n)
    store.add_fields(Schema(keyword=(STATUS,)))
    statuses = rng.choice(STATUSES[0], size=n, p=STATUSES[1])
    start = time.perf_counter()
    for first in range(0, n, 1000):
        photos = product_photos(first, min(n, first + 1000), per_product, related, seed)
        store.upsert([StoredPoint(point_id(str(i)),
                                  {"image": photos[i - first, 0], PHOTO_VECTORS: photos[i - first]},
                                  {PRODUCT_ID: str(i), "title": f"Product {i}", STATUS: str(statuses[i])})
                      for i in range(first, min(n, first + 1000))])
    return time.perf_counter() - start


def product_photos(first: int, stop: int, per_product: int, related: float, seed: int) -> np.ndarray:
    """The photo vectors of products first..stop-1 (the same for the same seed, so a check can redraw them).
    related 0: independent random rows; above 0, a product's photos share a base vector, so that two of them have
    a cosine of about `related` (photos of one product resemble each other; a random pair is near 0)."""
    rng = np.random.default_rng([seed, first])
    rows = unit(rng, stop - first, per_product)
    if related <= 0:
        return rows
    spread = np.sqrt(1 / related - 1)  # cos(base + s*a, base + s*b) = 1 / (1 + s^2) for unit base, a, b in 512-d
    mixed = unit(rng, stop - first, 1) + spread * rows
    return mixed / np.linalg.norm(mixed, axis=-1, keepdims=True)


class StubEncoder:
    """The store's model as search() sees it (name, dim), returning the vector it is given instead of encoding."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim, self.image_size, self.vector = name, dim, None, None

    def encode_texts(self, texts, batch_size=64):
        raise AssertionError("an image query encodes no text")

    def encode_images(self, images, batch_size=32):
        return self.vector[None, :]


def timed(store: EdgeStore, using: str, filters: Filters | None, reps: int, seed: int) -> tuple[float, float]:
    """p50 and p95, ms, over reps new random query vectors (after a warm-up) of store.query(Nearest(v, using)), or
    of the merged query (using MERGED: best_photo_hits) or of search() with an uploaded image (using ENTRY; its
    filter is the default view's, `filters` is ignored)."""
    queries = unit(np.random.default_rng(seed), reps + 5)
    if using == ENTRY:
        meta = store.require_meta()
        encoder = StubEncoder(meta["model"], meta["dim"])
        request = SearchRequest(image=UPLOAD, limit=LIMIT)
    times = []
    for i, vector in enumerate(queries):
        t = time.perf_counter()
        if using == ENTRY:
            encoder.vector = vector
            hits = search(store, request, encoder)
        elif using == MERGED:
            hits = best_photo_hits(store, vector, filters, LIMIT)
        else:
            hits = store.query(Nearest(vector, using=using), filters=filters, limit=LIMIT)
        if i >= 5:
            times.append((time.perf_counter() - t) * 1000)
        assert len(hits) == LIMIT, f"{using}: {len(hits)} hits, not {LIMIT}"
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def back_view_found_first(store: EdgeStore, n: int, per_product: int, related: float, checks: int = 50,
                          row: int = -1, entry: bool = False) -> float:
    """The share of products found first when the query is one of their photos: by default the last, a non-hero
    photo (a back view), on the `photos` multivector alone; row 0 is the hero. entry: through search() with that
    photo as the uploaded image (best_photo_hits: "image" and "photos" merged), show_hidden so that, like the
    store-level check, no product is filtered out. The same products whatever the arguments."""
    rng = np.random.default_rng(7)
    found = 0
    if entry:
        meta = store.require_meta()
        encoder = StubEncoder(meta["model"], meta["dim"])
        request = SearchRequest(image=UPLOAD, limit=LIMIT, show_hidden=True)
    for product in rng.choice(n, size=checks, replace=False):
        first = int(product) // 1000 * 1000
        photo = product_photos(first, min(n, first + 1000), per_product, related, 0)[int(product) - first, row]
        if entry:
            encoder.vector = photo
            results = search(store, request, encoder)
            found += bool(results) and results[0].product_id == str(product)
        else:
            hits = store.query(Nearest(photo, using=PHOTO_VECTORS), limit=1)
            found += bool(hits) and hits[0].payload.get(PRODUCT_ID) == str(product)
    return found / checks


def measure(store: EdgeStore, reps: int, seed: int, merged: bool = False) -> dict:
    """The single-vector rows; with merged, also best_photo_hits (unfiltered, visible) and search() (visible)."""
    visible = Filters().visible()
    rows = {f"{using} {label}": timed(store, using, filters, reps, seed)
            for label, filters in (("unfiltered", None), ("visible", visible))
            for using in ("image", PHOTO_VECTORS) + ((MERGED,) if merged else ())}
    if merged:
        rows[f"{ENTRY} visible"] = timed(store, ENTRY, None, reps, seed)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--per-product", type=int, default=4)
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--related", type=float, default=0.0,
                        help="cosine between two photos of one product (0: independent random rows)")
    parser.add_argument("--skip-as-written", action="store_true", help="time only the optimised store")
    parser.add_argument("--reuse", action="store_true", help="time the optimised store an earlier run left")
    parser.add_argument("--dir", type=Path, default=WORK, help="where the store is built (or reused)")
    parser.add_argument("--hnsw-ef", type=int, help="query-time candidates for every query (LENS_HNSW_EF)")
    args = parser.parse_args()
    log = lambda *a: print("#", *a, file=sys.stderr, flush=True)  # noqa: E731
    log(cpu_line(), f"load average {load_average():.1f}")
    store = EdgeStore(args.dir, overrides=Overrides(hnsw_ef=args.hnsw_ef))
    write_s, as_written, loads = 0.0, {}, [load_average()]
    if not args.reuse:
        shutil.rmtree(args.dir, ignore_errors=True)
        write_s = build(store, args.n, args.per_product, args.related)
        log(f"wrote {args.n} products x {args.per_product} photos in {write_s:.1f}s")
        as_written = {} if args.skip_as_written else measure(store, args.reps, 1)
        log("as written", json.dumps(as_written))
    elif store.count() != args.n:
        raise SystemExit(f"--reuse: the store at {args.dir} holds {store.count()} products, not --n {args.n}")
    start = time.perf_counter()
    store.optimize()  # with --reuse nothing is due: this costs microseconds
    build_s = time.perf_counter() - start
    log(f"optimize (HNSW + int8 build) {build_s:.1f}s")
    loads.append(load_average())
    spaces = photo_spaces(store)
    if spaces != ("image", PHOTO_VECTORS):
        raise SystemExit(f"an image query on this store searches {spaces}, not image and photos (multi_photo unset?)")
    optimised = measure(store, args.reps, 2, merged=True)
    loads.append(load_average())
    log("optimised", json.dumps(optimised))
    found = {"photos back view": back_view_found_first(store, args.n, args.per_product, args.related),
             "search() back view": back_view_found_first(store, args.n, args.per_product, args.related, entry=True),
             "search() hero": back_view_found_first(store, args.n, args.per_product, args.related, row=0, entry=True)}
    log("found first", json.dumps(found))
    store.close()
    report(args, write_s, build_s, as_written, optimised, found, loads)


def store_ef(args) -> int:
    return args.hnsw_ef or EdgeStore(args.dir).search_tuning.hnsw_ef


def report(args, write_s, build_s, as_written, optimised, found, loads) -> None:
    print(f"CPU: {cpu_line()}\n")
    kind = f"photos of a product at cosine ~{args.related}" if args.related > 0 else "independent rows"
    print(f"{args.n:,} products x {args.per_product} photos, {DIM}-d random unit vectors ({kind}), embedded engine "
          f"(qdrant-edge) through the store API; limit {LIMIT}, {args.reps} new query vectors per row; "
          f"hnsw_ef {store_ef(args)}; p50 / p95 ms; load average {min(loads):.1f}-{max(loads):.1f}. "
          + ("The store an earlier run built and optimised, timed again.\n" if args.reuse else
             f"Writes {write_s:.0f} s, optimize (HNSW + int8 build) {build_s:.0f} s.\n"))
    print("| query | as written (exact scan) | optimised (as a user has it) | ratio to `image`, optimised |")
    print("|---|---|---|---|")
    names = {"image": "`image` (hero, one vector)", PHOTO_VECTORS: f"`photos` (MaxSim over {args.per_product})",
             MERGED: "merged: `best_photo_hits` (`image` + `photos`, max per product)",
             ENTRY: "`search()`, an uploaded image (the app's and CLI's image query, encoder stubbed)"}
    for label in ("unfiltered", "visible"):
        base = optimised[f"image {label}"][0]
        for using in ("image", PHOTO_VECTORS, MERGED, ENTRY):
            key = f"{using} {label}"
            if key not in optimised:
                continue
            written = "" if key not in as_written else f"{as_written[key][0]:.2f} / {as_written[key][1]:.2f}"
            where = "" if label == "unfiltered" else ", drafts and archived left out"
            print(f"| {names[using]}{where} | {written} | {optimised[key][0]:.2f} / {optimised[key][1]:.2f} | "
                  f"{optimised[key][0] / base:.2f} |")
    print(f"\nA product's last (back-view) photo as the query finds that product first, of 50: on `photos` alone "
          f"{found['photos back view']:.0%}, through search() (merged) {found['search() back view']:.0%}; its hero "
          f"photo through search() {found['search() hero']:.0%}")
    print(f"\nTargets (p50 ≤ {TARGET_MS:.0f} ms, ≤ {TARGET_RATIO}× the one-vector `image` query of the same "
          "filter, same run):")
    for key, base in ((f"{PHOTO_VECTORS} unfiltered", "image unfiltered"),
                      (f"{MERGED} unfiltered", "image unfiltered"), (f"{MERGED} visible", "image visible"),
                      (f"{ENTRY} visible", "image visible")):
        p50 = optimised[key][0]
        ratio = p50 / optimised[base][0]
        print(f"- {key}: p50 {p50:.2f} ms ({'met' if p50 <= TARGET_MS else 'MISSED'}); ÷ `{base}` p50 {ratio:.2f} "
              f"({'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    print(json.dumps({"as_written": as_written, "optimised": optimised, "write_s": write_s, "build_s": build_s,
                      "found_first": found, "loads": loads}), file=sys.stderr)


if __name__ == "__main__":
    main()
