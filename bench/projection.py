"""Catalogue map cost: UMAP compile (cold and with numba's disk cache), fit, and Explore page render.

    python -m bench.projection [--sizes 5000 44000]

Vectors: a synthetic 512-d catalogue with 60 clusters of different sizes and spreads (CLIP-like structure:
unit vectors, tight groups of look-alikes), because embedding 44,000 photos with a CPU ViT-B/32 takes
half an hour. Each stage runs in a fresh process with its own empty numba cache folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def catalogue(n: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(60, dim))
    sizes = rng.dirichlet(np.ones(60) * 0.7)
    labels = rng.choice(60, size=n, p=sizes)
    x = centres[labels] + rng.normal(size=(n, dim)) * rng.uniform(0.3, 0.9, size=60)[labels, None]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def worker(n: int, data_dir: str) -> None:
    """Fit n products twice in this process: the first fit pays any numba compilation, the second does not."""
    from core.projection import Projector

    x = catalogue(n)
    projector = Projector(Path(data_dir))
    t = time.perf_counter()
    projector.fit(x)
    first = time.perf_counter() - t
    t = time.perf_counter()
    Projector(Path(data_dir)).fit(x)
    print(json.dumps({"first_fit_s": first, "warm_fit_s": time.perf_counter() - t}))


def run(n: int, data_dir: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.projection", "--worker", "fit", "--n", str(n),
                           "--data", data_dir], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def page_render(n: int) -> dict:
    """Explore page from stored coordinates: first render and a rerun, with AppTest."""
    from streamlit.testing.v1 import AppTest

    from bench.query_latency import make_points
    from core.projection import compute_map
    from core.random_clip import save_random_clip
    from core.store import EdgeStore

    work = Path(tempfile.mkdtemp(prefix="bench-map-"))
    model = str(save_random_clip(work / "model"))
    store = EdgeStore(work / "data", "products")
    store.ensure(model, 512)
    for batch in make_points(n):
        for p in batch:
            p.payload["fingerprint"] = p.id
        store.upsert(batch)
    # Stored coordinates: a quick PCA-sized layout is enough to time the page, which only reads them.
    import core.projection as projection

    real_fit = projection.Projector.fit
    projection.Projector.fit = lambda self, m: (m[:, :2] * 10).astype(np.float32)
    compute_map(store, work / "data", "products")
    projection.Projector.fit = real_fit
    store.close()
    os.environ.update(LENS_MODEL=model, LENS_DATA_DIR=str(work / "data"), LENS_DEVICE="cpu")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    t = time.perf_counter()
    at.switch_page("pages/explore.py").run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    at.selectbox(key="map_colour").set_value("colour")
    t = time.perf_counter()
    at.run()
    return {"first_render_s": first, "recolour_rerun_s": time.perf_counter() - t}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[5000, 44000])
    parser.add_argument("--worker")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--data", default="")
    args = parser.parse_args()
    if args.worker:
        return worker(args.n, args.data)
    rows = []
    for n in args.sizes:
        cache = tempfile.mkdtemp(prefix="bench-numba-")
        first = run(n, cache)   # fresh process, empty numba cache
        second = run(n, cache)  # fresh process, numba cache filled by the first
        page = page_render(n)
        rows.append((n, first, second, page))
        print(json.dumps({"n": n, "first": first, "second": second, "page": page}), flush=True)
    print("\n| products | 1st fresh process: fit | 2nd fresh process: fit (numba disk cache) | compiled fit "
          "(2nd fit, same process) | compile overhead 1st / 2nd process | page first render | page recolour |"
          "\n|---|---|---|---|---|---|---|")
    for n, first, second, page in rows:
        warm = min(first["warm_fit_s"], second["warm_fit_s"])
        print(f"| {n:,} | {first['first_fit_s']:.1f} s | {second['first_fit_s']:.1f} s | {warm:.1f} s | "
              f"{first['first_fit_s'] - warm:.1f} s / {second['first_fit_s'] - warm:.1f} s | "
              f"{page['first_render_s']:.2f} s | {page['recolour_rerun_s']:.2f} s |")


if __name__ == "__main__":
    main()
