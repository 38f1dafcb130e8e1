"""Catalog page's near-duplicates panel, end to end with AppTest: from the click to the rendered groups.

    python -m bench.duplicates_panel [--repeats 5] [--no-baseline] [--no-browser]

The 320-product sample (`python -m core sample`) indexed with the tiny random CLIP, where threshold 0.95
makes one group of all 320 products: the case that took 91 s in issue 9. The baseline is the page as it
was before the fix (pages/catalog.py at BASELINE_COMMIT, read with `git show`), timed in the same run on
the same index; "new" is the current page. Two clocks:

- browser: `streamlit run` and headless Chromium (as tests/test_browser.py drives it), from the click on
  "Find near-duplicates" to the groups drawn with their photos loaded and the page idle. This is what a
  merchandiser waits for.
- AppTest: the server side only (script runs and element building), from the click to the rendered groups.
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

ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "0ce6750"  # the last commit with the all-at-once panel (every id, every pair, every photo)
THRESHOLD = 0.95


def cpu() -> str:
    """lscpu's model name and the SIMD flags that matter for numpy."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f in flags]
    return f"{fields.get('Model name', '?').strip()} ({os.cpu_count()} CPUs; {' '.join(simd) or 'no avx2'})"


def build_index(folder: Path) -> None:
    """The bundled sample, indexed with a tiny random CLIP into folder/data (settings via the environment)."""
    from core.embedder import load_embedder
    from core.indexer import index_catalog
    from core.random_clip import save_random_clip
    from core.sample import SAMPLE_IMAGES, ensure_sample
    from core.store import EdgeStore

    model = str(save_random_clip(folder / "model", tiny=True))
    os.environ.update(LENS_DATA_DIR=str(folder / "data"), LENS_MODEL=model, LENS_DEVICE="cpu", HF_HUB_OFFLINE="1")
    store = EdgeStore(folder / "data", "products")
    index_catalog(ensure_sample(), SAMPLE_IMAGES, load_embedder(model, "cpu"), store)
    store.close()


def baseline_page(folder: Path) -> Path | None:
    """The old Catalog page, its one moved import updated; None outside a git checkout."""
    try:
        source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:pages/catalog.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = folder / "baseline_catalog.py"
    path.write_text(source.replace("from core.search import get_products, near_duplicates",
                                   "from core.duplicates import near_duplicates\nfrom core.search import get_products"))
    return path


def _fresh_caches() -> None:
    import streamlit as st

    st.cache_data.clear()  # thumbnails: each timed run starts cold, as after a server start
    st.cache_resource.clear()


def time_baseline(page: Path) -> dict:
    from streamlit.testing.v1 import AppTest

    _fresh_caches()
    at = AppTest.from_file(str(page), default_timeout=900)
    at.run()
    at.slider(key="dup_threshold").set_value(THRESHOLD)
    started = time.perf_counter()
    at.button(key="dup_go").click().run()
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    return {"seconds": seconds, "images": len(at.image),
            "markdown_chars": sum(len(e.value) for e in [*at.markdown, *at.caption]) + sum(len(e.label) for e in at.expander)}


def time_new(poll: float) -> dict:
    """Click, then rerun every `poll` seconds (the fragment's tick) until the groups are drawn."""
    from streamlit.testing.v1 import AppTest

    _fresh_caches()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/catalog.py").run()
    at.slider(key="dup_threshold").set_value(THRESHOLD)
    started = time.perf_counter()
    at.button(key="dup_go").click().run()
    clicked = time.perf_counter() - started
    while not at.session_state["dup_job"].done:
        time.sleep(poll)
        at.run()
    if not any(m.value.startswith("**Group 1:") for m in at.markdown):
        at.run()  # the run that draws the groups once the poll sees the result
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    job = at.session_state["dup_job"]
    heading = next(m.value for m in at.markdown if m.value.startswith("**Group 1:"))
    opened = time.perf_counter()
    at.session_state[f"dup-{job.id}-1-open"] = True  # open the big group: its next 48 photos
    at.run()
    open_seconds = time.perf_counter() - opened
    assert not at.exception, at.exception
    return {"seconds": seconds, "click_run": clicked, "compute": job.seconds, "open_group": open_seconds,
            "groups": len(job.groups), "largest": len(job.groups[0].product_ids), "pairs": len(job.groups[0].pairs),
            "heading": heading, "images_after_open": len(at.image),
            "markdown_chars": sum(len(e.value) for e in [*at.markdown, *at.caption]) + sum(len(e.label) for e in at.expander)}


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]


