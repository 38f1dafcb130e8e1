"""The int8 self-check's calibration set: the first 64 photos and texts of a catalogue, topped up from the sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.common.config import MAX_PIXELS
from core.common.errors import LensError
from core.ingest.catalog import CatalogFile
from core.ingest.images import open_image
from core.ingest.sample import ensure_sample

SIZE = 64
SAMPLE_SOURCE = "the bundled sample"  # a check on the sample alone stands until a catalogue's photos can be used
KEPT_SHORT_SIDE = 448  # photos are kept this small (CLIP sees 224): 64 kept whole could hold 64 x 40 MP in memory


@dataclass
class Calibration:
    """Decoded RGB photos and product texts to embed with both runtimes; source says where they came from."""

    images: list = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    source: str = ""


def from_catalog(csv_path: Path, images_dir: Path | None = None, format: str = "auto", columns: dict | None = None,
                 max_pixels: int = MAX_PIXELS, size: int = SIZE) -> Calibration:
    """The catalogue's first `size` local photos and texts; what it lacks (photos behind URLs, a short or
    unreadable catalogue) comes from the bundled sample."""
    found = Calibration(source=Path(csv_path).name)
    try:
        _first(found, Path(csv_path), images_dir, format, columns, max_pixels, size)
    except LensError:  # an unreadable catalogue is the indexer's to report; the sample stands in
        pass
    if len(found.images) < size or len(found.texts) < size:
        sample = from_sample(size)
        found.images += sample.images[:size - len(found.images)]
        found.texts += sample.texts[:size - len(found.texts)]
        found.source += " and " + SAMPLE_SOURCE
    return found


def from_sample(size: int = SIZE) -> Calibration:
    """The bundled sample catalogue's first `size` photos and texts (generated first if it is not there)."""
    csv_path = ensure_sample()
    found = Calibration(source=SAMPLE_SOURCE)
    _first(found, csv_path, csv_path.parent / "images", "auto", None, MAX_PIXELS, size)
    return found


def _first(found: Calibration, csv_path: Path, images_dir, format: str, columns, max_pixels: int, size: int) -> None:
    """Add the catalogue's first texts and readable local photos to `found` until it has `size` of each."""
    for product in CatalogFile(csv_path, images_dir, format=format, columns=columns).products():
        if len(found.images) >= size and len(found.texts) >= size:
            return
        if product.text and len(found.texts) < size:
            found.texts.append(product.text)
        if product.image_file and len(found.images) < size:
            try:
                found.images.append(_kept(open_image(product.image_file, max_pixels, draft_size=KEPT_SHORT_SIDE)))
            except LensError:  # an unreadable photo is the indexer's to report, not the check's
                pass


def _kept(image):
    """The photo with its short side at most KEPT_SHORT_SIDE, its shape unchanged."""
    w, h = image.size
    scale = KEPT_SHORT_SIDE / min(w, h)
    if scale >= 1:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
