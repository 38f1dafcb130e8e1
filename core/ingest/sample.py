"""Deterministic sample catalogue: shop-like products drawn in their real colours, so the app works out of the box."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample"
SAMPLE_CSV = SAMPLE_DIR / "catalog.csv"
SAMPLE_IMAGES = SAMPLE_DIR / "images"
SIZE = (192, 240)

COLOURS = {
    "Red": (200, 30, 40), "Navy Blue": (20, 30, 90), "Blue": (40, 100, 210), "Black": (20, 20, 20),
    "White": (245, 245, 245), "Grey": (130, 130, 135), "Green": (40, 140, 60), "Yellow": (240, 200, 40),
    "Pink": (240, 130, 170), "Brown": (120, 70, 35), "Beige": (220, 200, 160), "Purple": (110, 50, 150),
    "Orange": (240, 120, 30), "Olive": (110, 120, 40), "Maroon": (110, 20, 35),
}
# product type -> (category, sub_category, genders, usages, colours it comes in)
TYPES = {
    "Tshirts": ("Apparel", "Topwear", ["Men", "Women", "Boys", "Girls"], ["Casual", "Sports"], list(COLOURS)),
    "Shirts": ("Apparel", "Topwear", ["Men", "Women", "Boys"], ["Formal", "Casual"],
               ["White", "Blue", "Navy Blue", "Black", "Pink", "Grey", "Olive", "Maroon"]),
    "Dresses": ("Apparel", "Dress", ["Women", "Girls"], ["Casual", "Party"],
                ["Red", "Black", "Pink", "Yellow", "Navy Blue", "Green", "Purple", "White", "Maroon"]),
    "Trousers": ("Apparel", "Bottomwear", ["Men", "Women"], ["Formal", "Casual"],
                 ["Black", "Navy Blue", "Grey", "Beige", "Brown", "Olive"]),
    "Shorts": ("Apparel", "Bottomwear", ["Men", "Women", "Boys", "Girls"], ["Casual", "Sports"],
               ["Blue", "Black", "Grey", "Olive", "Red", "Beige", "Navy Blue"]),
    "Casual Shoes": ("Footwear", "Shoes", ["Men", "Women", "Unisex"], ["Casual"],
                     ["White", "Black", "Brown", "Navy Blue", "Grey", "Red"]),
    "Sandals": ("Footwear", "Sandal", ["Men", "Women", "Girls"], ["Casual"], ["Brown", "Black", "Beige", "Pink"]),
    "Handbags": ("Accessories", "Bags", ["Women"], ["Casual", "Formal"],
                 ["Black", "Brown", "Beige", "Red", "Maroon", "Pink"]),
    "Caps": ("Accessories", "Headwear", ["Men", "Women", "Unisex"], ["Casual", "Sports"],
             ["Black", "Navy Blue", "Red", "White", "Green", "Orange"]),
    "Watches": ("Accessories", "Watches", ["Men", "Women", "Unisex"], ["Casual", "Formal"],
                ["Black", "Brown", "Grey", "White", "Navy Blue"]),
}
PATTERNS = ["Solid", "Striped", "Polka Dot", "Checked"]
BRANDS = ["Roadster", "Nike", "Puma", "Mango", "Levis", "Fossil", "Baggit", "Fila", "Bata", "Wrangler"]
HEADER = ["ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle",
          "Image", "ImageURL"]


def _shape(draw: ImageDraw.ImageDraw, kind: str, fill, outline) -> None:
    """Draw a simple silhouette of the product type, centred on the canvas."""
    w, h = SIZE
    if kind in ("Tshirts", "Shirts"):
        sleeve = 185 if kind == "Shirts" else 95
        draw.polygon([(60, 40), (80, 30), (112, 30), (132, 40), (175, 75), (160, sleeve), (140, 80), (140, 210),
                      (52, 210), (52, 80), (32, sleeve), (17, 75)], fill=fill, outline=outline)
        if kind == "Shirts":
            draw.polygon([(80, 30), (96, 55), (112, 30)], fill=(250, 250, 250), outline=outline)
            for y in range(70, 200, 25):
                draw.ellipse([93, y, 99, y + 6], fill=outline)
    elif kind == "Dresses":
        draw.polygon([(75, 30), (117, 30), (125, 90), (165, 215), (27, 215), (67, 90)], fill=fill, outline=outline)
    elif kind in ("Trousers", "Shorts"):
        bottom = 220 if kind == "Trousers" else 130
        draw.polygon([(55, 30), (137, 30), (145, bottom), (104, bottom), (96, 80), (88, bottom), (47, bottom)],
                     fill=fill, outline=outline)
    elif kind == "Casual Shoes":
        draw.polygon([(20, 150), (60, 110), (110, 120), (170, 150), (175, 175), (20, 175)], fill=fill, outline=outline)
        draw.rectangle([20, 175, 175, 188], fill=(235, 235, 235), outline=outline)
    elif kind == "Sandals":
        draw.rounded_rectangle([25, 160, 170, 180], radius=10, fill=(60, 40, 25))
        for x in (50, 95, 140):
            draw.arc([x - 30, 110, x + 30, 200], 200, 340, fill=fill, width=12)
    elif kind == "Handbags":
        draw.arc([60, 40, 132, 130], 180, 360, fill=outline, width=8)
        draw.rounded_rectangle([30, 85, 162, 205], radius=14, fill=fill, outline=outline)
    elif kind == "Caps":
        draw.pieslice([40, 70, 152, 190], 180, 360, fill=fill, outline=outline)
        draw.ellipse([120, 120, 190, 142], fill=fill, outline=outline)
    elif kind == "Watches":
        draw.rectangle([80, 20, 112, 220], fill=fill, outline=outline)
        draw.ellipse([55, 80, 137, 162], fill=(235, 235, 235), outline=outline, width=6)
        draw.line([(96, 121), (96, 95)], fill=(20, 20, 20), width=3)
        draw.line([(96, 121), (115, 121)], fill=(20, 20, 20), width=3)


def _pattern(image: Image.Image, mask: Image.Image, pattern: str, colour) -> None:
    """Overlay stripes, dots or checks inside the silhouette only."""
    if pattern == "Solid":
        return
    contrast = (255, 255, 255) if sum(colour) < 380 else (30, 30, 30)
    layer = Image.new("RGB", SIZE, contrast)
    pmask = Image.new("L", SIZE, 0)
    d = ImageDraw.Draw(pmask)
    if pattern == "Striped":
        for y in range(0, SIZE[1], 18):
            d.rectangle([0, y, SIZE[0], y + 5], fill=255)
    elif pattern == "Polka Dot":
        for y in range(6, SIZE[1], 20):
            for x in range(6 + (y // 20 % 2) * 10, SIZE[0], 20):
                d.ellipse([x, y, x + 7, y + 7], fill=255)
    else:
        for v in range(0, max(SIZE), 24):
            d.rectangle([v, 0, v + 3, SIZE[1]], fill=255)
            d.rectangle([0, v, SIZE[0], v + 3], fill=255)
    pmask = Image.composite(pmask, Image.new("L", SIZE, 0), mask)
    image.paste(layer, mask=pmask)


def draw_product(kind: str, colour_name: str, pattern: str) -> Image.Image:
    """One product photo: the silhouette in its real colour on a light studio background."""
    colour = COLOURS[colour_name]
    image = Image.new("RGB", SIZE, (248, 248, 246))
    mask = Image.new("RGB", SIZE, (0, 0, 0))
    outline = tuple(max(0, c - 60) for c in colour)
    _shape(ImageDraw.Draw(image), kind, colour, outline)
    _shape(ImageDraw.Draw(mask), kind, (255, 255, 255), (255, 255, 255))
    mask = mask.convert("L").point(lambda v: 255 if v else 0)
    _pattern(image, mask, pattern, colour)
    return image


def generate(out_dir: Path = SAMPLE_DIR, count: int = 320, seed: int = 7) -> Path:
    """Write catalog.csv and images/<Category>/<id>.jpg; the same seed gives the same catalogue."""
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    rows = []
    kinds = list(TYPES)
    for i in range(count):
        kind = kinds[i % len(kinds)]
        category, sub, genders, usages, colours = TYPES[kind]
        gender, usage, colour = rng.choice(genders), rng.choice(usages), rng.choice(colours)
        pattern = rng.choice(PATTERNS) if category == "Apparel" else "Solid"
        brand = rng.choice(BRANDS)
        product_id = str(10001 + i)
        noun = kind[:-1] if kind.endswith("s") and kind not in ("Shorts", "Trousers", "Dresses") else kind
        noun = {"Dresses": "Dress", "Tshirts": "T-shirt"}.get(kind, noun)
        style = "" if pattern == "Solid" else f"{pattern} "
        title = f"{brand} {gender} {colour} {style}{noun}"
        path = out_dir / "images" / category / f"{product_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_product(kind, colour, pattern).save(path, quality=85)
        rows.append([product_id, gender, category, sub, kind, colour, usage, title, f"{product_id}.jpg", ""])
    with open(out_dir / "catalog.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return out_dir / "catalog.csv"


def ensure_sample(out_dir: Path = SAMPLE_DIR) -> Path:
    """The sample CSV, generating it first if it is not there yet."""
    csv_path = Path(out_dir) / "catalog.csv"
    return csv_path if csv_path.exists() else generate(out_dir)
