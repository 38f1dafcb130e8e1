"""Shared fixtures: a tiny offline CLIP, a temp data dir, both store backends, small catalogues, the app served."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
# CLI subprocesses inherit this: torch unless a test asks for an ONNX runtime (tests/test_onnx_runtime.py does), so
# no test depends on the developer's shell or quietly tests int8 in every fresh data dir.
os.environ["LENS_RUNTIME"] = "torch"

from core.common.config import Settings  # noqa: E402
from core.ingest.sample import HEADER, draw_product  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "full_size: runs the random full-size ViT-B/32 (tens of seconds); "
                                       "part of the default run, deselect with -m 'not full_size'")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """Folder of a tiny randomly initialised CLIP in sentence-transformers format."""
    from tests.helpers.random_clip import save_random_clip

    return str(save_random_clip(tmp_path_factory.mktemp("tiny-clip"), tiny=True))


@pytest.fixture(scope="session")
def embedder(tiny_clip):
    from core.models.embedder import load_embedder

    return load_embedder(tiny_clip, "cpu")


@pytest.fixture
def settings(tmp_path, monkeypatch, tiny_clip) -> Settings:
    """Settings pointing at a fresh data dir and the tiny model, via the real environment variables."""
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "LENS_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LENS_MODEL", tiny_clip)
    monkeypatch.setenv("LENS_DEVICE", "cpu")
    # torch, as before LENS_RUNTIME: an ONNX export per test's data dir would cost every page and CLI test a
    # second; tests/test_onnx_runtime.py drives the ORT runtimes through the same CLI and the indexer.
    monkeypatch.setenv("LENS_RUNTIME", "torch")
    return Settings.from_env()


@pytest.fixture
def edge(tmp_path, request):
    """An embedded store for hand-made vectors of the test module's DIM."""
    from core.index.store import EdgeStore

    store = EdgeStore(tmp_path / "data")
    store.ensure("hand-made", request.module.DIM)
    yield store
    store.close()


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """The photos indexing decodes (each one the model then embeds), as their byte counts, in order."""
    import core.index.embed_stage

    seen = []
    real = core.index.embed_stage.decode_image

    def counting(data, *args, **kwargs):
        seen.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(core.index.embed_stage, "decode_image", counting)
    return seen


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    """Each backend in turn: the embedded Edge shard, and qdrant-client ':memory:' standing in for a server."""
    from core.index.store import EdgeStore, ServerStore

    s = EdgeStore(tmp_path / "store") if request.param == "edge" else ServerStore.connect(":memory:")
    yield s
    s.close()


PRODUCTS = [
    # id, gender, category, sub, type, colour, usage, title
    ("1", "Women", "Apparel", "Dress", "Dresses", "Red", "Party", "Mango Women Red Dress"),
    ("2", "Men", "Apparel", "Topwear", "Tshirts", "Blue", "Casual", "Nike Men Blue T-shirt"),
    ("3", "Women", "Footwear", "Sandal", "Sandals", "Brown", "Casual", "Bata Women Brown Sandal"),
    ("4", "Men", "Accessories", "Watches", "Watches", "Black", "Formal", "Fossil Men Black Watch"),
    ("5", "Girls", "Apparel", "Bottomwear", "Shorts", "Yellow", "Sports", "Puma Girls Yellow Shorts"),
    ("6", "Men", "Apparel", "Topwear", "Shirts", "White", "Formal", "Roadster Men White Shirt"),
]


def write_csv(path: Path, header, rows, delimiter=",") -> Path:
    """A CSV (or TSV) file with a header row and the given rows."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_catalog(folder: Path, rows=PRODUCTS, extra_header=(), extra_values=None, images=True) -> Path:
    """A CSV in the default schema plus one photo per product under images/<category>/."""
    folder.mkdir(parents=True, exist_ok=True)
    header = HEADER + list(extra_header)
    with open(folder / "catalog.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(list(row) + [f"{row[0]}.jpg", ""] + list((extra_values or {}).get(row[0], [])))
    if images:
        for row in rows:
            path = folder / "images" / row[2] / f"{row[0]}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            kind = row[4] if row[4] in ("Dresses", "Tshirts", "Sandals", "Watches", "Shorts", "Shirts") else "Caps"
            draw_product(kind, row[5] if row[5] in ("Red", "Blue", "Brown", "Black", "Yellow", "White") else "Grey",
                         "Solid").save(path)
    return folder / "catalog.csv"


def index_into(settings, catalog: Path) -> None:
    """Index a catalogue file (photos in the folder beside it) into the settings' embedded index with the tiny
    model, as the CLI would, and close the store."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.models.embedder import load_embedder

    store = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
    store.close()


