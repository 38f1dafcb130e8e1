"""Catalog page's near-duplicates panel, timed as a merchandiser waits for it: from the click to the groups on screen.

    python -m bench.duplicates_panel [--repeats 3] [--no-browser] [--products 300]

The catalogue: `--products` generated sample products (core.ingest.sample), indexed once with a randomly initialised
full-size ViT-B/32 (bench.common.vit_b32_model) through core.index.indexer, as a user's store is after `core index`
(kept in bench/out/duplicates-<n>-vit-b-32 for the next run). Such a model puts every photo above 0.95, so the
slider's default links all products into one crowded group: the case of issue 19 (15.7 s in the app).

Two page paths in the same run, on the same index:
- new: the page as it is (pairs from matrix products up to core.search.duplicates.EXACT_UP_TO products);
- baseline: the same page with EXACT_UP_TO = 0, i.e. the engine's widening neighbour queries that the page
  used before (issue 19's code path for this catalogue).
Three clocks for each:
- browser: `streamlit run` and headless Chromium, from the click on "Find near-duplicates" to the first group's
  heading on screen ("heading"), and to its photos loaded with the page idle (a fresh server each run: nothing
  cached). The baseline's server gets
  EXACT_UP_TO = 0 through a sitecustomize module on its PYTHONPATH; the app's files are untouched.
- AppTest: the page's script runs in this process, from the click to the rendered groups, polling as the page does.
- the page's own timer ("found in X s": the search thread's time), and the direct call near_duplicates().
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import OUT, vit_b32_model

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 0.95  # the slider's default: a click on the button is all the merchandiser does


def cpu() -> dict:
    """lscpu's model name, whether the flags include avx512_vnni, the CPU count and the load at the start."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"model": platform.processor() or "unknown CPU"}
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {"model": fields.get("Model name", "?").strip(),
            "avx512_vnni": "avx512_vnni" in fields.get("Flags", "").split(), "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 1)}


def build_index(products: int) -> Path:
    """The folder with data/ (the index) and sample/ (catalogue and photos); built once, then reused."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.ingest.sample import generate
    from core.index.store import EdgeStore

    folder = OUT / f"duplicates-{products}-vit-b-32"
    model = vit_b32_model()
    _use(folder, model)
    if _indexed(folder / "data" / "products" / "lens.json"):
        return folder
    csv_path = generate(folder / "sample", count=products)
    store = EdgeStore(folder / "data", "products")
    try:
        index_catalog(csv_path, folder / "sample" / "images", load_embedder(model, "cpu"), store)
    finally:
        store.close()
    return folder


def _indexed(meta_file: Path) -> bool:
    """True once an indexing run finished (an interrupted first run leaves metadata without last_indexed)."""
    try:
        return bool(json.loads(meta_file.read_text()).get("last_indexed"))
    except (OSError, ValueError):
        return False


def _use(folder: Path, model: str) -> None:
    """Settings for this process and every server it starts (core.common.config reads the environment)."""
    os.environ.update(LENS_DATA_DIR=str(folder / "data"), LENS_MODEL=model, LENS_DEVICE="cpu", HF_HUB_OFFLINE="1")
    os.environ.pop("QDRANT_URL", None)


def _engine_path(on: bool) -> None:
    from core.search import duplicates

    duplicates.EXACT_UP_TO = 0 if on else DEFAULT_EXACT_UP_TO


def _fresh_caches() -> None:
    import streamlit as st

    st.cache_data.clear()  # thumbnails: each timed run starts cold, as after a server start
    st.cache_resource.clear()  # the store too: closed, so the next run (or a served app) opens it afresh


def time_direct(engine: bool) -> dict:
    """near_duplicates() called directly on the store, as `core duplicates` does."""
    from core.search.duplicates import near_duplicates
    from core.index.store import EdgeStore

    _engine_path(engine)
    store = EdgeStore(Path(os.environ["LENS_DATA_DIR"]), "products")
    try:
        store.count()  # the shard is open before the clock starts, as in a running app
        started = time.perf_counter()
        groups = near_duplicates(store, THRESHOLD)
        return {"seconds": time.perf_counter() - started, "groups": len(groups),
                "pairs": sum(len(g.pairs) for g in groups), "largest": len(groups[0].product_ids) if groups else 0}
    finally:
        store.close()


def time_apptest(engine: bool) -> dict:
    """Click, then rerun whenever the search is done (the page's poll does the same every POLL_S)."""
    from streamlit.testing.v1 import AppTest

    from app.duplicates_panel import POLL_S

    _engine_path(engine)
    _fresh_caches()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/catalog.py").run()
    started = time.perf_counter()
    at.button(key="dup_go").click().run()
    job = at.session_state["dup_job"]
    while not any(m.value.startswith("**Group 1:") for m in at.markdown):
        job.wait(POLL_S)
        at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    _fresh_caches()
    return {"seconds": seconds, "page_timer": job.seconds, "images": len(at.image),
            "heading_text": next(m.value for m in at.markdown if m.value.startswith("**Group 1:"))}


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]


def _serve(port: int, engine: bool, folder: Path):
    path = [str(ROOT)]
    if engine:  # the baseline server: the engine's neighbour queries for every catalogue size
        (folder / "sitecustomize.py").write_text("import core.search.duplicates\ncore.search.duplicates.EXACT_UP_TO = 0\n")
        path.insert(0, str(folder))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_browser(engine: bool, photos: int, timeout: float = 600) -> dict:
    """Seconds from the click to `photos` loaded product photos with the page idle, and the page's own timer."""
    import re
    import shutil
    import socket
    import urllib.request

    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = _serve(port, engine, Path(tmp))
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(360):
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.5)
            driver.get(url + "/catalog")
            # The page redraws while it runs: an element found a moment ago may be gone; look again.
            wait = WebDriverWait(driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,))

            def button(d):
                found = [b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text == "Find near-duplicates"]
                return found[0] if found else False

            def idle(d):
                return not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')

            wait.until(lambda d: button(d) and idle(d))
            time.sleep(1.0)  # a person reads the page before clicking: the page's own loading is not on the clock
            started = time.perf_counter()
            button(driver).click()
            wait.until(lambda d: "Group 1:" in d.find_element(By.TAG_NAME, "body").text)
            heading = time.perf_counter() - started  # the groups' headings and counts are on screen

            def drawn(d):
                loaded = d.execute_script("return Array.from(document.querySelectorAll('[data-testid=\"stImage\"] img'))"
                                          ".filter(i => i.complete && i.naturalWidth > 0).length")
                return loaded >= photos and "Group 1:" in d.find_element(By.TAG_NAME, "body").text and idle(d)

            wait.until(drawn)
            seconds = time.perf_counter() - started
            found = re.search(r"found in ([0-9.]+) s", driver.find_element(By.TAG_NAME, "body").text)
            return {"seconds": seconds, "heading": heading, "page_timer": float(found.group(1)) if found else None}
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=30)


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def _summary(new: list[dict], old: list[dict]) -> dict:
    out = {"new_median_s": _median(new, "seconds"), "baseline_median_s": _median(old, "seconds"),
           "new_runs_s": [round(r["seconds"], 3) for r in new], "baseline_runs_s": [round(r["seconds"], 3) for r in old],
           "new_page_timer_s": _median(new, "page_timer"), "baseline_page_timer_s": _median(old, "page_timer"),
           "new_heading_s": _median(new, "heading"), "baseline_heading_s": _median(old, "heading")}
    if out["new_median_s"] and out["baseline_median_s"]:
        out["speedup"] = round(out["baseline_median_s"] / out["new_median_s"], 1)
    return out


