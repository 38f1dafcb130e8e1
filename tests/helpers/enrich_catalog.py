"""A catalogue for the Enrich page: 24 apparel products drawn with a pattern, half of them with the pattern filled
in (known, every pattern among them), half empty (to be proposed), indexed with the settings' model as the CLI
would."""

from __future__ import annotations

from pathlib import Path

from core.ingest.sample import HEADER, PATTERNS, draw_product
from tests.conftest import index_into, write_csv

ATTRIBUTE = "pattern"
VALUES = [p.lower() for p in PATTERNS]  # solid, striped, polka dot, checked
KINDS = [("Topwear", "Tshirts"), ("Dress", "Dresses"), ("Topwear", "Shirts")]
COLOURS = ["Red", "Blue", "Black", "Yellow", "White"]
COUNT = 24


def known(i: int) -> bool:
    """Whether product e{i} has its pattern filled in."""
    return (i // 4) % 2 == 0


def pattern_catalog(folder: Path, title: str = "") -> Path:
    """Products e0..e23; e0-e3, e8-e11 and e16-e19 have their pattern filled in (each pattern three times), the
    others are empty. `title`, when given, is every product's title (hostile titles)."""
    rows = []
    for i in range(COUNT):
        sub, kind = KINDS[i % len(KINDS)]
        colour, pattern = COLOURS[i % len(COLOURS)], PATTERNS[i % len(PATTERNS)]
        photo = folder / "images" / f"e{i}.jpg"
        photo.parent.mkdir(parents=True, exist_ok=True)
        draw_product(kind, colour, pattern).save(photo)
        rows.append([f"e{i}", "Women", "Apparel", sub, kind, colour, "Casual",
                     title or f"{colour} {pattern} {kind} {i}", f"e{i}.jpg", "",
                     pattern.lower() if known(i) else ""])
    return write_csv(folder / "catalog.csv", [*HEADER, "Pattern"], rows)


def index_patterns(settings, folder: Path, title: str = "") -> None:
    index_into(settings, pattern_catalog(folder, title))