def index_from_hub_cache(tmp_path: Path, model_folder, repo: str, lens_model: str) -> dict:
    """Put a model folder in a fresh Hugging Face cache as `repo`'s snapshot, index the six products with
    LENS_MODEL=lens_model in a CLI subprocess that cannot reach the hub, and return `stats --json`."""
    snapshot = tmp_path / "hf" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    shutil.copytree(model_folder, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    catalog = write_catalog(tmp_path / "c")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "LENS_MODEL")}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hf" / "hub"),
               HF_ENDPOINT="http://127.0.0.1:9", LENS_DATA_DIR=str(tmp_path / "data"), LENS_DEVICE="cpu",
               LENS_MODEL=lens_model)
    run = [sys.executable, "-m", "core"]
    out = subprocess.run([*run, "index", "--catalog", str(catalog), "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["indexed"] == len(PRODUCTS)
    out = subprocess.run([*run, "stats", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values={r[0]: [str(10 * int(r[0]))] for r in PRODUCTS})


@pytest.fixture
def indexed_settings(settings, tmp_path) -> Settings:
    """Settings whose data dir holds the six-product catalogue, indexed with the tiny model as the CLI would."""
    index_into(settings, write_catalog(tmp_path / "cat"))
    return settings


# ---- pages: AppTest and a real browser ----

# Business columns beside the six products: a keyword (brand), a number (price; product 6 has none) and stock.
SHOP_COLUMNS = ("Brand", "Price", "Availability")
SHOP_VALUES = {"1": ["Mango", "49.90", "in stock"], "2": ["Nike", "19.99", "in stock"],
               "3": ["Bata", "35.00", "out of stock"], "4": ["Fossil", "129.00", "in stock"],
               "5": ["Puma", "15.50", "in stock"], "6": ["Roadster", "", "out of stock"]}


@pytest.fixture
def shop_settings(settings, tmp_path) -> Settings:
    """Like indexed_settings, with brand, price and availability columns (filters, ranges, sorting, stock)."""
    index_into(settings, write_catalog(tmp_path / "shop", extra_header=SHOP_COLUMNS, extra_values=SHOP_VALUES))
    return settings


@pytest.fixture
def shopify_indexed(settings, tmp_path, capsys) -> Path:
    """The Shopify export of tests.helpers.shop_catalogues (variants, several photos, drafts, sale prices; sky-red-tee's
    colours are Sky Blue, Red) indexed through the CLI into the settings' index; returns the export's path."""
    from core.cli import main
    from tests.helpers.shop_catalogues import shopify_export

    export = shopify_export(tmp_path / "shop")
    assert main(["index", "--catalog", str(export), "--json"]) == 0
    capsys.readouterr()
    return export


@pytest.fixture
def app_settings(settings):
    """Settings for a page test; Streamlit's process-wide caches are emptied after it."""
    import streamlit as st

    yield settings
    st.cache_resource.clear()  # each test gets its own store for its own data dir
    st.cache_data.clear()


@pytest.fixture
def indexed(app_settings, indexed_settings):
    """A page test on the indexed six-product catalogue."""
    return indexed_settings


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until a started `streamlit run` answers its health check."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {proc.stdout.read()}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture
def served_app(indexed_settings):
    """The app served for the six-product index; yields its URL."""
    with serve_app(indexed_settings) as url:
        yield url


@contextlib.contextmanager
def serve_app(settings):
    """`streamlit run` of the app on a free port for these settings; yields its URL."""
    port = free_port()
    env = dict(os.environ, LENS_MODEL=settings.model, LENS_DATA_DIR=str(settings.data_dir), LENS_DEVICE="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser():
    """Debian's headless Chromium through Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session", autouse=True)
def numba_cache_for_tests(tmp_path_factory):
    """numba's UMAP kernels in one folder for the whole test session (servers and map workers inherit it): never
    the developer's ~/.cache, and compiled at most once per session, by the first test that fits UMAP."""
    folder = tmp_path_factory.mktemp("numba-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LENS_NUMBA_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture
def dup_indexed(app_settings, tmp_path):
    """A page test on a catalogue with planted near-duplicates (tests.helpers.apptest.DUP_ROWS), indexed."""
    from tests.helpers.apptest import DUP_ROWS

    index_into(app_settings, write_catalog(tmp_path / "dups", DUP_ROWS))
    return app_settings


@pytest.fixture
def photo_server():
    """tests.helpers.photo_server.PhotoServer on a free port, in a thread."""
    from tests.helpers.photo_server import PhotoServer

    server = PhotoServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