DEFAULT_EXACT_UP_TO = None  # set in main from core.search.duplicates, before any path is switched


def main() -> None:
    global DEFAULT_EXACT_UP_TO
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--no-browser", action="store_true", help="AppTest and direct calls only (no Chromium)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from app.duplicates_panel import PHOTOS
    from core.search import duplicates

    DEFAULT_EXACT_UP_TO = duplicates.EXACT_UP_TO
    machine = cpu()
    build_index(args.products)
    result = {"cpu": machine, "command": "python -m bench.duplicates_panel " + " ".join(sys.argv[1:]),
              "products": args.products, "threshold": THRESHOLD}
    # Interleaved, so a change in the machine's load falls on both paths alike.
    direct_new, direct_old, app_new, app_old = [], [], [], []
    for _ in range(args.repeats):
        direct_old.append(time_direct(engine=True))
        direct_new.append(time_direct(engine=False))
        app_old.append(time_apptest(engine=True))
        app_new.append(time_apptest(engine=False))
    result["groups"] = {k: direct_new[0][k] for k in ("groups", "pairs", "largest")}
    result["same_pairs_both_paths"] = direct_new[0]["pairs"] == direct_old[0]["pairs"]
    result["heading"] = app_new[0]["heading_text"]
    result["direct"] = _summary(direct_new, direct_old)
    result["apptest"] = _summary(app_new, app_old)
    if not args.no_browser:
        browser_new, browser_old = [], []
        for _ in range(args.repeats):
            browser_old.append(time_browser(engine=True, photos=PHOTOS))
            browser_new.append(time_browser(engine=False, photos=PHOTOS))
        result["browser"] = _summary(browser_new, browser_old)
    _engine_path(False)
    result["load_1min_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
