"""Search latency while the same process indexes (the app: one shared model, one store, a Catalog-page run).

    python -m bench.search_during_indexing [--n 160] [--queries 30]

A random full-size ViT-B/32 (same cost as clip-ViT-B-32). Phase 1 times text searches with the model idle
(the baseline). Phase 2 runs core.index.indexer.index_catalog on n generated photos in a thread, as the Catalog
page does, and times the same kind of searches meanwhile: uncached ones (a new query text each time, so
the text tower must run) and a cached one (a rerun of the page). Phase 3 repeats phase 2 with the model run
in whole 32-image batches (BULK_CHUNK=32): how a search waited before it could slip in between chunks.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import photos, vit_b32_model


def catalogue(n: int, folder: Path) -> Path:
    """n products in the default schema whose Image column points at the generated photos."""
    paths = photos(n)
    path = folder / "catalog.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage",
                         "ProductTitle", "Image"])
        for i, photo in enumerate(paths):
            writer.writerow([str(i), "Women", "Apparel", "Dress", "Dresses", "Red", "Casual",
                             f"Bench dress number {i}", photo.name])
    return path


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def _search_ms(store, embedder, text: str) -> float:
    from core.search.query import SearchRequest, search

    start = time.perf_counter()
    search(store, SearchRequest(text=text, limit=12), embedder)
    return time.perf_counter() - start


def phase(store, embedder, csv_path: Path, images: Path, queries: int, tag: str) -> dict:
    """Index in a thread and search meanwhile; latencies of uncached and cached searches, indexing time."""
    from core.index.indexer import index_catalog

    done = threading.Event()
    result = {}

    def index():
        started = time.perf_counter()
        result["report"] = index_catalog(csv_path, images, embedder, store, batch_size=32, recreate=True)
        result["seconds"] = time.perf_counter() - started
        done.set()

    thread = threading.Thread(target=index)
    thread.start()
    time.sleep(2.0)  # into the embedding stage
    uncached, cached = [], []
    i = 0
    while not done.is_set() and len(uncached) < queries:
        uncached.append(_search_ms(store, embedder, f"{tag} query {i} striped red summer dress"))
        cached.append(_search_ms(store, embedder, "red dress"))
        i += 1
        time.sleep(0.2)
    thread.join()
    return {"uncached": uncached, "cached": cached, "index_s": result["seconds"],
            "indexed": result["report"].indexed, "searches": len(uncached) + len(cached)}


def index_alone(store, embedder, csv_path: Path, images: Path) -> float:
    """Seconds to index everything again with no search running (what the chunk size alone costs)."""
    from core.index.indexer import index_catalog

    started = time.perf_counter()
    index_catalog(csv_path, images, embedder, store, batch_size=32, recreate=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()

    import core.models.embedder as embedder_module
    from core.models.embedder import Embedder
    from core.index.store import EdgeStore

    embedder = Embedder(vit_b32_model(), "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = catalogue(args.n, Path(tmp))
        images = photos(args.n)[0].parent
        store = EdgeStore(Path(tmp) / "data")
        from core.index.indexer import index_catalog

        index_catalog(csv_path, images, embedder, store, batch_size=32)  # an index to search
        _search_ms(store, embedder, "red dress")
        idle = [_search_ms(store, embedder, f"idle query {i} striped red summer dress") for i in range(args.queries)]
        idle_cached = [_search_ms(store, embedder, "red dress") for _ in range(args.queries)]
        now = phase(store, embedder, csv_path, images, args.queries, "chunked")
        now["alone_s"] = index_alone(store, embedder, csv_path, images)
        embedder_module.BULK_CHUNK = 32
        whole = phase(store, embedder, csv_path, images, args.queries, "whole")
        whole["alone_s"] = index_alone(store, embedder, csv_path, images)
        store.close()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f in cpu]
    base = statistics.median(idle) * 1000
    rows = [("model idle (baseline)", idle, idle_cached, None),
            ("during indexing, 8-input chunks, searches first (this code)", now["uncached"], now["cached"], now),
            ("during indexing, whole 32-image batches", whole["uncached"], whole["cached"], whole)]
    print(f"CPU: {model}; flags: {' '.join(flags)}; {args.n} products indexed per phase")
    print("| model state | uncached p50 (ms) | uncached p95 (ms) | p50 ratio to idle | cached p50 (ms) | "
          "searches served during the run | indexing with searches (s) | indexing alone (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, unc, cac, ph in rows:
        extra = " | | " if ph is None else f"{ph['searches']} | {ph['index_s']:.1f} | {ph['alone_s']:.1f}"
        print(f"| {name} | {_p(unc, 0.5):.0f} | {_p(unc, 0.95):.0f} | {_p(unc, 0.5) / base:.2f} | "
              f"{_p(cac, 0.5):.1f} | {extra} |")
    print(json.dumps({"idle_p50_ms": base, "chunked": {k: v for k, v in now.items() if k.endswith("_s")},
                      "whole": {k: v for k, v in whole.items() if k.endswith("_s")}}))


if __name__ == "__main__":
    main()
