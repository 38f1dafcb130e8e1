"""Near-duplicates at 20,000 and 100,000 products: the engine's nearest neighbours vs comparing every pair.

    python -m bench.duplicates_scale [--sizes 20000 100000] [--threshold 0.95] [--no-unindexed]

Vectors are clustered 512-d unit vectors written through the store API (no model): a few thousand clusters
whose members sit at cosine ~0.8 from each other (like CLIP embeddings of one product type), plus 2% of the
products planted as near-copies of another product (cosine ~0.98), so the threshold finds real groups.

For each size, on the embedded engine: write, build the vector index (store.optimize: HNSW), then
core.search.duplicates.near_duplicates on the engine's neighbours (exact_up_to=0). At the smallest size also: the same
call before the index is built (every query is then a full scan inside the engine). Up to 100,000 also the
all-pairs matrix written out below, whose pairs are the reference for the engine path's recall. Up to
core.search.duplicates.EXACT_UP_TO (and with --matrix-too at any size) also near_duplicates' own matrix path
(exact_up_to=n), which the page uses below that size: `matrix_s` against `knn_s` is what EXACT_UP_TO trades.
Reports time(largest)/time(smallest).

    python -m bench.duplicates_scale --sizes 5000 10000 --no-unindexed    # the matrix path's range
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import peak_rss_mb
from core.search.duplicates import EXACT_UP_TO, near_duplicates
from core.index.store import EdgeStore, StoredPoint, point_id

DIM = 512
CLUSTERS = 3000
WITHIN = 0.8  # cosine between a cluster's centre and a member
COPIES = 0.02  # share of products that are a near-copy of another product
COPY_COS = 0.99  # cosine between a product and its copy (pairs of copies of one product land ~0.98)
WRITE_BATCH = 1000
REFERENCE_UP_TO = 100_000  # all pairs (the reference for recall) up to this size: ~100 s at 100,000 on 2 cores


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """n unit vectors: cluster members at cosine WITHIN from their centre, COPIES of them near-copies."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 10_000):
        m = min(n, start + 10_000) - start
        noise = rng.standard_normal((m, DIM)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        out[start:start + m] = WITHIN * centres[rng.integers(0, CLUSTERS, m)] + np.sqrt(1 - WITHIN ** 2) * noise
    copies = rng.choice(n, int(n * COPIES), replace=False)
    originals = rng.integers(0, n, len(copies))
    noise = rng.standard_normal((len(copies), DIM)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out[copies] = COPY_COS * out[originals] + np.sqrt(1 - COPY_COS ** 2) * noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def write(store: EdgeStore, vectors: np.ndarray) -> None:
    store.ensure("bench-clustered", DIM)
    for start in range(0, len(vectors), WRITE_BATCH):
        store.upsert([StoredPoint(point_id(str(i)), {"image": vectors[i]}, {"product_id": str(i)})
                      for i in range(start, min(len(vectors), start + WRITE_BATCH))])


def all_pairs(store: EdgeStore, threshold: float, chunk: int = 2048) -> set[tuple[str, str]]:
    """The replaced algorithm: scroll every image vector, then chunked matrix products (exact)."""
    ids, rows = [], []
    for hit in store.scroll(payload_keys=["product_id"], with_vectors=["image"]):
        ids.append(hit.payload["product_id"])
        rows.append(hit.vectors["image"])
    matrix = np.asarray(rows, dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    pairs = set()
    for start in range(0, len(ids), chunk):
        sims = matrix[start:start + chunk] @ matrix.T
        for a, b in zip(*np.nonzero(sims >= threshold - 1e-6)):
            i, j = start + int(a), int(b)
            if i < j:
                pairs.add(tuple(sorted((ids[i], ids[j]))))
    return pairs


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def found_pairs(groups) -> set[tuple[str, str]]:
    return {(a, b) for g in groups for a, b, _ in g.pairs}


def run(n: int, threshold: float, baseline: bool, unindexed: bool, matrix: bool) -> dict:
    row: dict = {"products": n}
    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder))
        _, row["write_s"] = timed(lambda: write(store, clustered(n)))
        if baseline:
            reference, row["all_pairs_s"] = timed(lambda: all_pairs(store, threshold))
        if unindexed:
            groups, row["knn_unindexed_s"] = timed(lambda: near_duplicates(store, threshold, exact_up_to=0))
            if baseline:
                row["unindexed_equals_all_pairs"] = found_pairs(groups) == reference
        _, row["index_build_s"] = timed(store.optimize)
        groups, row["knn_s"] = timed(lambda: near_duplicates(store, threshold, exact_up_to=0))
        pairs = found_pairs(groups)
        if matrix:
            exact, row["matrix_s"] = timed(lambda: near_duplicates(store, threshold, exact_up_to=n))
            row["matrix_equals_knn"] = found_pairs(exact) == pairs
            if baseline:
                row["matrix_equals_all_pairs"] = found_pairs(exact) == reference
        row.update(groups=len(groups), pairs=len(pairs),
                   largest_group=max((len(g.product_ids) for g in groups), default=0))
        if baseline:
            row["reference_pairs"] = len(reference)
            row["pair_recall"] = round(len(pairs & reference) / max(1, len(reference)), 5)
            row["pairs_not_in_reference"] = len(pairs - reference)
        store.close()
    row["peak_rss_mb"] = round(peak_rss_mb())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--no-unindexed", action="store_true", help="skip the run before the index is built")
    parser.add_argument("--matrix-too", action="store_true", help="the matrix path at every size, not only up to "
                        "EXACT_UP_TO")
    args = parser.parse_args()
    rows = []
    for i, n in enumerate(args.sizes):
        rows.append(run(n, args.threshold, baseline=n <= REFERENCE_UP_TO,
                        unindexed=i == 0 and not args.no_unindexed, matrix=args.matrix_too or n <= EXACT_UP_TO))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        print(json.dumps({f"knn_time_ratio_{rows[-1]['products']}_over_{rows[0]['products']}":
                          round(rows[-1]["knn_s"] / rows[0]["knn_s"], 2),
                          "size_ratio": rows[-1]["products"] / rows[0]["products"]}))


if __name__ == "__main__":
    main()
