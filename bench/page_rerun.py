"""Search page speed with AppTest: rerun after a filter change, and cold start to the first rendered page.

    python -m bench.page_rerun [--n 5000] [--reruns 30]

Tiny offline CLIP (so model encoding is negligible), n products indexed in a temp data dir.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_index(n: int, data_dir: Path, model: str) -> None:
    """n products cycling through the sample photos, indexed with the tiny model."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.ingest.sample import SAMPLE_CSV, SAMPLE_IMAGES
    from core.index.store import EdgeStore

    with open(SAMPLE_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    path = data_dir / "catalog.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(n):
            row = dict(rows[i % len(rows)])
            row["ProductId"] = str(100000 + i)
            writer.writerow(row)
    store = EdgeStore(data_dir, "products")
    index_catalog(path, SAMPLE_IMAGES, load_embedder(model, "cpu"), store, batch_size=64)
    store.close()


def rerun_times(reruns: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["q"] = "summer dress"
    at.run()
    assert not at.exception, at.exception
    times = []
    choices = [["Women"], ["Men"], ["Women", "Girls"], []]
    for i in range(reruns):
        at.sidebar.multiselect(key="f_gender").set_value(choices[i % len(choices)])
        t = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t) * 1000)
        assert not at.exception
    return times


def cold_start_seconds(env: dict) -> float:
    """A new Python process: import, load the model, render the search page with results."""
    code = ("import time; t=time.perf_counter(); from streamlit.testing.v1 import AppTest; "
            f"at=AppTest.from_file({str(ROOT / 'streamlit_app.py')!r}, default_timeout=120); "
            "at.query_params['q']='summer dress'; at.run(); assert not at.exception; "
            "print(time.perf_counter()-t)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--reruns", type=int, default=30)
    args = parser.parse_args()
    from tests.helpers.random_clip import save_random_clip

    work = Path(tempfile.mkdtemp(prefix="bench-page-"))
    model = str(save_random_clip(work / "model", tiny=True))
    data = work / "data"
    data.mkdir()
    os.environ.update(LENS_MODEL=model, LENS_DATA_DIR=str(data), LENS_DEVICE="cpu")
    build_index(args.n, data, model)
    times = sorted(rerun_times(args.reruns))
    process_s, in_process_s = cold_start_seconds(dict(os.environ))
    print(json.dumps({"products": args.n, "rerun_p50_ms": round(statistics.median(times), 1),
                      "rerun_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
                      "cold_start_process_s": round(process_s, 2), "cold_start_first_page_s": round(in_process_s, 2)}))


if __name__ == "__main__":
    main()