def _serve(script: Path, port: int):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_browser(script: Path, path: str, photos: int, timeout: float = 600) -> float:
    """Seconds from the click to `photos` loaded product photos with the page idle (its script finished)."""
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
    server = _serve(script, port)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(180):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        driver.get(url + path)
        # The page redraws while it runs: an element found a moment ago may be gone; look again.
        wait = WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))

        def button(d):
            found = [b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text == "Find near-duplicates"]
            return found[0] if found else False

        def idle(d):
            return not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')

        try:
            wait.until(lambda d: button(d) and idle(d))
        except Exception:
            driver.save_screenshot("/tmp/dup_bench_fail.png")
            raise
        started = time.perf_counter()
        button(driver).click()

        def drawn(d):
            loaded = d.execute_script("return Array.from(document.querySelectorAll('[data-testid=\"stImage\"] img'))"
                                      ".filter(i => i.complete && i.naturalWidth > 0).length")
            return loaded >= photos and idle(d)

        time.sleep(0.2)  # the click's rerun has begun
        wait.until(drawn)
        return time.perf_counter() - started
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true", help="skip the old page")
    parser.add_argument("--no-browser", action="store_true", help="AppTest only (no Chromium)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from app.duplicates_panel import POLL_S

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_index(folder)
        new = [time_new(POLL_S) for _ in range(args.repeats)]
        page = None if args.no_baseline else baseline_page(folder)
        old = time_baseline(page) if page else None
        browser = None
        _fresh_caches()  # closes this process's store: the served app must be able to open the index
        if not args.no_browser:
            from app.duplicates_panel import PHOTOS

            # Fresh server for each: nothing cached. The threshold slider starts at 0.95, so a click is enough.
            runs = [time_browser(ROOT / "streamlit_app.py", "/catalog", PHOTOS) for _ in range(args.repeats)]
            browser = {"new_median_s": round(statistics.median(runs), 2), "new_runs_s": [round(r, 2) for r in runs]}
            if page:
                old_runs = [time_browser(page, "/", 320) for _ in range(min(3, args.repeats))]
                browser["baseline_median_s"] = round(statistics.median(old_runs), 2)
                browser["baseline_runs_s"] = [round(r, 2) for r in old_runs]
                browser["speedup"] = round(browser["baseline_median_s"] / browser["new_median_s"], 1)
    median = statistics.median(r["seconds"] for r in new)
    summary = {"cpu": cpu(), "command": "python -m bench.duplicates_panel " + " ".join(sys.argv[1:]), "threshold": THRESHOLD, "repeats": args.repeats,
               "new_median_s": round(median, 3), "new_runs_s": [round(r["seconds"], 3) for r in new],
               "new_compute_s": round(statistics.median(r["compute"] for r in new), 3),
               "new_open_group_s": round(statistics.median(r["open_group"] for r in new), 3),
               "new_group": {k: new[0][k] for k in ("groups", "largest", "pairs", "heading")},
               "new_markdown_chars": new[0]["markdown_chars"],
               "baseline": None if old is None else {"commit": BASELINE_COMMIT, "seconds": round(old["seconds"], 3),
                                                    "images": old["images"], "markdown_chars": old["markdown_chars"]},
               "speedup": None if old is None else round(old["seconds"] / median, 1), "browser": browser}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
