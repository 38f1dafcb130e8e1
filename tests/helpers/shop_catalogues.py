"""Real shop catalogues for tests: a Shopify product export and a Google Merchant Center feed, with several photos per
product, variants, statuses and sale prices, and photos drawn so that each one embeds differently.

Shopify export (shopify_export(folder) -> folder / "products_export.csv"), five handles in this order:

  handle        title            status     photos (Image Src by Image Position, then Variant Images not among them)
  sky-red-tee   Two-Tone Tee     active     tee-front.jpg, tee-back.jpg, tee-sky.jpg, tee-red.jpg
  wool-coat     Wool Coat        active     coat-front.jpg, coat-back.jpg
  linen-shorts  Linen Shorts     draft      shorts.jpg
  silk-scarf    Silk Scarf       Archived   scarf.jpg, scarf-detail.jpg
  leather-belt  Leather Belt     active     belt.jpg

  sky-red-tee: Option1 Color, Option2 Size; two variants
      TS-0042-SKY  Sky Blue  S  price 20.00  compare-at 25.00  qty 3  Variant Image tee-sky.jpg (also an Image Src)
      TS-0042-RED  Red       M  price 22.00  compare-at 30.00  qty 5  Variant Image tee-red.jpg (NOT an Image Src)
    -> colour [Sky Blue, Red], size [S, M], price 20.0, compare_at_price 25.0 (the cheapest variant's), on sale, 20.0 %
    off. Image Src rows are listed out of order (positions 2, 1, 3) on purpose. The front, back and sky photos show a
    sky blue tee; only tee-red.jpg shows red.
  wool-coat: Option1 Title / Default Title; one variant WC-100, Forest Green (no colour option), price 120.00,
    compare-at 120.00 (equal: not on sale); coat-back.jpg (charcoal check) looks nothing like coat-front.jpg
    (forest green): searching with the back view must find the coat.
  linen-shorts: Option1 Size; variants LS-S and LS-M, price 30.00, compare-at 25.00 (below the price: not on sale),
    Status draft.
  silk-scarf: Option1 Color Burgundy, variant SC-BUR, price 15.00, no compare-at, Status "Archived" (another case).
  leather-belt: Option1 Color Camel, variant BELT-1, price 35.00, compare-at 50.00 (on sale, 30.0 % off).

Google feed (google_feed(folder) -> folder / "feed.tsv", tab-separated), four ids in this order:

  id            title           image_link          additional_image_link             price     sale_price
  G-DRESS-RED   Wrap Dress      dress-red.jpg       dress-red-back.jpg,dress-red-side.jpg  50.00 USD  40.00 USD
  G-DRESS-BLUE  Wrap Dress      dress-blue.jpg      (none)                            50.00 USD  (none)
  G-BAG         Canvas Bag      bag.jpg             bag-1.jpg ... bag-15.jpg (15)     80.00 USD  80.00 USD
  G-CAP         Sky Cap         cap.jpg             cap-side.jpg                      12.00 USD  (none)

  G-DRESS-RED: price 40.0, compare_at_price 50.0, on sale, 20.0 % off; colour Red, item_group_id DR.
  G-DRESS-BLUE: price 50.0, no compare-at; colour Blue, item_group_id DR.
  G-BAG: sale_price equal to price (price 80.0, compare_at_price 80.0, not on sale); 16 photo references, so a cap of
    10 keeps bag.jpg and bag-1.jpg ... bag-9.jpg. bag-3.jpg is dead: never written locally, and not in photos() (a
    photo server answers 404).
  G-CAP: colour Sky Blue, two photos.

Photos: by default every photo is a JPEG written into `folder` (dead ones excepted) and the CSV names it by file name.
With photo_url (a callable: photo name -> URL), the CSV holds photo_url(name) instead and nothing is written; serve
photos() from tests/helpers/photo_server.py, for example
    monkeypatch.setattr(photo_server, "PHOTOS", {**photo_server.PHOTOS, **shop_catalogues.photos()})
    shopify_export(tmp_path, photo_url=lambda name: f"{server.url}/{name}")
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw

SIZE = (192, 240)
BACKGROUND = (248, 248, 246)
RGB = {"Sky Blue": (135, 206, 235), "Red": (200, 30, 40), "Forest Green": (34, 139, 34), "Charcoal": (54, 69, 79),
       "Burgundy": (128, 0, 32), "Camel": (193, 154, 107), "Khaki": (195, 176, 145), "Navy": (20, 30, 110),
       "Blue": (40, 100, 210), "Mustard": (225, 173, 1), "White": (250, 250, 250), "Black": (20, 20, 20)}

# photo name -> (shape, main colour, pattern, second colour): every photo differs in shape, colour or pattern.
SHOPIFY_PHOTOS = {
    "tee-front.jpg": ("tee", "Sky Blue", "solid", None),
    "tee-back.jpg": ("tee", "Sky Blue", "stripes", "White"),
    "tee-sky.jpg": ("tee", "Sky Blue", "dots", "Navy"),
    "tee-red.jpg": ("tee", "Red", "solid", None),
    "coat-front.jpg": ("coat", "Forest Green", "solid", None),
    "coat-back.jpg": ("coat", "Charcoal", "check", "Mustard"),
    "shorts.jpg": ("shorts", "Khaki", "solid", None),
    "scarf.jpg": ("scarf", "Burgundy", "solid", None),
    "scarf-detail.jpg": ("scarf", "Burgundy", "stripes", "Camel"),
    "belt.jpg": ("belt", "Camel", "solid", None),
}
GOOGLE_PHOTOS = {
    "dress-red.jpg": ("dress", "Red", "solid", None),
    "dress-red-back.jpg": ("dress", "Red", "stripes", "Black"),
    "dress-red-side.jpg": ("dress", "Red", "dots", "White"),
    "dress-blue.jpg": ("dress", "Blue", "solid", None),
    "bag.jpg": ("bag", "Khaki", "solid", None),
    **{f"bag-{n}.jpg": ("bag", ("Khaki", "Camel", "Navy", "Black", "Red")[n % 5],
                        ("stripes", "dots", "check")[n % 3], ("White", "Mustard", "Charcoal")[n % 3])
       for n in range(1, 16) if n != 3},
    "cap.jpg": ("cap", "Sky Blue", "solid", None),
    "cap-side.jpg": ("cap", "Sky Blue", "check", "White"),
}
DEAD = ("bag-3.jpg",)

SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
                  "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU",
                  "Variant Inventory Qty", "Variant Price", "Variant Compare At Price", "Variant Image", "Image Src",
                  "Image Position", "Status"]
GOOGLE_HEADER = ["id", "title", "description", "link", "image_link", "additional_image_link", "availability", "price",
                 "sale_price", "brand", "color", "size", "item_group_id"]


def _shape(draw: ImageDraw.ImageDraw, shape: str, fill) -> None:
    if shape == "tee":
        draw.polygon([(60, 40), (132, 40), (175, 75), (150, 100), (140, 90), (140, 210), (52, 210), (52, 90),
                      (42, 100), (17, 75)], fill=fill)
    elif shape == "coat":
        draw.rectangle([40, 25, 152, 225], fill=fill)
    elif shape == "shorts":
        draw.polygon([(40, 60), (152, 60), (165, 170), (105, 170), (96, 110), (87, 170), (27, 170)], fill=fill)
    elif shape == "scarf":
        draw.rectangle([76, 10, 116, 230], fill=fill)
    elif shape == "belt":
        draw.rectangle([10, 105, 182, 135], fill=fill)
    elif shape == "dress":
        draw.polygon([(70, 20), (122, 20), (130, 90), (170, 225), (22, 225), (62, 90)], fill=fill)
    elif shape == "bag":
        draw.rectangle([30, 90, 162, 210], fill=fill)
        draw.arc([60, 40, 132, 130], 180, 360, fill=fill, width=10)
    else:  # cap
        draw.pieslice([36, 70, 156, 190], 180, 360, fill=fill)
        draw.rectangle([120, 124, 186, 136], fill=fill)


def draw(shape: str, colour: str, pattern: str, second: str | None) -> Image.Image:
    """A product photo: the shape in its colour on a light studio background, with a pattern of a second colour."""
    image = Image.new("RGB", SIZE, BACKGROUND)
    _shape(ImageDraw.Draw(image), shape, RGB[colour])
    if pattern != "solid":
        mask = Image.new("L", SIZE, 0)
        _shape(ImageDraw.Draw(mask), shape, 255)
        layer = Image.new("RGB", SIZE, RGB[colour])
        pen = ImageDraw.Draw(layer)
        for k in range(0, max(SIZE), 24):
            if pattern == "stripes":
                pen.rectangle([0, k, SIZE[0], k + 9], fill=RGB[second])
            elif pattern == "dots":
                for x in range(6, SIZE[0], 24):
                    pen.ellipse([x, k + 6, x + 10, k + 16], fill=RGB[second])
            else:  # check
                pen.rectangle([0, k, SIZE[0], k + 5], fill=RGB[second])
                pen.rectangle([k, 0, k + 5, SIZE[1]], fill=RGB[second])
        image.paste(layer, (0, 0), mask)
    return image


@lru_cache(maxsize=None)
def _jpeg(name: str) -> bytes:
    buf = io.BytesIO()
    draw(*{**SHOPIFY_PHOTOS, **GOOGLE_PHOTOS}[name]).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def photos() -> dict[str, bytes]:
    """Every live photo of both catalogues: name -> JPEG bytes (the dead ones are not here)."""
    return {name: _jpeg(name) for name in (*SHOPIFY_PHOTOS, *GOOGLE_PHOTOS)}


def _references(folder: Path, names: dict, photo_url: Callable[[str], str] | None) -> Callable[[str], str]:
    """name -> what the CSV holds for it; writes the local photos first when there is no photo_url."""
    if photo_url is not None:
        return photo_url
    for name in names:
        if name not in DEAD:
            (folder / name).write_bytes(_jpeg(name))
    return lambda name: name


def _write(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _shopify(handle, title="", body="", vendor="", category="", type_="", tags="", published="", o1n="", o1v="",
             o2n="", o2v="", sku="", qty="", price="", compare="", variant_image="", src="", position="", status=""):
    return [handle, title, body, vendor, category, type_, tags, published, o1n, o1v, o2n, o2v, sku, qty, price,
            compare, variant_image, src, position, status]


def shopify_export(folder: Path, photo_url: Callable[[str], str] | None = None) -> Path:
    """The Shopify export described in the module docstring, written to folder / 'products_export.csv'."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ref = _references(folder, SHOPIFY_PHOTOS, photo_url)
    rows = [
        _shopify("sky-red-tee", "Two-Tone Tee", "<p>Soft <b>cotton</b> tee</p>", "Acme",
                 "Apparel & Accessories > Clothing > Shirts & Tops", "T-Shirt", "summer, cotton", "TRUE",
                 "Color", "Sky Blue", "Size", "S", "TS-0042-SKY", "3", "20.00", "25.00", ref("tee-sky.jpg"),
                 ref("tee-back.jpg"), "2", "active"),
        _shopify("sky-red-tee", o1v="Red", o2v="M", sku="TS-0042-RED", qty="5", price="22.00", compare="30.00",
                 variant_image=ref("tee-red.jpg"), src=ref("tee-front.jpg"), position="1"),
        _shopify("sky-red-tee", src=ref("tee-sky.jpg"), position="3"),
        _shopify("wool-coat", "Wool Coat", "A warm forest green wool coat", "Northwind",
                 "Apparel & Accessories > Clothing > Outerwear", "Coat", "winter", "TRUE", "Title", "Default Title",
                 sku="WC-100", qty="2", price="120.00", compare="120.00", src=ref("coat-front.jpg"), position="1",
                 status="active"),
        _shopify("wool-coat", src=ref("coat-back.jpg"), position="2"),
        _shopify("linen-shorts", "Linen Shorts", "Khaki linen shorts", "Acme",
                 "Apparel & Accessories > Clothing > Shorts", "Shorts", "summer, linen", "FALSE", "Size", "S",
                 sku="LS-S", qty="4", price="30.00", compare="25.00", src=ref("shorts.jpg"), position="1",
                 status="draft"),
        _shopify("linen-shorts", o1v="M", sku="LS-M", qty="1", price="30.00", compare="25.00"),
        _shopify("silk-scarf", "Silk Scarf", "A burgundy silk scarf", "Loom", "", "Scarf", "gift", "FALSE",
                 "Color", "Burgundy", sku="SC-BUR", qty="6", price="15.00", src=ref("scarf.jpg"), position="1",
                 status="Archived"),
        _shopify("silk-scarf", src=ref("scarf-detail.jpg"), position="2"),
        _shopify("leather-belt", "Leather Belt", "A camel leather belt", "Northwind", "", "Belt", "", "TRUE",
                 "Color", "Camel", sku="BELT-1", qty="9", price="35.00", compare="50.00", src=ref("belt.jpg"),
                 position="1", status="active"),
    ]
    return _write(folder / "products_export.csv", SHOPIFY_HEADER, rows)


