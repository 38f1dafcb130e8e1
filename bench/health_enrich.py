"""Catalogue health and attribute enrichment at 100,000 products (issue 23): `python -m core health` cold and
warm, `python -m core enrich` of one attribute with ten values, and the Health page's first render from cache,
each beside a baseline of the same store timed in the same run.

    python -m bench.health_enrich build --n 100000   # the store: bench/out/health-enrich-100000/data
    python -m bench.health_enrich run --n 100000     # the timings (a markdown table on stdout, JSON on stderr)
    python -m bench.health_enrich clean --n 100000   # delete the store

The store is written through the store API (EdgeStore.ensure + upsert + optimize, as bench.scale and
bench.keyword_search build theirs: 100,000 products through photo decoding would take hours here), in the state a
user's index has it: the collection ensure() makes for the random full-size ViT-B/32 (bench.common.vit_b32_model,
the model the CLI then loads), the payload the indexer writes for a shop export (several photos and their sizes,
variants, statuses, prices and compare-at prices, colour statistics per photo, the keyword vector and its payload
through the indexer's own core.index.keyword_stage.add_keywords), HNSW and int8 built (optimize()), the metadata's
last_indexed set and a few runs of health history. Vectors: clustered image vectors (bench.scale.clustered_chunks,
with its near-duplicate twins, one product in 250), each product's photo rows around its hero, and each label's
prompt (the audit's and enrichment's kind of prompt, encoded once by the model itself) mixed in, so that the
audit's and enrichment's zero-shot agree with most stored labels as they would with a real CLIP. Problems are
planted at the rates in PLANTED.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import OUT, run_measured, vit_b32_model

ROOT = Path(__file__).resolve().parent.parent
DIM = 512
CHUNK = 2000
PATTERNS = ["Solid", "Striped", "Checked", "Floral", "Polka Dot", "Paisley", "Plaid", "Animal Print", "Geometric",
            "Camouflage"]
PATTERN_KNOWN = 0.4  # the share of products whose pattern the catalogue already has (enrich calibrates on them)
COLOURS = ["Red", "Blue", "Black", "White", "Green", "Navy Blue", "Pink", "Grey", "Brown", "Beige", "Yellow", "Purple"]
APPAREL = "Apparel & Accessories"
CATEGORIES = [  # (category, share, its product types)
    (APPAREL, 0.55, ["T-Shirts", "Dresses", "Shirts", "Jeans", "Jackets", "Sweaters", "Skirts", "Shorts", "Sneakers",
                     "Handbags"]),
    ("Home & Garden", 0.15, ["Cushions", "Throws", "Vases", "Lamps", "Rugs"]),
    ("Health & Beauty", 0.10, ["Lipsticks", "Perfumes", "Hair Brushes"]),
    ("Sporting Goods", 0.08, ["Yoga Mats", "Water Bottles", "Dumbbells"]),
    ("Electronics", 0.07, ["Headphones", "Phone Cases", "Chargers"]),
    ("Toys & Games", 0.05, ["Puzzles", "Plush Toys", "Board Games"]),
]
BRANDS = [f"Brand {i}" for i in range(120)]
SIZES = ["XS", "S", "M", "L", "XL"]
# Each planted problem's share of products (a shop's export, not a tidy demo): see product() for how each is made.
PLANTED = {"no_photo": 0.02, "photo_failed": 0.01, "small_photo": 0.02, "suspect_colour": 0.01,
           "suspect_category": 0.005, "no_brand": 0.03, "no_colour": 0.03, "no_description": 0.03,
           "apparel_no_size": 0.05, "apparel_no_age_group": 0.10, "apparel_no_gender": 0.05, "no_title": 0.003,
           "one_word_title": 0.01, "long_title": 0.005, "no_price": 0.01, "bad_sale_price": 0.01,
           "out_of_stock_active": 0.04, "draft": 0.05, "archived": 0.02}
HISTORY_RUNS = 6  # earlier index runs' health rows put in the metadata (the page's line chart)


def folder_for(n: int) -> Path:
    return OUT / f"health-enrich-{n}"


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_line() -> str:
    text = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx2", "fma", "avx512f", "avx512_vnni",
                                                                       "avx_vnni"))
    return f"{model}, {os.cpu_count()} logical CPUs; {shown}"


# ---- the catalogue ------------------------------------------------------------------------------------------------

def category_of(rng) -> tuple[str, str]:
    shares = [share for _, share, _ in CATEGORIES]
    category, _, types = CATEGORIES[int(rng.choice(len(CATEGORIES), p=np.array(shares) / sum(shares)))]
    return category, str(rng.choice(types))


def attributes(rng) -> dict:
    """A product's true attributes (what its photos show), drawn once; a near-duplicate twin copies them."""
    category, product_type = category_of(rng)
    colours = [str(c) for c in rng.choice(COLOURS, size=1 if rng.random() < 0.85 else 2, replace=False)]
    return {"category": category, "product_type": product_type, "colour": colours,
            "pattern": str(rng.choice(PATTERNS)), "brand": str(rng.choice(BRANDS)),
            "gender": str(rng.choice(["Women", "Men", "Unisex"])), "price": float(round(rng.uniform(5, 300), 2))}


