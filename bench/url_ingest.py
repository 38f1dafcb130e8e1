"""Indexing a catalogue whose photos are URLs vs the same catalogue from local files, end to end through the CLI.

    python -m bench.url_ingest [--n 2000] [--latency 0.05]
    python -m bench.url_ingest --n 64 --latency 0 --png-side 6300    # near-cap photos: peak memory

A local HTTP server on 127.0.0.1 serves the photos with `--latency` seconds added to every request. Each run is
`python -m core index --catalog … --json` on a fresh data dir with a randomly initialised full-size ViT-B/32:
local files, then URLs (cold cache), then the same URL catalogue again (it must fetch nothing). Each run's peak
RSS is its own (os.wait4). With --png-side, the photos are one-colour PNGs of that side: small on the wire, but
side x side pixels decoded (6300 x 6300 is just under the 40 MP cap), so the peak shows the decoded pixels in flight.
"""

from __future__ import annotations

import argparse
import csv
import io
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
        self.send_header("Content-Type", "image/png" if path.suffix == ".png" else "image/jpeg")
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
    """One real `python -m core index` run; its JSON report plus the wall time the user waited and its peak RSS."""
    env = dict(os.environ, LENS_DATA_DIR=str(data_dir), LENS_MODEL=model, LENS_DEVICE="cpu",
               LENS_ALLOW_PRIVATE_URLS="1")
    start = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "index-stderr.txt", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "core", "index", "--catalog", str(catalog), "--images",
                                 str(images), "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this run's own peak, not the largest of every child's
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"index failed: {err.read()}")
    report = json.loads(out)
    report["wall"], report["peak_mib"] = wall, usage.ru_maxrss / 1024
    return report


def one_colour_pngs(count: int, side: int) -> list[Path]:
    """count side x side one-colour PNGs (four colours in turn), written once under bench/out."""
    from PIL import Image

    from bench.common import OUT

    folder = OUT / f"png-{side}"
    folder.mkdir(parents=True, exist_ok=True)
    colours = [(200, 40, 40), (40, 120, 200), (240, 200, 60), (30, 30, 30)]
    encoded: dict[int, bytes] = {}
    paths = []
    for i in range(count):
        path = folder / f"{i}.png"
        if not path.exists():
            if i % 4 not in encoded:
                buf = io.BytesIO()
                Image.new("RGB", (side, side), colours[i % 4]).save(buf, "PNG")
                encoded[i % 4] = buf.getvalue()
            path.write_bytes(encoded[i % 4])
        paths.append(path)
    return paths


def main() -> None:
    from bench.common import OUT, photos, vit_b32_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--png-side", type=int, default=0, help="one-colour PNGs of this side instead of JPEGs")
    args = parser.parse_args()
    model = vit_b32_model()
    shots = one_colour_pngs(args.n, args.png_side) if args.png_side else photos(args.n)
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
    kind = f"{args.png_side}x{args.png_side} PNG" if args.png_side else "600x450 JPEG"
    print(f"{args.n} products ({kind} photos), {args.latency * 1000:.0f} ms added per photo request, "
          f"{len(os.sched_getaffinity(0))} cores\n")
    print("| run | wall s | products/s | ratio to local files | indexed | unchanged | text-only | requests | "
          "peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    requests = {"local files": 0, "URLs, cold cache": cold_requests, "URLs, re-run": rerun_requests}
    for name, r in rows.items():
        rate = args.n / r["wall"]
        print(f"| {name} | {r['wall']:.1f} | {rate:.1f} | {rate / base:.2f} | {r['indexed']} | {r['unchanged']} | "
              f"{r['text_only']} | {requests[name]} | {r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
