"""The store at catalogue scale: write + index build, query latency and recall, facets, sorted browsing,
near-duplicates, on synthetic clustered catalogues (no model: vectors are written through the store API).

    python -m bench.scale [--sizes 100000 300000 1000000] [--queries 200]
    python -m bench.scale --sizes 100000 1000000 --near-duplicates-only   # again, on the stores left by a run

Each size runs in a fresh subprocess (its own peak RSS) on a fresh embedded store under bench/out/scale-<n>.
Vectors are a mixture of tight clusters (about one per 300 products, like CLIP embeddings of a catalogue),
512-d, for both named vectors; attributes and prices are drawn per cluster, as in a real catalogue.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 512
BATCH = 2000
COLOURS = ["Red", "Blue", "Black", "White", "Green", "Navy Blue", "Pink", "Grey", "Brown", "Beige"]
TYPES = ["Dresses", "Tshirts", "Shirts", "Trousers", "Shorts", "Casual Shoes", "Sandals", "Handbags", "Caps", "Watches"]
BRANDS = [f"Brand {i}" for i in range(60)]


TWIN_EVERY = 250  # one product in 250 is a re-shot of the one before it: near-duplicate pairs


def clustered_chunks(n: int, seed: int = 7, chunk: int = BATCH):
    """Yields (first index, image vectors, text vectors, clusters) chunk by chunk, unit length, float32.

    Deterministic per chunk, so a second pass regenerates the same vectors: the benchmark never holds the
    whole catalogue's vectors (its RSS is the store's, not its own copy)."""
    assert chunk % TWIN_EVERY == 0, "a twin and its original must fall in the same chunk"
    rng = np.random.default_rng(seed)
    k = max(10, n // 300)
    centres = rng.normal(size=(k, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cluster = rng.integers(0, k, size=n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        crng = np.random.default_rng([seed, lo])
        image = centres[cluster[lo:hi]] + crng.normal(scale=0.35 / np.sqrt(DIM), size=(hi - lo, DIM)).astype(np.float32)
        twins = np.arange(1, hi - lo, TWIN_EVERY)
        image[twins] = image[twins - 1] + crng.normal(scale=0.05 / np.sqrt(DIM),
                                                      size=(len(twins), DIM)).astype(np.float32)
        text = image + crng.normal(scale=0.6 / np.sqrt(DIM), size=(hi - lo, DIM)).astype(np.float32)
        for v in (image, text):
            v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield lo, image, text, cluster[lo:hi]


def clustered(n: int, seed: int = 7):
    """(image vectors, text vectors, cluster of each product) for the whole catalogue at once (small n only)."""
    parts = list(clustered_chunks(n, seed))
    return (np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
            np.concatenate([p[3] for p in parts]))


def exact_top(queries: np.ndarray, n: int, k: int = 10) -> np.ndarray:
    """Exact top-k product indexes by image cosine for each query, streamed over regenerated chunks."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for lo, image, _, _ in clustered_chunks(n):
        scores = np.concatenate([best_scores, queries @ image.T], axis=1)
        ids = np.concatenate([best_ids, np.broadcast_to(np.arange(lo, lo + len(image)), (len(queries), len(image)))],
                             axis=1)
        top = np.argsort(-scores, axis=1)[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return best_ids


def payload(i: int, c: int, rng) -> dict:
    return {"product_id": f"P{i}", "title": f"Product {i}", "gender": ["Women", "Men", "Girls", "Boys"][c % 4],
            "category": "Apparel", "sub_category": TYPES[c % len(TYPES)], "product_type": TYPES[c % len(TYPES)],
            "colour": [COLOURS[(c + i % 3) % len(COLOURS)]], "usage": ["Casual", "Formal", "Sports"][c % 3],
            "brand": BRANDS[c % len(BRANDS)], "price": float(round(5 + (c % 50) * 3 + rng.uniform(0, 20), 2)),
            "in_stock": "yes" if rng.random() < 0.8 else "no", "fingerprint": f"f{i}", "payload_hash": f"h{i}"}


def p50_ms(fn, runs) -> float:
    times = []
    for arg in runs:
        start = time.perf_counter()
        fn(arg)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def near_duplicates_again(n: int) -> dict:
    """Near-duplicates alone, timed again on the store an earlier full run left (a quieter machine, or new code)."""
    from core.search.duplicates import near_duplicates
    from core.index.store import EdgeStore

    store = EdgeStore(Path(__file__).resolve().parent / "out" / f"scale-{n}")
    store.require_meta()
    store.count()  # opened and warm, as in the app
    start = time.perf_counter()
    groups = near_duplicates(store, 0.95)
    out = {"products": n, "near_duplicates_s": time.perf_counter() - start, "near_duplicate_groups": len(groups)}
    store.close()
    return out


def worker(n: int, queries: int) -> dict:
    from bench.common import peak_rss_mb, tiny_512_model
    from core.search.duplicates import near_duplicates
    from core.common.fields import STANDARD_FILTERS, Schema, SortKey
    from core.common.filters import Filters
    from core.search.query import browse, facets, number_ranges
    from core.index.store import EdgeStore, Nearest, StoredPoint, point_id

    folder = Path(__file__).resolve().parent / "out" / f"scale-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(1)
    probes = np.sort(rng.integers(0, n, size=queries))
    store = EdgeStore(folder)
    # The random 512-d model's name, so the app (bench.app_scale) can serve this store and encode queries; the
    # size picks the settings, as the indexer does.
    store.ensure(tiny_512_model(), DIM, expected_points=n)
    store.add_fields(Schema(keyword=(*STANDARD_FILTERS, "brand", "in_stock"), number=("price",), flags=("in_stock",)))
    out = {"products": n, "tier": store.meta()["tuning"]["tier"]}
    probe_vectors = np.zeros((queries, DIM), dtype=np.float32)
    start = time.perf_counter()
    for lo, image, text, cluster in clustered_chunks(n):
        mine = (probes >= lo) & (probes < lo + len(image))
        probe_vectors[mine] = image[probes[mine] - lo]
        store.upsert([StoredPoint(point_id(f"P{lo + j}"), {"image": image[j], "text": text[j]},
                                  payload(lo + j, int(cluster[j]), rng)) for j in range(len(image))])
    out["write_s"] = time.perf_counter() - start
    out["write_peak_rss_mb"] = peak_rss_mb()
    start = time.perf_counter()
    store.optimize()
    out["index_build_s"] = time.perf_counter() - start
    out["build_peak_rss_mb"] = peak_rss_mb()

    qvecs = probe_vectors + rng.normal(scale=0.5 / np.sqrt(DIM), size=(queries, DIM)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    flt = Filters.of({"gender": ["Women"], "colour": ["Red", "Blue"]})
    out["query_p50_ms"] = p50_ms(lambda q: store.query(Nearest(q), None, limit=10), qvecs)
    out["filtered_query_p50_ms"] = p50_ms(lambda q: store.query(Nearest(q), flt, limit=10), qvecs)
    hits = [store.query(Nearest(q), None, limit=10) for q in qvecs[:100]]
    exact = exact_top(qvecs[:100], n)
    out["recall_at_10"] = float(np.mean([len({h.payload["product_id"] for h in got} & {f"P{j}" for j in want}) / 10
                                         for got, want in zip(hits, exact)]))
    sidebar = [Filters.of({"brand": [BRANDS[i % len(BRANDS)]]}) for i in range(20)]
    out["facets_sidebar_p50_ms"] = p50_ms(lambda f: (facets(store, f), number_ranges(store, f)), sidebar)
    out["browse_by_price_p50_ms"] = p50_ms(lambda f: browse(store, f, SortKey.parse("-price"), limit=24), sidebar)
    start = time.perf_counter()
    groups = near_duplicates(store, 0.95)
    out["near_duplicates_s"] = time.perf_counter() - start
    out["near_duplicate_groups"] = len(groups)
    store.update_meta(last_indexed=time.time())  # what an indexing run records last: the app can serve this store
    store.publish()
    store.close()
    out["disk_mb"] = sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file()) / 2**20
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--worker", type=int)
    parser.add_argument("--near-duplicates-only", action="store_true",
                        help="time near-duplicates again on the stores earlier runs left under bench/out")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(near_duplicates_again(args.worker) if args.near_duplicates_only
                         else worker(args.worker, args.queries)))
        return
    rows = []
    for n in args.sizes:
        only = ["--near-duplicates-only"] if args.near_duplicates_only else []
        done = subprocess.run([sys.executable, "-m", "bench.scale", "--worker", str(n), "--queries", str(args.queries),
                               *only], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    keys = [k for k in rows[0] if k != "products"]
    print("| measure | " + " | ".join(f"{r['products']:,}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for r in rows) + " |")


if __name__ == "__main__":
    main()
