"""Shared fixtures: a tiny offline CLIP, a temp data dir, both store backends, and small catalogues."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network

from core.config import Settings  # noqa: E402
from core.sample import HEADER, draw_product  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """Folder of a tiny randomly initialised CLIP in sentence-transformers format."""
    from core.random_clip import save_random_clip

    return str(save_random_clip(tmp_path_factory.mktemp("tiny-clip"), tiny=True))


@pytest.fixture(scope="session")
def embedder(tiny_clip):
    from core.embedder import load_embedder

    return load_embedder(tiny_clip, "cpu")


@pytest.fixture
def settings(tmp_path, monkeypatch, tiny_clip) -> Settings:
    """Settings pointing at a fresh data dir and the tiny model, via the real environment variables."""
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "LENS_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LENS_MODEL", tiny_clip)
    monkeypatch.setenv("LENS_DEVICE", "cpu")
    return Settings.from_env()


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    """Each backend in turn: the embedded Edge shard, and qdrant-client ':memory:' standing in for a server."""
    from core.store import EdgeStore, ServerStore

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


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values={r[0]: [str(10 * int(r[0]))] for r in PRODUCTS})


@pytest.fixture
def indexed_settings(settings, tmp_path) -> Settings:
    """Settings whose data dir holds the six-product catalogue, indexed with the tiny model as the CLI would."""
    from core.embedder import load_embedder
    from core.indexer import index_catalog
    from core.store import EdgeStore

    catalog = write_catalog(tmp_path / "cat")
    store = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
    store.close()
    return settings
