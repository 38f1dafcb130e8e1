"""The catalogue map at scale: fit + placement, Explore's first render from the stored map, a lasso over every
point, peak RSS; on a synthetic clustered catalogue written through the store API (no model).

    python -m bench.map_scale --sizes 100000            # 1,000,000 the same way

Each size is written once to bench/out/map-<n> (reused when it is complete; --fresh rewrites it), and each
measure runs in a fresh subprocess so its peak RSS is its own. The catalogue is hierarchical like a real one:
product types (the strata), a few thousand tight look-alike groups inside them, unit 512-d vectors for both
named vectors, attributes and prices per group. It is generated and written a chunk at a time, so the writer
never holds the whole catalogue.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
COLLECTION = "products"
MODEL = "synthetic-map-512"
DIM = 512
CHUNK = 2000
TYPES = [("Women", "Dresses"), ("Women", "Tops"), ("Women", "Heels"), ("Women", "Handbags"), ("Women", "Kurtas"),
         ("Women", "Jeans"), ("Men", "Shirts"), ("Men", "Tshirts"), ("Men", "Trousers"), ("Men", "Casual Shoes"),
         ("Men", "Formal Shoes"), ("Men", "Watches"), ("Men", "Jackets"), ("Unisex", "Caps"), ("Unisex", "Backpacks"),
         ("Unisex", "Sunglasses"), ("Girls", "Dresses"), ("Boys", "Tshirts"), ("Unisex", "Socks"),
         ("Women", "Sarees"), ("Men", "Sports Shoes"), ("Unisex", "Wallets"), ("Women", "Earrings"), ("Men", "Belts")]
COLOURS = ["Black", "White", "Blue", "Navy Blue", "Red", "Green", "Grey", "Brown", "Pink", "Beige", "Yellow", "Purple"]
USAGE = ["Casual", "Formal", "Sports", "Ethnic"]


class Catalogue:
    """A deterministic catalogue of n products, produced a chunk at a time.

    Each product type is a region of its own (type directions are nearly orthogonal), and inside it products
    vary along a few continuous directions (cut, shade, style) plus noise: neighbours run on across a type as
    they do in CLIP embeddings, rather than falling into isolated tight balls. Colour and usage follow those
    directions, so a region has sub-areas a merchandiser can name.
    """

    LATENT = 4

    def __init__(self, n: int, seed: int = 11):
        rng = np.random.default_rng(seed)
        self.n, self.seed = n, seed
        self.type_centres = _unit(rng.normal(size=(len(TYPES), DIM)))
        self.type_basis = rng.normal(size=(len(TYPES), self.LATENT, DIM)).astype(np.float32) / np.sqrt(DIM)
        self.type_share = rng.dirichlet(np.full(len(TYPES), 2.0))  # some types are much larger than others

    def chunk(self, lo: int, hi: int):
        """(image vectors, text vectors, payloads) of products lo..hi-1; the same every time it is asked."""
        rng = np.random.default_rng([self.seed, lo])
        kind = rng.choice(len(TYPES), size=hi - lo, p=self.type_share)
        z = rng.standard_normal((hi - lo, self.LATENT)).astype(np.float32)
        spread = np.einsum("nl,nld->nd", z, self.type_basis[kind])
        image = _unit(self.type_centres[kind] + 0.55 * spread
                      + 0.3 * rng.standard_normal((hi - lo, DIM), dtype=np.float32) / np.sqrt(DIM))
        text = _unit(image + 0.6 * rng.standard_normal((hi - lo, DIM), dtype=np.float32) / np.sqrt(DIM))
        shade = np.clip(((z[:, 0] + 2.5) / 5 * 6).astype(int), 0, 5)
        payloads = []
        for j, (t, s) in enumerate(zip(kind.tolist(), shade.tolist())):
            i = lo + j
            gender, product_type = TYPES[t]
            colour = COLOURS[(2 * t + s) % len(COLOURS)]
            payloads.append({
                "product_id": f"P{i}", "title": f"{colour} {product_type} {i}", "gender": gender,
                "category": "Apparel", "sub_category": product_type, "product_type": product_type,
                "colour": [colour], "usage": USAGE[int(z[j, 1] > 0) + 2 * int(z[j, 2] > 1)],
                "brand": f"Brand {(t * 7 + s) % 80}", "price": float(round(20 + 15 * t + 8 * float(z[j, 2]) ** 2, 2)),
                "in_stock": "yes" if rng.random() < 0.8 else "no", "fingerprint": f"f{i}", "payload_hash": f"h{i}"})
        return image, text, payloads


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def folder(n: int) -> Path:
    return OUT / f"map-{n}"


def write(n: int) -> dict:
    """Write the catalogue to a fresh store through the store API, as the indexer would."""
    from core.common.fields import STANDARD_FILTERS, Schema
    from core.index.store import EdgeStore, StoredPoint, point_id

    shutil.rmtree(folder(n), ignore_errors=True)
    store = EdgeStore(folder(n) / "data", COLLECTION)
    store.ensure(MODEL, DIM, expected_points=n)
    store.add_fields(Schema(keyword=(*STANDARD_FILTERS, "brand", "in_stock"), number=("price",), flags=("in_stock",)))
    catalogue, start = Catalogue(n), time.perf_counter()
    for lo in range(0, n, CHUNK):
        image, text, payloads = catalogue.chunk(lo, min(n, lo + CHUNK))
        store.upsert([StoredPoint(point_id(p["product_id"]), {"image": image[j], "text": text[j]}, p)
                      for j, p in enumerate(payloads)])
    store.optimize()  # the index build an indexing run ends with, so the map's timings do not pay it
    store.update_meta(last_indexed=time.time())
    written = time.perf_counter() - start
    store.close()
    (folder(n) / "complete").write_text(str(n))
    return {"write_s": written}


def fit(n: int) -> dict:
    """compute_map from scratch, as `python -m core map` or the page's "Refit" does; each stage timed."""
    from bench.common import peak_rss_mb
    from core.map.build import compute_map
    from core.index.store import EdgeStore

    store = EdgeStore(folder(n) / "data", COLLECTION)
    stages, start, last = {}, time.perf_counter(), [time.perf_counter(), "index digest"]

    def progress(stage: str, fraction: float) -> None:
        name = stage.split(" (")[0].split(" of ")[0]
        if name != last[1]:
            now = time.perf_counter()
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
            last[:] = [now, name]

    m = compute_map(store, folder(n) / "data", COLLECTION, refit=True, progress=progress)
    total = time.perf_counter() - start
    store.close()
    return {"fit_and_place_s": total, "fitted": m.fitted, "clusters": len(m.labels),
            "stages_s": {k: round(v, 1) for k, v in stages.items()}, "fit_peak_rss_mb": peak_rss_mb()}