def google_feed(folder: Path, photo_url: Callable[[str], str] | None = None) -> Path:
    """The Merchant Center feed described in the module docstring, written to folder / 'feed.tsv'."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ref = _references(folder, {**GOOGLE_PHOTOS, **dict.fromkeys(DEAD)}, photo_url)
    bag_extra = ",".join(ref(f"bag-{n}.jpg") for n in range(1, 16))
    rows = [
        ["G-DRESS-RED", "Wrap Dress", "A red wrap dress", "https://shop.example/dress", ref("dress-red.jpg"),
         f"{ref('dress-red-back.jpg')},{ref('dress-red-side.jpg')}", "in_stock", "50.00 USD", "40.00 USD", "Acme",
         "Red", "M", "DR"],
        ["G-DRESS-BLUE", "Wrap Dress", "A blue wrap dress", "https://shop.example/dress", ref("dress-blue.jpg"), "",
         "in_stock", "50.00 USD", "", "Acme", "Blue", "M", "DR"],
        ["G-BAG", "Canvas Bag", "A roomy canvas bag", "https://shop.example/bag", ref("bag.jpg"), bag_extra,
         "in_stock", "80.00 USD", "80.00 USD", "Loom", "Khaki", "One", ""],
        ["G-CAP", "Sky Cap", "A sky blue cap", "https://shop.example/cap", ref("cap.jpg"), ref("cap-side.jpg"),
         "out_of_stock", "12.00 USD", "", "Northwind", "Sky Blue", "One", ""],
    ]
    return _write(folder / "feed.tsv", GOOGLE_HEADER, rows, delimiter="\t")


def index_shopify_export(settings, folder: Path) -> Path:
    """The Shopify export written to folder and indexed as the CLI would (photos as local files beside the CSV), with
    the settings' model into the settings' embedded store; returns the export's path."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.models.embedder import load_embedder

    export = shopify_export(folder)
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        index_catalog(export, export.parent, load_embedder(settings.model, "cpu"), store)
    finally:
        store.close()
    return export
