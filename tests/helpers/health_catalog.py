"""A Shopify product export for the health check: honest products with no problem at all, and exactly one planted
product per kind of core.insights.health.KINDS (two for duplicate_photo), its photos drawn beside it.

planted_shop(folder) -> (csv_path, images_dir, expected): index it with
    python -m core index --catalog <csv_path> --images <images_dir>
and `health --json` must list, per kind, exactly expected[kind] (sorted product ids), with the score
100 * len(HONEST) / product_count().

Every product is apparel ("Apparel & Accessories > Clothing", so Merchant Center's apparel rules apply: colour,
size, gender and age group required, photos of 250 px or more) and shares that one category, so the label audit
checks colours only (a category with one label is not audited). Honest products have a title of two words or more,
a description, a price (a compare-at price above it, or none), a brand (Vendor), a colour (the Color option) and a
size (the Size option), a gender (Google Shopping / Gender) and an age group (Shopify's category metafield
"Age group (product.metafields.shopify.age-group)", which the reader stores as age_group), stock while active, and
photos of 300 px or more drawn in their labelled colour. Each photo is a different silhouette, or a different colour,
so no two products are near-duplicates except the planted pair, whose photos are the same bytes (with the tests' tiny
random CLIP, see TINY_MODEL_DUPLICATE_THRESHOLD).
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, ImageDraw

from core.ingest.colours import COLOUR_HEX

HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
          "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU", "Variant Inventory Qty",
          "Variant Price", "Variant Compare At Price", "Image Src", "Image Position", "Status",
          "Google Shopping / Gender", "Age group (product.metafields.shopify.age-group)"]
CATEGORY = "Apparel & Accessories > Clothing"
CATEGORY_NAME = "Apparel & Accessories"  # the category every product counts under in by_category
# The tiny random CLIP of the tests puts every drawn photo within a few hundredths of every other (cosine 0.89 to
# 0.99), so at the health check's 0.95 (core.insights.health.DUPLICATE_THRESHOLD) every product with a photo would
# be someone's "near-duplicate"; with the tiny model, set the threshold to this: the planted pair is the same bytes
# (cosine 1), and no other pair comes close. A real CLIP tells these silhouettes and colours apart.
TINY_MODEL_DUPLICATE_THRESHOLD = 0.9999

# Silhouettes as polygons on a unit square (x, y in 0..1); each photo draws one, filled with its colour.
SHAPES = {
    "tee": [(.3, .1), (.7, .1), (.95, .3), (.82, .45), (.75, .38), (.75, .92), (.25, .92), (.25, .38), (.18, .45),
            (.05, .3)],
    "hoodie": [(.35, .05), (.65, .05), (.72, .18), (.95, .35), (.85, .9), (.15, .9), (.05, .35), (.28, .18)],
    "jacket": [(.2, .08), (.8, .08), (.92, .95), (.55, .95), (.5, .3), (.45, .95), (.08, .95)],
    "jeans": [(.22, .05), (.78, .05), (.85, .95), (.58, .95), (.5, .35), (.42, .95), (.15, .95)],
    "dress": [(.38, .05), (.62, .05), (.66, .35), (.92, .95), (.08, .95), (.34, .35)],
    "beanie": [(.1, .85), (.1, .5), (.25, .22), (.5, .12), (.75, .22), (.9, .5), (.9, .85)],
    "skirt": [(.3, .15), (.7, .15), (.95, .85), (.05, .85)],
    "polo": [(.3, .08), (.45, .08), (.5, .25), (.55, .08), (.7, .08), (.95, .35), (.78, .5), (.75, .95),
             (.25, .95), (.22, .5), (.05, .35)],
    "shorts": [(.15, .2), (.85, .2), (.92, .8), (.56, .8), (.5, .45), (.44, .8), (.08, .8)],
    "sweater": [(.25, .1), (.75, .1), (.98, .6), (.85, .65), (.78, .45), (.78, .92), (.22, .92), (.22, .45),
                (.15, .65), (.02, .6)],
    "coat": [(.25, .03), (.75, .03), (.88, .97), (.12, .97)],
    "vest": [(.2, .05), (.35, .05), (.5, .35), (.65, .05), (.8, .05), (.85, .95), (.15, .95)],
    "shirt": [(.28, .06), (.72, .06), (.97, .25), (.9, .4), (.78, .3), (.8, .96), (.2, .96), (.22, .3), (.1, .4),
              (.03, .25)],
    "leggings": [(.3, .03), (.7, .03), (.68, .97), (.53, .97), (.5, .25), (.47, .97), (.32, .97)],
}


def draw_photo(path: Path, shape: str, colour: str, size: tuple[int, int]) -> None:
    """A product photo: the silhouette in the colour's reference swatch (core.ingest.colours) on a white studio
    background, at exactly `size` pixels (JPEG at high quality, so the colour stays the reference's)."""
    width, height = size
    image = Image.new("RGB", size, "white")
    points = [(x * (width - 1), y * (height - 1)) for x, y in SHAPES[shape]]
    ImageDraw.Draw(image).polygon(points, fill=COLOUR_HEX[colour])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=95)


def _product(handle: str, title: str, colour: str, *, photos=(), vendor: str = "Northwind", price: str = "40.00",
             compare: str = "", qty: str = "6", status: str = "active", size: str = "M") -> list[list[str]]:
    """A product's rows in the export: the first with every value and the first photo, one row per other photo."""
    first = [handle, title, f"<p>{title}: soft, durable and easy to care for.</p>", vendor, CATEGORY, "Clothing",
             "essentials", "TRUE" if status == "active" else "FALSE", "Color", colour, "Size", size,
             f"{handle.upper()}-{size}", qty, price, compare, photos[0] if photos else "", "1" if photos else "",
             status, "unisex", "adult"]
    rows = [first]
    for n, photo in enumerate(photos[1:], start=2):
        rows.append([handle] + [""] * 15 + [photo, str(n)] + [""] * 3)
    return rows


