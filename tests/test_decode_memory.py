"""Photos behind URLs are downloaded wide but decoded in the bounded decode pool, as photos on disk are: near-cap
photos cost the same decoded pixels in flight whatever their source (measured as a real CLI run's peak RSS)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

import core.index.embed_stage
import core.index.indexer
from core.ingest.fetch import ImageFetcher
from tests.conftest import ROOT, write_csv
from tests.helpers.http_server import Server, send

PHOTOS = 24                 # more than the 16 download threads, so a decode per download thread would show
CAP = 12_000_000            # LENS_MAX_PIXELS for these runs: the principle of the 40 MP default, at a modest cost
SIDE = 3400                 # 3400 x 3400 = 11.6 MP, just under CAP
BYTES_PER_PIXEL = 8         # a decoded photo (4 bytes a pixel) and its copy for the colour statistics
DECODERS = min(2, len(os.sched_getaffinity(0)))  # the CLI run is pinned to this many cores: its decode pool


def png(side: int, colour=(180, 40, 40)) -> bytes:
    """An RGB PNG that is small on the wire (one colour) but side x side pixels decoded."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def photo_server():
    server = Server()
    yield server
    server.stop()


def url_catalogue(folder: Path, server: Server, photo: bytes) -> Path:
    """PHOTOS products, each with its own URL serving `photo`."""
    for i in range(PHOTOS):
        server.routes[f"/p{i}.png"] = lambda h, n: send(h, 200, photo, {"Content-Type": "image/png"})
    rows = [[f"p{i}", f"Product {i}", server.url(f"/p{i}.png")] for i in range(PHOTOS)]
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(folder / "items.csv", ["sku", "name", "image_url"], rows)


def file_catalogue(folder: Path, photo: bytes) -> Path:
    """The same products with their photos in a folder."""
    (folder / "images").mkdir(parents=True)
    for i in range(PHOTOS):
        (folder / "images" / f"p{i}.png").write_bytes(photo)
    rows = [[f"p{i}", f"Product {i}", f"p{i}.png"] for i in range(PHOTOS)]
    return write_csv(folder / "items.csv", ["sku", "name", "image"], rows)


@pytest.mark.parametrize("source", ["urls", "files"])
def test_no_more_photos_are_decoded_at_once_than_the_decode_pool_holds(source, tmp_path, embedder, photo_server,
                                                                       monkeypatch):
    from core.index.store import EdgeStore

    bound, inside, peak, changed = 2, [0], [0], threading.Condition()
    real = core.index.embed_stage.decode_image

    def counting(data, max_pixels, draft_size=None):
        with changed:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            changed.notify_all()
            # held until one more decode than the bound is running (so overlap shows), or a tenth of a second
            changed.wait_for(lambda: inside[0] > bound, timeout=0.1)
        try:
            return real(data, max_pixels, draft_size)
        finally:
            with changed:
                inside[0] -= 1

    monkeypatch.setattr(core.index.embed_stage, "decode_image", counting)
    photo = png(64)
    catalog = url_catalogue(tmp_path, photo_server, photo) if source == "urls" else file_catalogue(tmp_path, photo)
    store = EdgeStore(tmp_path / "data")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        report = core.index.indexer.index_catalog(catalog, tmp_path / "images" if source == "files" else None, embedder,
                                            store, fetcher=fetcher, workers=bound, batch_size=4)
    store.close()
    assert (report.indexed, report.text_only) == (PHOTOS, 0)
    assert peak[0] == bound


def cli_peak_rss(catalog: Path, images: Path | None, data: Path, tiny_clip: str) -> tuple[dict, int]:
    """(the --json report, peak RSS in bytes) of `python -m core index` pinned to DECODERS cores."""
    env = dict(os.environ, LENS_DATA_DIR=str(data), LENS_MODEL=tiny_clip, LENS_DEVICE="cpu",
               LENS_ALLOW_PRIVATE_URLS="1", LENS_MAX_PIXELS=str(CAP))
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "LENS_COLLECTION"):
        env.pop(name, None)
    cores = set(sorted(os.sched_getaffinity(0))[:DECODERS])
    args = [sys.executable, "-m", "core", "index", "--catalog", str(catalog), "--json"]
    with open(data.parent / "stderr.txt", "w") as err:
        proc = subprocess.Popen(args + (["--images", str(images)] if images else []), cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=err, preexec_fn=lambda: os.sched_setaffinity(0, cores))
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not every child's of this process
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (data.parent / "stderr.txt").read_text()
    return json.loads(out), usage.ru_maxrss * 1024


def test_near_cap_photos_behind_urls_peak_no_higher_than_the_decode_pool_allows(tmp_path, tiny_clip, photo_server):
    small = url_catalogue(tmp_path / "small", photo_server, png(64))
    report, baseline = cli_peak_rss(small, None, tmp_path / "small" / "data", tiny_clip)
    assert (report["indexed"], report["text_only"]) == (PHOTOS, 0)

    photo_server.routes.clear()
    big = url_catalogue(tmp_path / "big", photo_server, png(SIDE))
    report, peak = cli_peak_rss(big, None, tmp_path / "big" / "data", tiny_clip)
    assert (report["indexed"], report["text_only"]) == (PHOTOS, 0)  # every photo decoded, none refused

    # Each of the DECODERS threads holds at most one near-cap photo; 16 decodes at once would need twice this.
    allowed = DECODERS * BYTES_PER_PIXEL * CAP + 64 * 2**20
    print(f"peak RSS over the 64 px run: {(peak - baseline) / 2**20:.0f} MiB, allowed {allowed / 2**20:.0f} MiB")
    assert peak - baseline < allowed


def test_the_int8_self_check_keeps_near_cap_catalogue_photos_at_a_few_hundred_pixels(tmp_path):
    from core.models.calibration import KEPT_SHORT_SIDE, from_catalog

    catalog = file_catalogue(tmp_path, png(SIDE))
    calibration = from_catalog(catalog, tmp_path / "images", max_pixels=CAP, size=4)
    # four of the catalogue's photos, each KEPT_SHORT_SIDE a side, not 3400 (64 kept whole: 64 near-cap photos)
    assert [image.size for image in calibration.images] == [(KEPT_SHORT_SIDE, KEPT_SHORT_SIDE)] * 4
    assert calibration.images[0].getpixel((0, 0)) == (180, 40, 40)
