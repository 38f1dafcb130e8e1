"""Indexing a catalogue whose photos are URLs vs the same catalogue from local files, end to end through the CLI.

    python -m bench.url_ingest [--n 2000] [--latency 0.05]

A local HTTP server on 127.0.0.1 serves the photos with `--latency` seconds added to every request. Each run is
`python -m core index --catalog … --json` on a fresh data dir with a randomly initialised full-size ViT-B/32:
local files, then URLs (cold cache), then the same URL catalogue again (it must fetch nothing).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class PhotoServer(ThreadingHTTPServer):
    """Serves files of one folder with a fixed added latency, counting requests."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, folder: Path, latency: float):
        self.folder, self.latency, self.requests = folder, latency, 0
        self.count_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), PhotoHandler)


class PhotoHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        with self.server.count_lock:
            self.server.requests += 1
        time.sleep(self.server.latency)
        path = self.server.folder / Path(self.path).name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def write_catalogs(folder: Path, photos: list[Path], base_url: str) -> tuple[Path, Path]:
    """The same products twice: photos as local file names, and as URLs on the photo server."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ["sku", "title", "brand", "price", "image"]
    paths = []
    for name, image_of in (("local.csv", lambda p: p.name), ("urls.csv", lambda p: f"{base_url}/{p.name}")):
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for i, photo in enumerate(photos):
                writer.writerow([f"SKU-{i}", f"Product {i} in striped cotton", ["Nike", "Puma", "Mango"][i % 3],
                                 f"{10 + i % 90}.99", image_of(photo)])
        paths.append(path)
    return paths[0], paths[1]


def index(catalog: Path, images: Path, data_dir: Path, model: str) -> dict:
    """One real `python -m core index` run; its JSON report plus the wall time the user waited."""
    env = dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu",
               LENS_ALLOW_PRIVATE_URLS="1")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog), "--images", str(images),
                          "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"index failed: {out.stderr}")
    report = json.loads(out.stdout)
    report["wall"] = wall
    return report


def main() -> None:
    from bench.common import OUT, photos, vit_b32_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    model, shots = vit_b32_model(), photos(args.n)
    work = OUT / "url-ingest"
    shutil.rmtree(work, ignore_errors=True)
    server = PhotoServer(shots[0].parent, args.latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    local_csv, url_csv = write_catalogs(work, shots, f"http://127.0.0.1:{server.server_address[1]}")
    rows = {}
    rows["local files"] = index(local_csv, shots[0].parent, work / "data-local", model)
    before = server.requests
    rows["URLs, cold cache"] = index(url_csv, shots[0].parent, work / "data-urls", model)
    cold_requests = server.requests - before
    before = server.requests
    rows["URLs, re-run"] = index(url_csv, shots[0].parent, work / "data-urls", model)
    rerun_requests = server.requests - before
    server.shutdown()
    base = args.n / rows["local files"]["wall"]
    print(f"{args.n} products, {args.latency * 1000:.0f} ms added per photo request\n")
    print("| run | wall s | products/s | ratio to local files | indexed | unchanged | text-only | requests |")
    print("|---|---|---|---|---|---|---|---|")
    requests = {"local files": 0, "URLs, cold cache": cold_requests, "URLs, re-run": rerun_requests}
    for name, r in rows.items():
        rate = args.n / r["wall"]
        print(f"| {name} | {r['wall']:.1f} | {rate:.1f} | {rate / base:.2f} | {r['indexed']} | {r['unchanged']} | "
              f"{r['text_only']} | {requests[name]} |")


if __name__ == "__main__":
    main()