# Honest products: (handle, title, colour, [(photo file, silhouette, (width, height)), ...]).
HONEST = [
    ("classic-red-tee", "Classic Red Tee", "Red", [("red-tee.jpg", "tee", (300, 300)),
                                                   ("red-tee-back.jpg", "shirt", (300, 360))]),
    ("ocean-blue-hoodie", "Ocean Blue Hoodie", "Blue", [("blue-hoodie.jpg", "hoodie", (320, 400))]),
    ("forest-green-jacket", "Forest Green Jacket", "Green", [("green-jacket.jpg", "jacket", (400, 400)),
                                                             ("green-jacket-side.jpg", "coat", (360, 480))]),
    ("midnight-black-jeans", "Midnight Black Jeans", "Black", [("black-jeans.jpg", "jeans", (300, 360))]),
    ("sunny-yellow-dress", "Sunny Yellow Dress", "Yellow", [("yellow-dress.jpg", "dress", (500, 500))]),
]


def _planted(folder: Path) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The planted products' rows, their photos written, and what each kind must list."""
    draw_photo(folder / "orange-beanie.jpg", "beanie", "Orange", (200, 200))          # small: 200 < 250 (apparel)
    draw_photo(folder / "purple-polo.jpg", "polo", "Purple", (400, 400))
    (folder / "purple-polo-copy.jpg").write_bytes((folder / "purple-polo.jpg").read_bytes())  # the same bytes
    draw_photo(folder / "summer-skirt.jpg", "skirt", "Red", (300, 300))               # red, labelled Blue
    draw_photo(folder / "navy-shorts.jpg", "shorts", "Navy Blue", (300, 300))
    draw_photo(folder / "pink-sweater.jpg", "sweater", "Pink", (300, 300))
    draw_photo(folder / "maroon-coat.jpg", "coat", "Maroon", (300, 400))
    draw_photo(folder / "teal-vest.jpg", "vest", "Teal", (300, 300))
    draw_photo(folder / "olive-leggings.jpg", "leggings", "Olive", (300, 400))
    draw_photo(folder / "magenta-shirt.jpg", "shirt", "Magenta", (300, 300))
    # Not a photo at all: the product is indexed by its text, and its hero is reported failed. Its colour cannot be
    # checked against a photo, so it has that one problem only (the audit skips a product with no photo).
    (folder / "pink-linen-shirt.jpg").write_text("this file is not a photo")
    planted = {
        "no_photo": ("plain-orange-scarf", _product("plain-orange-scarf", "Plain Orange Scarf", "Orange")),
        "photo_failed": ("pink-linen-shirt", _product("pink-linen-shirt", "Pink Linen Shirt", "Pink",
                                                      photos=["pink-linen-shirt.jpg"])),
        "small_photo": ("orange-wool-beanie", _product("orange-wool-beanie", "Orange Wool Beanie", "Orange",
                                                       photos=["orange-beanie.jpg"])),
        "suspect_label": ("summer-skirt", _product("summer-skirt", "Summer Skirt", "Blue",
                                                   photos=["summer-skirt.jpg"])),
        "missing_attribute": ("navy-chino-shorts", _product("navy-chino-shorts", "Navy Chino Shorts", "Navy Blue",
                                                            photos=["navy-shorts.jpg"], vendor="")),
        "title_length": ("sweater", _product("sweater", "Sweater", "Pink", photos=["pink-sweater.jpg"])),
        "no_price": ("maroon-wool-coat", _product("maroon-wool-coat", "Maroon Wool Coat", "Maroon",
                                                  photos=["maroon-coat.jpg"], price="")),
        "bad_sale_price": ("teal-puffer-vest", _product("teal-puffer-vest", "Teal Puffer Vest", "Teal",
                                                        photos=["teal-vest.jpg"], price="30.00", compare="25.00")),
        "out_of_stock_active": ("olive-yoga-leggings", _product("olive-yoga-leggings", "Olive Yoga Leggings",
                                                                "Olive", photos=["olive-leggings.jpg"], qty="0")),
        "in_stock_draft": ("magenta-party-shirt", _product("magenta-party-shirt", "Magenta Party Shirt", "Magenta",
                                                           photos=["magenta-shirt.jpg"], status="draft", qty="4")),
    }
    rows = [row for _, product in planted.values() for row in product]
    rows += _product("purple-polo-shirt", "Purple Polo Shirt", "Purple", photos=["purple-polo.jpg"])
    rows += _product("purple-polo-shirt-copy", "Purple Pique Polo", "Purple", photos=["purple-polo-copy.jpg"])
    expected = {kind: [handle] for kind, (handle, _) in planted.items()}
    expected["duplicate_photo"] = sorted(["purple-polo-shirt", "purple-polo-shirt-copy"])
    return rows, expected


def product_count() -> int:
    """Every product of the export: the honest ones, one planted per kind, and the duplicate's second."""
    return len(HONEST) + 10 + 2


def honest_ids() -> list[str]:
    return sorted(handle for handle, *_ in HONEST)


def planted_shop(folder: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    """Write the export and its photos into folder: (the CSV's path, the photos' folder, {kind: sorted product ids})
    with every kind of core.insights.health.KINDS a key."""
    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for handle, title, colour, photos in HONEST:
        for name, shape, size in photos:
            draw_photo(images / name, shape, colour, size)
        rows += _product(handle, title, colour, photos=[name for name, *_ in photos])
    planted, expected = _planted(images)
    rows += planted
    path = folder / "products_export.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path, images, {kind: sorted(ids) for kind, ids in sorted(expected.items())}
