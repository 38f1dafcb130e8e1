"""CPU a Streamlit server burns while idle after one search: this project's config vs the file watcher on.

    python -m bench.idle_cpu [--seconds 30]

Each mode starts `streamlit run streamlit_app.py` (the README's command) on the indexed 320-product sample
with the tiny offline model, opens the Search page in headless Chromium, runs one search, waits until the
results are drawn, closes the browser, and then reads the server's CPU time (with its children) over
--seconds of idling. The baseline is the same server with Streamlit's default file watcher
(`--server.fileWatcherType auto`), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _one_search(url: str) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import CHROME_FLAGS

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url + "/?q=red+dress")
        WebDriverWait(driver, 90).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"] img')) >= 6)
    finally:
        driver.quit()


def measure(env: dict, extra: list[str], seconds: float) -> float:
    """Percent of one core used by the idle server over `seconds`, after one search."""
    from tests.conftest import free_port, wait_healthy

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        _one_search(url)
        time.sleep(3)  # let the last rerun finish
        server = psutil.Process(proc.pid)
        before, started = _cpu_seconds(server), time.perf_counter()
        time.sleep(seconds)
        return 100 * (_cpu_seconds(server) - before) / (time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from tests.helpers.random_clip import save_random_clip
    from core.ingest.sample import SAMPLE_IMAGES, ensure_sample
    from core.index.store import EdgeStore

    # The data dir inside the project, where the README's default (.lens) puts it, beside .venv.
    data = ROOT / "bench" / "out" / "idle-data"
    shutil.rmtree(data, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(save_random_clip(Path(tmp) / "tiny", tiny=True))
        store = EdgeStore(data)
        index_catalog(ensure_sample(), SAMPLE_IMAGES, load_embedder(model, "cpu"), store)
        store.close()
        env = dict(os.environ, LENS_MODEL=model, LENS_DATA_DIR=str(data), LENS_DEVICE="cpu", PYTHONPATH=str(ROOT))
        watcher = measure(env, ["--server.fileWatcherType", "auto", "--server.runOnSave", "false"], args.seconds)
        ours = measure(env, [], args.seconds)
    shutil.rmtree(data, ignore_errors=True)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    print(f"CPU: {model_name}; {args.seconds:.0f} s idle after one search")
    print("| server | idle CPU (% of one core) |")
    print("|---|---|")
    print(f"| file watcher on (Streamlit's default, baseline) | {watcher:.1f} |")
    print(f"| this project's config (`fileWatcherType = \"none\"`) | {ours:.1f} |")


if __name__ == "__main__":
    main()