def planted(rng) -> set[str]:
    return {kind for kind, share in PLANTED.items() if rng.random() < share}


def product(i: int, truth: dict, problems: set[str], photos_dir: Path, rng) -> tuple[dict, int]:
    """(the payload the indexer would store for product i, its number of photo rows: 0 without vectors)."""
    from core.common.fields import (
        COLOUR_STATS,
        FINGERPRINT,
        IMAGE_PATH,
        IMAGE_PROBLEM,
        MATCHED_PHOTOS,
        PAYLOAD_HASH,
        PHOTO_COLOURS,
        PHOTO_DIGESTS,
        PHOTO_PROBLEMS,
        PHOTO_SIZES,
        PHOTOS,
        SHARED_PHOTOS,
        TEXT_ONLY,
    )
    from core.ingest.colour_stats import reference_lab

    apparel = truth["category"] == APPAREL
    handle = f"p-{i:06d}"
    title = f"{truth['brand']} {truth['colour'][0]} {truth['pattern']} {truth['product_type'][:-1]}"
    if "no_title" in problems:
        title = ""
    elif "one_word_title" in problems:
        title = truth["product_type"]
    elif "long_title" in problems:
        title = (title + " with a long marketing description in the title ") * 3
    price = truth["price"]
    status = "draft" if "draft" in problems else "archived" if "archived" in problems else "active"
    in_stock = not ("out_of_stock_active" in problems and status == "active") and (
        status == "active" or rng.random() < 0.5)
    sizes = [] if not apparel or "apparel_no_size" in problems else list(rng.choice(SIZES, size=3, replace=False))
    variants = []
    for k, size in enumerate(sizes or [""]):
        variant = {"sku": f"{handle.upper()}-{k}", "price": price,
                   "inventory": float(rng.integers(1, 20)) if in_stock else 0.0}
        if size:
            variant["size"] = str(size)
        variants.append(variant)
    payload = {"product_id": handle, "title": title, "brand": truth["brand"], "product_type": truth["product_type"],
               "category": truth["category"], "tags": ["new-in"] if rng.random() < 0.3 else [], "status": status,
               "sku": [v["sku"] for v in variants], "variants": variants,
               "inventory": float(sum(v["inventory"] for v in variants)), "in_stock": "yes" if in_stock else "no",
               "colour": truth["colour"], "price": price}
    if "no_description" not in problems:
        payload["description"] = f"A {truth['pattern'].lower()} {truth['product_type'].lower()[:-1]} from " \
                                 f"{truth['brand']}, made to last."
    if apparel:
        payload["size"] = [str(s) for s in sizes]
        if "apparel_no_gender" not in problems:
            payload["gender"] = truth["gender"]
        if "apparel_no_age_group" not in problems:
            payload["age_group"] = "adult"
    if "no_brand" in problems:
        del payload["brand"]
    if "no_colour" in problems:
        del payload["colour"]
    if "no_price" in problems:
        del payload["price"]
        for v in variants:
            v.pop("price")
    elif "bad_sale_price" in problems:
        payload["compare_at_price"] = price if rng.random() < 0.5 else round(price * 0.8, 2)
    elif rng.random() < 0.2:
        payload["compare_at_price"] = round(price * 1.25, 2)
        payload["on_sale"], payload["discount"] = "yes", 20.0
    if rng.random() < PATTERN_KNOWN:
        payload["pattern"] = truth["pattern"]
    count = 0 if {"no_photo", "photo_failed"} & problems else int(rng.choice([1, 2, 3, 4, 5], p=[.3, .25, .2, .15, .1]))
    refs = [str(photos_dir / f"{handle}-{k}.jpg") for k in range(max(count, 1 if "photo_failed" in problems else 0))]
    payload.update({IMAGE_PATH: refs[0] if count else "", PHOTOS: refs, PAYLOAD_HASH: f"h{i}",
                    FINGERPRINT: f"f{i}:{i}", TEXT_ONLY: count == 0})
    if "photo_failed" in problems:
        payload[IMAGE_PROBLEM] = "cannot identify image file (not a photo, or a damaged one)"
    if count:
        shown = truth["colour"][0]
        if "suspect_colour" in problems:
            shown = COLOURS[(COLOURS.index(shown) + 6) % len(COLOURS)]
        stats = [[*(round(x, 1) for x in reference_lab(shown)), 0.8], [97.0, 0.0, 0.0, 0.15]]
        small = "small_photo" in problems
        sizes_px = {}
        for k, ref in enumerate(refs):
            side = (200 if apparel else 90) if small and k == 0 else int(rng.choice([800, 1000, 1200, 2048]))
            sizes_px[ref] = [side, side if k else int(side * 1.25)]
        payload.update({COLOUR_STATS: stats, MATCHED_PHOTOS: refs, PHOTO_DIGESTS: [f"{i:064x}"[:60] + f"{k:04d}"
                                                                                    for k in range(count)],
                        PHOTO_COLOURS: [stats] * count, SHARED_PHOTOS: [], PHOTO_PROBLEMS: {},
                        PHOTO_SIZES: sizes_px})
    return payload, count


