"""Recall@10 of the embedded store's default large settings (HNSW + int8 + rescoring) against exact search.

    .venv/bin/python -m bench.recall --points 50000 --dim 512 --queries 200

Clustered unit vectors (a mixture of tight clusters, like CLIP embeddings, not uniform noise) are written
through the store API, published (which builds HNSW and int8 as an indexing run does), then queried with new
points drawn from the same clusters; each top 10 is compared with a brute-force numpy top 10.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.common import peak_rss_mb


def clustered(points: int, dim: int, clusters: int, spread: float, rng, families: int = 0,
              ) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors, their cluster centres); spread 0.027 at 512-d puts a product at cosine ~0.85 to its centre.

    With families, the cluster centres are themselves grouped (shoes near shoes), so neighbourhoods overlap:
    the harder case for a graph index and for int8 resolution.
    """
    if families:
        heads = rng.normal(size=(families, dim)).astype(np.float32)
        heads /= np.linalg.norm(heads, axis=1, keepdims=True)
        centres = heads[rng.integers(0, families, clusters)] + rng.normal(size=(clusters, dim)).astype(np.float32) \
            * (0.8 / np.sqrt(dim))
    else:
        centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, points)] + spread * rng.normal(size=(points, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), centres


def main() -> None:
    from core.index.store import EdgeStore, Nearest, Overrides, StoredPoint, tuning_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=2_000)
    parser.add_argument("--spread", type=float, default=0.027)
    parser.add_argument("--families", type=int, default=0, help="group the clusters into this many families")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="*", default=[], help="also measure these hnsw_ef values")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    vectors, centres = clustered(args.points, args.dim, args.clusters, args.spread, rng, args.families)
    queries = centres[rng.integers(0, args.clusters, args.queries)] \
        + args.spread * rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    tuning = tuning_for(args.points)
    print(f"# {args.points:,} x {args.dim}-d in {args.clusters:,} clusters ({args.families or 'no'} families), "
          f"spread {args.spread}; settings: {tuning}")

    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder))
        store.ensure("bench", args.dim, expected_points=args.points)
        ids = [str(uuid.UUID(int=i + 1)) for i in range(args.points)]
        t = time.perf_counter()
        for start in range(0, args.points, 1_000):
            store.upsert([StoredPoint(ids[i], {"image": vectors[i].tolist()}, {"product_id": str(i)})
                          for i in range(start, min(args.points, start + 1_000))])
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        built = store.optimize()
        build_s = time.perf_counter() - t
        info = store.shard.info()
        print(f"# write {write_s:.1f} s, HNSW + int8 build {build_s:.1f} s (built: {built}); "
              f"{info.segments_count} segments, {info.indexed_vectors_count:,} indexed vectors")

        for ef in [None, *args.ef]:
            if ef is not None:
                store.overrides = Overrides(hnsw_ef=ef)
            found, times = 0, []
            for query, truth in zip(queries, exact):
                t = time.perf_counter()
                hits = store.query(Nearest(query.tolist()), limit=10)
                times.append(time.perf_counter() - t)
                found += len({int(h.payload["product_id"]) for h in hits} & set(truth.tolist()))
            print(f"hnsw_ef {store.search_tuning.hnsw_ef}: recall@10 {found / (10 * len(queries)):.4f}, "
                  f"query p50 {statistics.median(times) * 1000:.1f} ms, "
                  f"p95 {sorted(times)[int(0.95 * len(times))] * 1000:.1f} ms")
        store.close()
    print(f"# peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