def render(n: int) -> dict:
    """Explore's first render from the stored map, as the page builds it (read the file, filter, figure, the
    chart's spec as Streamlit sends it), then a lasso over every point down to the gallery's products."""
    from bench.common import peak_rss_mb
    from core.common.filters import Filters
    from core.map.figure import MAX_GALLERY, build_figure, chart_key, filter_mask, selected_ids
    from core.map.storage import load_map
    from core.search.query import get_products
    from core.index.store import EdgeStore

    out, start = {}, time.perf_counter()
    m = load_map(folder(n) / "data", COLLECTION)
    out["load_map_s"] = time.perf_counter() - start
    t = time.perf_counter()
    keep = filter_mask(m, Filters())
    figure = build_figure(m, "cluster", Filters(), [], None, {}, keep=keep)
    out["build_figure_s"] = time.perf_counter() - t
    t = time.perf_counter()
    spec = figure.to_json()  # what st.plotly_chart serialises
    chart_key(figure)        # and the page's own key for the drawn chart
    out["figure_json_s"] = time.perf_counter() - t
    out["figure_json_mb"] = len(spec) / 2**20
    out["points_sent"] = sum(len(trace.x) for trace in figure.data)
    out["explore_first_render_s"] = time.perf_counter() - start
    # A lasso of 400 vertices around a quarter of the map, as plotly reports one.
    low, high = m.xy.min(axis=0), m.xy.max(axis=0)
    centre, radius = (low + high) / 2, (high - low) / 4
    angle = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    lasso = {"x": (centre[0] + radius[0] * np.cos(angle)).tolist(), "y": (centre[1] + radius[1] * np.sin(angle)).tolist()}
    store = EdgeStore(folder(n) / "data", COLLECTION)
    t = time.perf_counter()  # the app's store is open and read long before a lasso (the sidebar's facets...)
    get_products(store, m.product_ids[-MAX_GALLERY:])
    out["first_store_read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ids = selected_ids({"selection": {"points": [], "lasso": [lasso], "box": []}}, m)
    rows = m.row_of
    passing = [p for p in ids if p in rows and keep[rows[p]]]  # as the page keeps what passes the filters
    gallery = get_products(store, passing[:MAX_GALLERY])
    out["lasso_to_gallery_s"] = time.perf_counter() - t
    out["lasso_selected"] = len(ids)
    out["gallery_products"] = len(gallery)
    store.close()
    out["render_peak_rss_mb"] = peak_rss_mb()
    return out


def run(what: str, n: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.map_scale", "--worker", what, "--n", str(n)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--fresh", action="store_true", help="write the catalogue again even if it is there")
    parser.add_argument("--worker")
    parser.add_argument("--n", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"write": write, "fit": fit, "render": render, "page": page}[args.worker](args.n)))
        return
    rows = []
    for n in args.sizes:
        row = {"products": n}
        if args.fresh or not (folder(n) / "complete").exists():
            row.update(run("write", n))
        row.update(run("fit", n))
        row.update(run("render", n))
        row.update(run("page", n))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"CPU: {cpu_name()}\n")
    print("| measure | target at 1M | " + " | ".join(f"{r['products']:,}" for r in rows) + " |")
    print("|---|---|" + "---|" * len(rows))
    targets = {"fit_and_place_s": "≤ 300", "explore_first_render_s": "≤ 3", "page_first_render_s": "≤ 3",
               "lasso_to_gallery_s": "≤ 1"}
    for key in [k for k in rows[0] if k not in ("products", "stages_s")]:
        cells = [f"{r[key]:.3g}" if isinstance(r[key], float) else f"{r[key]:,}" for r in rows]
        print(f"| {key} | {targets.get(key, '')} | " + " | ".join(cells) + " |")
    for r in rows:
        print(f"\nstages at {r['products']:,} (s): {r['stages_s']}")


def page(n: int) -> dict:
    """The Explore page itself in a fresh process (Streamlit's AppTest): its first render, which also checks
    once that the map is fresh (a digest of every product's fingerprint), then a rerun."""
    from streamlit.testing.v1 import AppTest

    from bench.common import peak_rss_mb

    os.environ.update(LENS_MODEL=MODEL, LENS_DATA_DIR=str(folder(n) / "data"), LENS_COLLECTION=COLLECTION,
                      LENS_DEVICE="cpu")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()  # the app's start: the search page, the store opened
    start = time.perf_counter()
    at.switch_page("pages/explore.py").run()
    first = time.perf_counter() - start
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert [c.key for c in charts] == ["map"], [e.value for e in at.error + at.info]
    start = time.perf_counter()
    at.run()
    return {"page_first_render_s": first, "page_rerun_s": time.perf_counter() - start,
            "page_peak_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    main()