# ---- the vectors: clustered, each label's prompt mixed in ----------------------------------------------------------

def label_prompts(embedder) -> dict[str, dict[str, np.ndarray]]:
    """field -> label -> the label's prompt vector, centred on the field's mean and unit length: what separates
    one label from the others in this model's space (the audit's prompts; for pattern, enrichment's kind)."""
    from core.insights.audit import PROMPTS

    fields = {"colour": COLOURS, "category": [c for c, _, _ in CATEGORIES],
              "product_type": sorted({t for _, _, ts in CATEGORIES for t in ts}), "pattern": PATTERNS}
    templates = {"colour": PROMPTS["colour"], "category": PROMPTS["category"], "product_type": PROMPTS["category"],
                 "pattern": "a photo of a {label} product"}
    out = {}
    for field, labels in fields.items():
        vectors = embedder.encode_texts([templates[field].format(label=label) for label in labels])
        centred = vectors - vectors.mean(axis=0)
        centred /= np.linalg.norm(centred, axis=1, keepdims=True)
        out[field] = dict(zip(labels, centred))
    return out


def mixed(base: np.ndarray, truth: dict, prompts: dict, wrong_category: bool) -> np.ndarray:
    """The base vector with each of the product's labels' prompt directions added (weight 0.5 each)."""
    v = base.copy()
    for field in ("colour", "pattern", "product_type", "category"):
        label = truth[field][0] if field == "colour" else truth[field]
        if wrong_category and field == "category":
            names = list(prompts[field])
            label = names[(names.index(label) + 1) % len(names)]
        v += 0.5 * prompts[field][label]
    return v / np.linalg.norm(v)


# ---- the store -----------------------------------------------------------------------------------------------------

