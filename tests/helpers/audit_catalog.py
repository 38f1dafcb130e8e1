"""A catalogue with ten honest products and two planted colour mistakes, its photos drawn, indexed for the audit."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from core.ingest.colours import COLOUR_HEX
from core.ingest.sample import HEADER
from tests.conftest import write_csv

HONEST = ["Red", "Blue", "Navy Blue", "Black", "Green", "Yellow", "White", "Orange", "Purple", "Pink"]


PLANTED = [("p-red", "Red", "Blue"), ("p-navy", "Navy Blue", "Black")]


ROWS = [(f"h{i}", c, c) for i, c in enumerate(HONEST)] + PLANTED


def swatch_photo(path: Path, colour: str) -> None:
    """A product shape in the colour's reference swatch on a white studio background."""
    image = Image.new("RGB", (96, 120), "white")
    ImageDraw.Draw(image).rounded_rectangle([18, 14, 78, 106], radius=10, fill=COLOUR_HEX[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def planted_catalog(folder: Path) -> Path:
    """Twelve solid-colour products; a red one labelled Blue and a navy one labelled Black."""
    rows = []
    for product_id, drawn, label in ROWS:
        swatch_photo(folder / "images" / f"{product_id}.png", drawn)
        rows.append([product_id, "Women", "Apparel", "Topwear", "Tshirts", label, "Casual",
                     f"Tee {product_id}", f"{product_id}.png", ""])
    return write_csv(folder / "catalog.csv", HEADER, rows)


def index_planted(settings, folder: Path) -> None:
    """The planted catalogue written to folder and indexed with the settings' model, as the CLI would."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.models.embedder import load_embedder

    catalog = planted_catalog(folder)
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
    finally:
        store.close()
