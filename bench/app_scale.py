"""The app on a large store, as a merchandiser meets it: the map built by the CLI, then `streamlit run` driven by
headless Chromium through Search (a text query, then browsing sorted by price) and Explore, with the app
process's peak memory and Explore's first render time.

    python -m bench.scale --sizes 1000000        # writes bench/out/scale-1000000 (vectors, attributes, prices)
    python -m bench.app_scale --data-dir bench/out/scale-1000000

The store's model is the random tiny-512 CLIP (bench.common.tiny_512_model): queries are encoded through the real
code path at a tiny model's cost; the results mean nothing. Peak RSS counts the store's memory-mapped files,
which the kernel can drop and re-read; peak anonymous memory is what the app process itself allocated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import run_measured, tiny_512_model

ROOT = Path(__file__).resolve().parent.parent


class MemoryWatch:
    """Samples a process's RssAnon and VmHWM from /proc until stopped."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s = pid, every_s
        self.peak_anon_kb = self.peak_rss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        self.peak_anon_kb = max(self.peak_anon_kb, int(line.split()[1]))
                    elif line.startswith("VmHWM:"):
                        self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
            except OSError:
                return
            time.sleep(self.every_s)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"peak_anon_mb": round(self.peak_anon_kb / 1024), "peak_rss_mb": round(self.peak_rss_kb / 1024)}


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.conftest import CHROME_FLAGS

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def idle(driver, seconds: float = 300) -> None:
    """Until the page's script run has finished (no running indicator twice in a row)."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = ("return !!document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunning"
              "Icon\"], [data-testid=\"stStatusWidgetStopButton\"]')")
    for _ in range(2):
        time.sleep(0.3)
        WebDriverWait(driver, seconds).until(lambda d: not d.execute_script(script))


def timed_page(driver, url: str, ready) -> float:
    """Seconds from asking for a page to `ready(driver)` being true with the script run finished."""
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.perf_counter()
    driver.get(url)
    WebDriverWait(driver, 300, poll_frequency=0.05).until(ready)
    seconds = time.perf_counter() - start
    idle(driver)
    return seconds


def main() -> None:
    from selenium.webdriver.common.by import By

    from tests.conftest import free_port, wait_healthy

    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "scale-1000000")
    parser.add_argument("--shot", type=Path, help="save a screenshot of Explore here")
    args = parser.parse_args()
    env = dict(os.environ, LENS_MODEL=tiny_512_model(), LENS_DATA_DIR=str(args.data_dir.resolve()), LENS_DEVICE="cpu")
    out = {}
    mapped = run_measured([sys.executable, "-m", "core", "map", "--json"], env)
    if mapped["returncode"] != 0:
        raise SystemExit(mapped["stderr"][-3000:])
    out["map_cli"] = {"seconds": round(mapped["seconds"], 1), "peak_anon_mb": round(mapped["peak_anon_mb"]),
                      "peak_rss_mb": round(mapped["peak_rss_mb"])}
    print(json.dumps(out), file=sys.stderr)

    port = free_port()
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                            "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    driver = None
    try:
        wait_healthy(url, app)
        watch = MemoryWatch(app.pid)
        driver = browser()

        def titles(d):
            return d.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong')

        out["search_first_s"] = round(timed_page(driver, url + "/search?q=red+summer+dress", titles), 2)
        out["search_again_s"] = round(timed_page(driver, url + "/search?q=black+leather+bag", titles), 2)
        out["browse_by_price_s"] = round(timed_page(driver, url + "/search?sort=-price&filter.gender=Women",
                                                    titles), 2)
        out["search_page"] = watch.stop()
        watch = MemoryWatch(app.pid)

        def plotted(d):
            return d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")

        out["explore_first_render_s"] = round(timed_page(driver, url + "/explore", plotted), 2)
        out["explore_again_s"] = round(timed_page(driver, url + "/explore", plotted), 2)
        if args.shot:
            driver.save_screenshot(str(args.shot))
        out["with_explore"] = watch.stop()
    finally:
        if driver is not None:
            driver.quit()
        app.terminate()
        app.wait(timeout=30)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