def build(n: int, log) -> dict:
    """Write n products to a fresh embedded store in the data dir, optimize, stamp last_indexed."""
    from bench.keyword_search import link_export
    from bench.scale import TWIN_EVERY, clustered_chunks
    from core.common.fields import PHOTO_VECTORS, Schema
    from core.index.keyword_stage import add_keywords
    from core.index.store import EdgeStore, StoredPoint, point_id
    from core.models.embedder import load_embedder

    folder = folder_for(n)
    data = folder / "data"
    shutil.rmtree(folder, ignore_errors=True)
    data.mkdir(parents=True)
    model = vit_b32_model()
    log(f"onnx export linked from {link_export(data) or 'nowhere (the first load exports)'}")
    t = time.perf_counter()
    embedder = load_embedder(model, "cpu", "auto", data)
    prompts = label_prompts(embedder)
    took = {"model_and_prompts_s": time.perf_counter() - t, "runtime": embedder.runtime}
    store = EdgeStore(data)
    store.ensure(model, DIM, expected_points=n)
    store.add_fields(Schema(keyword=("gender", "category", "product_type", "colour", "brand", "tags", "in_stock",
                                     "status", "sku", "on_sale", "size", "age_group", "pattern"),
                            number=("price", "inventory", "compare_at_price", "discount"),
                            text=("title", "description"), flags=("in_stock", "on_sale")))
    rng = np.random.default_rng(23)
    counts = {kind: 0 for kind in PLANTED}
    rows = 0
    took["write_s"] = 0.0
    start = time.perf_counter()
    for lo, image, text, _ in clustered_chunks(n, seed=23, chunk=CHUNK):
        points, truth = [], None
        for j in range(len(image)):
            i = lo + j
            if j % TWIN_EVERY != 1 or truth is None:  # a twin (a re-shot listing) keeps the one before it's labels
                truth = attributes(rng)
            problems = planted(rng)
            for kind in problems:
                counts[kind] += 1
            payload, photos = product(i, truth, problems, folder / "photos", rng)
            vectors = {"text": text[j]}
            if photos:
                hero = mixed(image[j], truth, prompts, "suspect_category" in problems)
                others = hero + rng.normal(scale=0.6 / np.sqrt(DIM), size=(photos - 1, DIM)).astype(np.float32)
                others /= np.linalg.norm(others, axis=1, keepdims=True)
                vectors.update({"image": hero, PHOTO_VECTORS: np.vstack([hero[None, :], others])})
                rows += photos
            points.append(StoredPoint(point_id(payload["product_id"]), vectors, payload))
        add_keywords(points)
        t = time.perf_counter()
        store.upsert(points)
        took["write_s"] += time.perf_counter() - t
        if (lo + len(image)) % 20_000 == 0:
            log(f"wrote {lo + len(image):,} products ({time.perf_counter() - start:.0f} s, load {load_average():.1f})")
    took["generate_and_write_s"] = time.perf_counter() - start
    t = time.perf_counter()
    store.optimize()
    took["optimize_s"] = time.perf_counter() - t
    log(f"optimize {took['optimize_s']:.0f} s")
    now = time.time()
    history = [{"indexed_at": now - 86400 * (HISTORY_RUNS - k), "checked_at": now - 86400 * (HISTORY_RUNS - k) + 60,
                "products": n - 500 * (HISTORY_RUNS - k), "score": round(60 + 2 * k, 1), "counts": {}}
               for k in range(HISTORY_RUNS)]
    store.update_meta(last_indexed=now, catalog=str(folder / "products_export.csv"), health_history=history)
    store.close()
    took.update(products=n, photo_rows=rows, planted=counts,
                disk_mb=round(sum(f.stat().st_blocks * 512 for f in data.rglob("*")
                                     if f.is_file() and "onnx" not in f.parts) / 2**20))
    (folder / "build.json").write_text(json.dumps(took, indent=1))
    return took


# ---- the timings ---------------------------------------------------------------------------------------------------

def env_for(n: int) -> dict:
    """A user's CLI environment on this CPU: the random full-size ViT-B/32, runtime auto, the store's data dir."""
    return dict(os.environ, LENS_MODEL=vit_b32_model(), LENS_DATA_DIR=str(folder_for(n) / "data"), LENS_DEVICE="cpu",
                PYTHONPATH=str(ROOT))


