"""A small generated reference catalogue to match against the bundled sample (the Gaps page's demo and tests).

It holds near-copies of some of our products (their photo cropped a little and made lighter or darker, the
same labels, another brand) and products unlike any of ours: kinds, a category and colours the sample does
not have. Same seed, same catalogue.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance

from core.ingest.sample import HEADER, SAMPLE_DIR, SIZE

BRAND = "Northwind"
# kind -> (category, sub_category); none of them is in the sample, nor is the Home category
UNLIKE_KINDS = {"Sunglasses": ("Accessories", "Eyewear"), "Umbrellas": ("Accessories", "Rainwear"),
                "Cushions": ("Home", "Decor"), "Mugs": ("Home", "Kitchen"), "Lamps": ("Home", "Lighting")}
UNLIKE_COLOURS = {"Teal": (0, 128, 128), "Gold": (212, 175, 55), "Lavender": (190, 160, 230),
                  "Coral": (255, 110, 90), "Turquoise": (64, 224, 208)}


@dataclass
class GeneratedReference:
    """Where the catalogue was written, and what a match should find: their id -> our id for each near-copy."""

    catalog: Path
    images: Path
    copies: dict[str, str] = field(default_factory=dict)
    unlike: list[str] = field(default_factory=list)


def altered_copy(photo: Image.Image, rng: random.Random) -> Image.Image:
    """The photo a few percent cropped off its edges and a little lighter or darker, at its own size."""
    w, h = photo.size
    cut = rng.uniform(0.02, 0.06)
    box = (int(w * cut), int(h * cut), w - int(w * rng.uniform(0.02, 0.06)), h - int(h * cut))
    return ImageEnhance.Brightness(photo.crop(box).resize((w, h))).enhance(rng.choice([0.9, 0.94, 1.06, 1.1]))


BACKDROP = (34, 36, 44)  # shot on a dark backdrop, where every sample photo is on a light studio one


def draw_unlike(kind: str, colour) -> Image.Image:
    """A silhouette of a kind the sample does not have, on a backdrop unlike the sample's."""
    image = Image.new("RGB", SIZE, BACKDROP)
    d = ImageDraw.Draw(image)
    dark = tuple(min(255, c + 50) for c in colour)  # outlines lighter than the product: they show on the backdrop
    if kind == "Sunglasses":
        d.ellipse([22, 95, 90, 145], fill=colour, outline=dark, width=5)
        d.ellipse([102, 95, 170, 145], fill=colour, outline=dark, width=5)
        d.line([(90, 112), (102, 112)], fill=dark, width=6)
    elif kind == "Umbrellas":
        d.pieslice([16, 30, 176, 170], 180, 360, fill=colour, outline=dark)
        d.line([(96, 100), (96, 210)], fill=dark, width=6)
        d.arc([96, 190, 126, 222], 0, 180, fill=dark, width=6)
    elif kind == "Cushions":
        d.rounded_rectangle([30, 60, 162, 190], radius=28, fill=colour, outline=dark, width=4)
        d.ellipse([88, 117, 104, 133], fill=dark)
    elif kind == "Mugs":
        d.rectangle([45, 70, 135, 190], fill=colour, outline=dark, width=4)
        d.arc([115, 95, 170, 160], 270, 90, fill=dark, width=10)
    else:  # Lamps
        d.polygon([(60, 40), (132, 40), (156, 120), (36, 120)], fill=colour, outline=dark)
        d.line([(96, 120), (96, 200)], fill=dark, width=8)
        d.rectangle([60, 200, 132, 214], fill=dark)
    return image


def generate_reference(out_dir: Path, sample_csv: Path | None = None, near: int = 8, unlike: int = 8,
                       seed: int = 11) -> GeneratedReference:
    """Write catalog.csv and images/<Category>/<id>.jpg of a competitor's catalogue: `near` near-copies of
    products drawn from `sample_csv` (the bundled sample by default) and `unlike` products unlike any of ours."""
    rng = random.Random(seed)
    sample_csv = Path(sample_csv) if sample_csv else SAMPLE_DIR / "catalog.csv"
    out_dir = Path(out_dir)
    with open(sample_csv, newline="", encoding="utf-8") as fh:
        ours = list(csv.DictReader(fh))
    made = GeneratedReference(out_dir / "catalog.csv", out_dir / "images")
    rows = []
    for n, product in enumerate(rng.sample(ours, min(near, len(ours))), 1):
        their_id = f"NW-{n:03d}"
        photo = Image.open(sample_csv.parent / "images" / product["Category"] / product["Image"]).convert("RGB")
        path = made.images / product["Category"] / f"{their_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        altered_copy(photo, rng).save(path, quality=88)
        title = " ".join([BRAND, *product["ProductTitle"].split(" ")[1:]])
        rows.append([their_id, product["Gender"], product["Category"], product["SubCategory"],
                     product["ProductType"], product["Colour"], product["Usage"], title, path.name, ""])
        made.copies[their_id] = product["ProductId"]
    kinds, colours = list(UNLIKE_KINDS), list(UNLIKE_COLOURS)
    for n in range(1, unlike + 1):
        kind, colour = kinds[(n - 1) % len(kinds)], colours[rng.randrange(len(colours))]
        category, sub = UNLIKE_KINDS[kind]
        their_id = f"NW-U{n:02d}"
        path = made.images / category / f"{their_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_unlike(kind, UNLIKE_COLOURS[colour]).save(path, quality=88)
        noun = {"Sunglasses": "Sunglasses"}.get(kind, kind[:-1])
        rows.append([their_id, "Unisex", category, sub, kind, colour, "Casual", f"{BRAND} {colour} {noun}",
                     path.name, ""])
        made.unlike.append(their_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(made.catalog, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return made
