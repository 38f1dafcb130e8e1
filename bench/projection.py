"""Catalogue map cost: UMAP compile (cold and with numba's disk cache), fit, and Explore page render; and the first
map through the page (issue 19, item 13): the PCA map on screen after the click, the UMAP map swapped in.

    python -m bench.projection [--sizes 5000 44000]
    python -m bench.projection --first-map 300

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


def worker(n: int, numba_cache: str) -> None:
    """Fit n products twice in this process: the first fit pays any numba compilation, the second does not."""
    from core.map.projector import Projector

    x = catalogue(n)
    projector = Projector(Path(numba_cache))
    t = time.perf_counter()
    projector.fit(x)
    first = time.perf_counter() - t
    t = time.perf_counter()
    Projector(Path(numba_cache)).fit(x)
    print(json.dumps({"first_fit_s": first, "warm_fit_s": time.perf_counter() - t}))


def run(n: int, numba_cache: str, worker_name: str = "fit", *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.projection", "--worker", worker_name, "--n", str(n),
                           "--data", numba_cache, *extra], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- the first map through the page ------------------------------------------------------------------------------

def first_map_worker(n: int, numba_cache: str, old_path: bool) -> None:
    """In a fresh process (a new server's first click): a data dir of n products, the Explore page in AppTest,
    "Compute the map" clicked; times the click's run (the map on screen) and, on the new path, the UMAP map
    swapped in (the page's own one-second poll, then the run that lays it out). old_path: the UMAP fit runs in the
    page's run, in the server's process, as before the background fit."""
    from streamlit.testing.v1 import AppTest

    from bench.query_latency import make_points
    from core.map import job as map_job
    from core.map.storage import load_map
    from core.index.store import EdgeStore

    work = Path(tempfile.mkdtemp(prefix="bench-first-map-"))
    model = tiny_model(work)
    store = EdgeStore(work / "data", "products")
    store.ensure(model, 512)
    clustered = catalogue(n)
    for batch in make_points(n):
        for p in batch:
            p.payload["fingerprint"] = p.id
            p.vectors["image"] = clustered[int(p.payload["product_id"])]
        store.upsert(batch)
    store.update_meta(last_indexed=time.time())
    store.close()
    os.environ.update(LENS_MODEL=model, LENS_DATA_DIR=str(work / "data"), LENS_DEVICE="cpu",
                      LENS_NUMBA_CACHE_DIR=numba_cache)
    if old_path:
        map_job.starter = lambda *args, **kwargs: None  # compute_map then fits UMAP in the page's run
    compiling = not map_job.compiled_before(Path(numba_cache))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=900)
    at.run()
    at.switch_page("pages/explore.py").run()
    start = time.perf_counter()
    at.button(key="map_update").click().run()
    on_screen = time.perf_counter() - start
    assert not at.exception and at.get("plotly_chart"), at.exception
    shown = (load_map(work / "data", "products") or load_map(work / "data", "products", preview=True)).method
    out = {"map_on_screen_s": on_screen, "shown": shown, "compiling": compiling}
    if not old_path:
        while (map_job.fit_state(work / "data", "products", "image") or map_job.FitState("", "", 0, False)).running:
            time.sleep(1.0)  # the page's fragment polls once a second
        at.run()
        out["umap_in_s"] = time.perf_counter() - start
        out["shown_after"] = load_map(work / "data", "products").method
    else:
        out["umap_in_s"] = on_screen
    print(json.dumps(out))


def tiny_model(work: Path) -> str:
    from tests.helpers.random_clip import save_random_clip

    return str(save_random_clip(work / "model", tiny=True, projection_dim=512))


def first_map(n: int) -> None:
    """The old and new paths, each on a fresh numba cache and then on the cache the previous run filled (a second
    catalogue: the old path kept its cache in the data dir, so there it is cold again)."""
    caches = {path: tempfile.mkdtemp(prefix=f"bench-numba-{path}-") for path in ("old", "new")}
    runs = {
        "old, first map on the machine": run(n, caches["old"], "first-map", "--old"),
        "new, first map on the machine": run(n, caches["new"], "first-map"),
        "old, a second catalogue": run(n, tempfile.mkdtemp(prefix="bench-numba-old2-"), "first-map", "--old"),
        "new, a second catalogue": run(n, caches["new"], "first-map"),
    }
    for name, r in runs.items():
        print(json.dumps({"run": name, **r}), flush=True)
    print(f"\n| {n} products, through the page | map on screen after the click | UMAP map in | numba cache |"
          "\n|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['map_on_screen_s']:.2f} s ({r['shown']}) | {r['umap_in_s']:.1f} s | "
              f"{'empty' if r['compiling'] else 'compiled'} |")
    for case in ("first map on the machine", "a second catalogue"):
        old, new = runs[f"old, {case}"], runs[f"new, {case}"]
        print(f"{case}: map on screen {old['map_on_screen_s']:.1f} s -> {new['map_on_screen_s']:.2f} s "
              f"({old['map_on_screen_s'] / new['map_on_screen_s']:.0f}x sooner); UMAP map in "
              f"{old['umap_in_s']:.1f} s -> {new['umap_in_s']:.1f} s ({old['umap_in_s'] / new['umap_in_s']:.2f}x)")


def page_render(n: int) -> dict:
    """Explore page from stored coordinates: first render and a rerun, with AppTest."""
    from streamlit.testing.v1 import AppTest

    from bench.query_latency import make_points
    from core.map.build import compute_map
    from tests.helpers.random_clip import save_random_clip
    from core.index.store import EdgeStore

    work = Path(tempfile.mkdtemp(prefix="bench-map-"))
    model = str(save_random_clip(work / "model"))
    store = EdgeStore(work / "data", "products")
    store.ensure(model, 512)
    for batch in make_points(n):
        for p in batch:
            p.payload["fingerprint"] = p.id
        store.upsert(batch)
    # Stored coordinates: a quick PCA-sized layout is enough to time the page, which only reads them.
    from core.map.projector import Projector

    real_fit = Projector.fit
    Projector.fit = lambda self, m: (m[:, :2] * 10).astype(np.float32)
    compute_map(store, work / "data", "products")
    Projector.fit = real_fit
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
    parser.add_argument("--old", action="store_true", help="--worker first-map: the UMAP fit in the page's run")
    parser.add_argument("--first-map", type=int, default=0, help="time the first map through the page")
    args = parser.parse_args()
    if args.worker == "first-map":
        return first_map_worker(args.n, args.data, args.old)
    if args.worker:
        return worker(args.n, args.data)
    if args.first_map:
        return first_map(args.first_map)
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