def cli(n: int, *args: str) -> dict:
    """One `python -m core ARGS` in a fresh process: wall seconds, peak memory, load before and after, its JSON."""
    load = load_average()
    done = run_measured([sys.executable, "-m", "core", *args], env_for(n))
    if done["returncode"] != 0:
        raise SystemExit(f"python -m core {' '.join(args)} failed ({done['returncode']}):\n{done['stderr'][-3000:]}")
    try:
        output = json.loads(done["stdout"])
    except ValueError:
        output = None
    return {"seconds": round(done["seconds"], 2), "peak_anon_mb": round(done["peak_anon_mb"]),
            "peak_rss_mb": round(done["peak_rss_mb"]), "load": [load, load_average()], "json": output,
            "stderr": done["stderr"][-600:]}


SCROLL = """
import json, sys, time
t0 = time.perf_counter()
from core.common.config import Settings
from core.cli.common import open_reader
store = open_reader(Settings.from_env())
t1 = time.perf_counter()
count = sum(1 for _ in store.scroll(page=1000))
store.close()
print(json.dumps({"products": count, "open_s": t1 - t0, "scroll_s": time.perf_counter() - t1}))
"""

ENRICH_IN_PROCESS = """
import json, sys, time
t0 = time.perf_counter()
import PIL.Image
opened = []
real_open = PIL.Image.open
def counting_open(*a, **k):
    opened.append(str(a[0])[:200] if a else "")
    return real_open(*a, **k)
PIL.Image.open = counting_open
from core.common.config import Settings
from core.cli.common import open_reader, model_for
from core.insights.enrich import enrich
settings = Settings.from_env()
store = open_reader(settings)
t1 = time.perf_counter()
encoder = model_for(settings)
t2 = time.perf_counter()
encoded = [0, 0.0]
real_encode = encoder.encode_texts
def timed_encode(texts, *a, **k):
    start = time.perf_counter()
    try:
        return real_encode(texts, *a, **k)
    finally:
        encoded[0] += len(texts)
        encoded[1] += time.perf_counter() - start
encoder.encode_texts = timed_encode
result = enrich(store, encoder, "pattern", sys.argv[1].split(","), source="photo")
t3 = time.perf_counter()
store.close()
print(json.dumps({"imports_and_open_s": t1 - t0, "model_s": t2 - t1, "enrich_s": t3 - t2,
                  "prompt_texts": encoded[0], "prompts_s": encoded[1],
                  "images_opened": len(opened), "first_opened": opened[:3], "summary": result.summary}))
"""

PROFILE_HEALTH = """
import cProfile, io, json, pstats, time
from core.common.config import Settings
from core.cli.common import open_reader, model_for
from core.insights.health import check_health
settings = Settings.from_env()
store = open_reader(settings)
profile = cProfile.Profile()
start = time.perf_counter()
profile.enable()
check_health(store, settings.data_dir, encoder=lambda: model_for(settings))
profile.disable()
seconds = time.perf_counter() - start
store.close()
text = io.StringIO()
pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
print(text.getvalue())
print(json.dumps({"check_health_s": seconds}))
"""

PAGE = """
import json, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=300)
at.switch_page("pages/health.py")
t1 = time.perf_counter()
at.run()
t2 = time.perf_counter()
assert not at.exception, at.exception
shown = [m.value for m in at.metric] + [m.value for m in at.markdown][:20]
at.run()
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_render_s": t2 - t1, "rerun_s": t3 - t2,
                  "errors": [e.value for e in at.error], "shown": [str(s)[:120] for s in shown[:8]]}}))
"""


def python(n: int, code: str, *args: str) -> dict:
    """A Python snippet in a fresh process with the CLI's environment; its last line's JSON, wall and memory."""
    load = load_average()
    done = run_measured([sys.executable, "-c", code, *args], env_for(n))
    if done["returncode"] != 0:
        raise SystemExit(f"snippet failed ({done['returncode']}):\n{done['stderr'][-3000:]}")
    out = json.loads(done["stdout"].strip().splitlines()[-1])
    if len(done["stdout"].strip().splitlines()) > 1:
        print(done["stdout"], file=sys.stderr)  # a profile printed before the JSON
    out.update(wall_s=round(done["seconds"], 2), peak_anon_mb=round(done["peak_anon_mb"]), load=[load, load_average()])
    return out


