"""The `map` command: compute the catalogue map (PCA + UMAP) the Explore page shows."""

from __future__ import annotations

import json
import sys
import time

from core.cli.common import open_reader
from core.common.config import Settings


def add_map_command(sub) -> None:
    cmap = sub.add_parser("map", help="compute the catalogue map (PCA + UMAP) for the Explore page")
    cmap.add_argument("--vectors", choices=["image", "text", "both"], default="image")
    cmap.add_argument("--refit", action="store_true", help="fit from scratch instead of placing new products")
    cmap.add_argument("--json", action="store_true")
    cmap.set_defaults(run=cmd_map)


def cmd_map(args, settings: Settings) -> int:
    from tqdm import tqdm

    from core.map.build import compute_map

    store = open_reader(settings)
    bar = tqdm(total=100, desc="map", unit="%", disable=None, file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        bar.set_description(stage)
        bar.n = int(fraction * 100)
        bar.refresh()

    try:
        store.require_meta()
        started = time.perf_counter()
        m = compute_map(store, settings.data_dir, settings.collection, args.vectors, args.refit, progress,
                        numba_cache=settings.numba_cache_dir)
    finally:
        bar.close()
        store.close()
    summary = {"products": len(m.product_ids), "clusters": len(m.labels), "method": m.method,
               "transformed": m.transformed, "not_placed": m.not_placed, "vectors": m.kind,
               "labels": sorted(m.labels.values()), "seconds": round(time.perf_counter() - started, 2)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['products']} products placed ({m.method}), {summary['clusters']} clusters: "
              + "; ".join(summary["labels"][:12]))
    return 0