def page_in_browser(n: int) -> dict:
    """`streamlit run` driven by headless Chromium (bench.app_scale's way): /health opened on a fresh server, then
    again in a new session; seconds from asking for the page to its score showing, the script run finished."""
    from selenium.webdriver.common.by import By

    from bench.app_scale import MemoryWatch, browser, timed_page
    from tests.conftest import free_port, wait_healthy

    port = free_port()
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                            "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env_for(n), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    url, driver, out = f"http://127.0.0.1:{port}", None, {"load": [load_average()]}
    try:
        wait_healthy(url, app)
        watch = MemoryWatch(app.pid)
        driver = browser()

        def score(d):
            return d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')

        out["fresh_server_s"] = round(timed_page(driver, url + "/health", score), 2)
        out["again_s"] = round(timed_page(driver, url + "/health", score), 2)
        out["errors"] = [e.text[:300] for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]')]
        out["metrics"] = [e.text[:80] for e in score(driver)][:4]
        driver.save_screenshot(str(folder_for(n) / "health-page.png"))
        out.update(watch.stop())
    finally:
        if driver is not None:
            driver.quit()
        app.terminate()
        app.wait(timeout=30)
    out["load"].append(load_average())
    return out


def clear_caches(n: int) -> None:
    """Empty the health caches (the cold run: near-duplicate pairs and the audit computed again)."""
    shutil.rmtree(folder_for(n) / "data" / "health", ignore_errors=True)


def clear_reports(n: int) -> None:
    """Delete the cached reports only: the next check scrolls every payload again and reuses the near-duplicate
    pairs and the audit from their caches (the issue's warm case)."""
    for path in (folder_for(n) / "data" / "health").rglob("report-*.json"):
        path.unlink()


def summary_of(report: dict | None) -> dict:
    if not report:
        return {}
    return {"products": report.get("products"), "score": report.get("score"),
            "counts": {p["kind"]: p["count"] for p in report.get("problems", [])}}


def run(n: int, parts: list[str], repeats: int, log) -> dict:
    values = ",".join(PATTERNS)
    out: dict = {"cpu": cpu_line(), "products": n, "started": time.strftime("%H:%M UTC", time.gmtime())}
    log(out["cpu"], f"load {load_average():.1f}")
    if "baseline" in parts:
        out["stats"] = cli(n, "stats", "--json")
        log("stats", out["stats"]["seconds"], out["stats"]["load"])
        out["scroll"] = python(n, SCROLL)
        log("scroll", out["scroll"])
        out["search"] = cli(n, "search", "--meaning-only", "a striped summer dress", "--json")
        log("search", out["search"]["seconds"], out["search"]["load"])
    if "health" in parts:
        clear_caches(n)
        out["health_cold"] = cli(n, "health", "--json")
        log("health cold", out["health_cold"]["seconds"], out["health_cold"]["load"])
        out["health_reused"] = []
        for _ in range(repeats):
            clear_reports(n)
            out["health_reused"].append(cli(n, "health", "--json"))
        log("health reused", [r["seconds"] for r in out["health_reused"]], [r["load"] for r in out["health_reused"]])
        out["health_cached"] = cli(n, "health", "--json")
        log("health cached", out["health_cached"]["seconds"], out["health_cached"]["load"])
        out["health_summary"] = summary_of(out["health_cached"]["json"])
        for row in [out["health_cold"], *out["health_reused"], out["health_cached"]]:
            row["json_bytes"] = len(json.dumps(row.pop("json")))
        log("health", json.dumps(out["health_summary"]))
    if "enrich" in parts:
        out["enrich"] = [cli(n, "enrich", "--attribute", "pattern", "--values", values, "--json")
                        for _ in range(repeats)]
        for row in out["enrich"]:
            report = row.pop("json") or {}
            row["summary"] = report.get("summary")
            row["proposals"] = len(report.get("proposals", []))
        log("enrich", [(r["seconds"], r["load"], r["summary"]) for r in out["enrich"]])
        out["enrich_in_process"] = python(n, ENRICH_IN_PROCESS, values)
        log("enrich in process", out["enrich_in_process"])
    if "profile" in parts:  # where a check's seconds go: in-process, report cache deleted (cold with --cold)
        clear_reports(n)
        out["health_profile"] = python(n, PROFILE_HEALTH)
        log("health profile", out["health_profile"])
    if "page" in parts:
        out["page"] = [python(n, PAGE.format(app=str(ROOT / "streamlit_app.py"))) for _ in range(repeats)]
        log("page", out["page"])
        out["browser"] = page_in_browser(n)
        log("browser", out["browser"])
    return out


def report(r: dict) -> None:
    """The figures as markdown, each with its load average and its ratio to the baselines of the same run."""
    def load(row) -> str:
        return f"{min(row['load']):.1f}–{max(row['load']):.1f}"

    def line(label: str, seconds: float, row: dict, ratio: str = "") -> None:
        print(f"| {label} | **{seconds:.2f}** | {row.get('peak_anon_mb', '')} | {load(row)} | {ratio} |")

    print(f"CPU: {r['cpu']}; {r['products']:,} products; started {r['started']}\n")
    print("| measure | seconds | peak anon MiB | load | ratio |\n|---|---|---|---|---|")
    stats = r.get("stats", {}).get("seconds")
    scroll = r.get("scroll", {}).get("wall_s")
    search = r.get("search", {}).get("seconds")

    def to_baselines(seconds: float) -> str:
        return f"{seconds / stats:.1f}× stats, {seconds / scroll:.1f}× scroll" if stats else ""

    if stats:
        line("`python -m core stats --json` (baseline)", stats, r["stats"], "1.0")
        line("every payload scrolled, fresh process (baseline)", scroll, r["scroll"],
             f"the scroll alone {r['scroll']['scroll_s']:.2f} s")
        line("`python -m core search --meaning-only TEXT --json` (baseline: start, model, one query)", search,
             r["search"], "1.0")
    if "health_cold" in r:
        line("`health --json`, caches empty (cold)", r["health_cold"]["seconds"], r["health_cold"],
             to_baselines(r["health_cold"]["seconds"]))
    for k, row in enumerate(r.get("health_reused", [])):
        line(f"`health --json`, near-duplicates and audit from their caches (run {k + 1})", row["seconds"], row,
             to_baselines(row["seconds"]))
    if "health_cached" in r:
        line("`health --json`, the whole report cached", r["health_cached"]["seconds"], r["health_cached"],
             to_baselines(r["health_cached"]["seconds"]))
    for k, row in enumerate(r.get("enrich", [])):
        line(f"`enrich --attribute pattern --values` (10) `--json` (run {k + 1})", row["seconds"], row,
             f"{row['seconds'] / search:.1f}× search" if search else "")
    for k, row in enumerate(r.get("page", [])):
        line(f"Health page, AppTest, first render from cache (process {k + 1})", row["first_render_s"], row,
             f"imports {row['import_s']:.2f} s, rerun {row['rerun_s']:.2f} s")
    if "browser" in r:
        b = r["browser"]
        line("Health page in Chromium (`streamlit run`), /health on a fresh server, to the score showing",
             b["fresh_server_s"], b)
        line("the same page again, a new session", b["again_s"], b)
    if "enrich_in_process" in r:
        e = r["enrich_in_process"]
        print(f"\nenrich in process: imports and store {e['imports_and_open_s']:.2f} s, model {e['model_s']:.2f} s, "
              f"enrich() {e['enrich_s']:.2f} s (encoding {e.get('prompt_texts')} prompt texts "
              f"{e.get('prompts_s', 0):.2f} s); images opened: {e['images_opened']}; summary {e['summary']}")
    for row in r.get("enrich", [])[:1]:
        print(f"\nenrich: {row['proposals']} proposals; summary {row['summary']}")
    if "health_summary" in r:
        print(f"\nhealth: {json.dumps(r['health_summary'])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["build", "run", "clean"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--parts", nargs="*", default=["baseline", "health", "enrich", "page"])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each warm figure")
    args = parser.parse_args()
    log = lambda *a: print("#", *a, file=sys.stderr, flush=True)
    if args.action == "clean":
        shutil.rmtree(folder_for(args.n), ignore_errors=True)
    elif args.action == "build":
        log(cpu_line(), f"load {load_average():.1f}")
        print(json.dumps(build(args.n, log)))
    else:
        result = run(args.n, args.parts, args.repeats, log)
        print(json.dumps(result), file=sys.stderr)
        report(result)


if __name__ == "__main__":
    main()
