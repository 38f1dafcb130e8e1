"""A Shopify export and a Google feed with photos behind URLs, each indexed with one command and no mapping;
then brand filters, price ranges and price sorting give exactly the right products, and bad URLs say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


from tests.conftest import ROOT, write_csv
from tests.helpers.photo_server import PHOTOS, jpeg as _jpeg


SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Option1 Name", "Option1 Value",
                  "Variant SKU", "Variant Inventory Qty", "Variant Price", "Image Src", "Image Position"]


def shopify_export(folder: Path, base: str) -> Path:
    rows = [
        ["red-dress", "Red Wrap Dress", "<p>Wrap dress</p>", "Mango", "Dress", "summer", "Color", "Red", "RD-S", "2",
         "49.90", f"{base}/dress-red.jpg", "1"],
        ["red-dress", "", "", "", "", "", "", "Blue", "RD-M", "1", "44.90", f"{base}/dress-blue.jpg", "2"],
        ["tee", "Basic Tee", "", "Nike", "T-Shirt", "", "Color", "White", "T-1", "0", "19.99", f"{base}/tee.jpg", "1"],
        ["sandal", "Leather Sandal", "", "Bata", "Sandal", "", "Color", "Brown", "S-1", "5", "35.00",
         f"{base}/sandal.jpg", "1"],
        ["watch", "Steel Watch", "", "Fossil", "Watch", "", "Color", "Black", "W-1", "1", "129.00",
         f"{base}/watch.jpg", "1"],
    ]
    return write_csv(folder / "products_export.csv", SHOPIFY_HEADER, rows)


GOOGLE_HEADER = ["id", "title", "description", "link", "image_link", "price", "sale_price", "brand", "color",
                 "gender", "product_type", "availability", "item_group_id"]


def google_feed(folder: Path, base: str) -> Path:
    rows = [
        ["G1", "Red Wrap Dress", "A wrap dress", "https://shop.example/g1", f"{base}/dress-red.jpg", "49.90 USD", "",
         "Mango", "Red", "female", "Apparel > Women > Dresses", "in_stock", "DRESS"],
        ["G2", "Blue Wrap Dress", "A wrap dress", "https://shop.example/g2", f"{base}/dress-blue.jpg", "44.90 USD",
         "39.90 USD", "Mango", "Blue", "female", "Apparel > Women > Dresses", "in_stock", "DRESS"],
        ["G3", "Basic Tee", "Cotton tee", "https://shop.example/g3", f"{base}/tee.jpg", "19.99 USD", "", "Nike",
         "White", "male", "Apparel > Men > Tops", "out_of_stock", ""],
        ["G4", "Running Shorts", "Light shorts", "javascript:alert(1)", f"{base}/shorts.jpg", "15.50 USD", "", "Puma",
         "Yellow", "female", "Apparel > Women > Shorts", "in_stock", ""],
    ]
    return write_csv(folder / "feed.tsv", GOOGLE_HEADER, rows, delimiter="\t")


def _env(data: Path, tiny_clip: str, **extra) -> dict:
    env = dict(os.environ, LENS_DATA_DIR=str(data), LENS_MODEL=tiny_clip, LENS_DEVICE="cpu", **extra)
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "LENS_COLLECTION"):
        env.pop(name, None)
    return env


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _browse(env: dict, *args: str) -> list[tuple[str, float | None]]:
    out = _cli(env, "browse", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [(p["product_id"], p["payload"].get("price")) for p in json.loads(out.stdout)["products"]]


def test_a_shopify_export_with_photo_urls_indexes_with_one_command(tmp_path, tiny_clip, photo_server):
    catalog = shopify_export(tmp_path, photo_server.url)
    env = _env(tmp_path / "data", tiny_clip, LENS_ALLOW_PRIVATE_URLS="1")
    out = _cli(env, "index", "--catalog", str(catalog), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["catalog"]["format"] == "shopify" and report["catalog"]["mapping"]["brand"] == "Vendor"
    assert "brand" in report["catalog"]["filters"] and "price" in report["catalog"]["numbers"]
    assert (report["indexed"], report["text_only"], report["failed_rows"]) == (4, 0, 0)
    # issue 21: every photo is fetched once, the blue variant's photo too (it is one of the dress's photos); the first
    # image by position is still the hero
    assert photo_server.requests == {"dress-red.jpg": 1, "tee.jpg": 1, "sandal.jpg": 1, "watch.jpg": 1,
                                     "dress-blue.jpg": 1}

    assert _browse(env, "--sort", "price") == [("tee", 19.99), ("sandal", 35.0), ("red-dress", 44.9),
                                               ("watch", 129.0)]
    assert _browse(env, "--filter", "brand=Mango,Fossil", "--sort", "-price") == [("watch", 129.0),
                                                                                  ("red-dress", 44.9)]
    assert _browse(env, "--range", "price=20:100", "--sort", "price") == [("sandal", 35.0), ("red-dress", 44.9)]
    assert _browse(env, "--filter", "in_stock=yes", "--range", "price=:40", "--sort", "price") == [("sandal", 35.0)]
    facets = json.loads(_cli(env, "facets", "--json", "--filter", "brand=Mango,Nike").stdout)
    assert facets["price"] == {"min": 19.99, "max": 44.9} and {"value": "Bata", "count": 1} in facets["brand"]

    # a re-run fetches nothing and embeds nothing
    rerun = json.loads(_cli(env, "index", "--catalog", str(catalog), "--json").stdout)
    assert (rerun["unchanged"], rerun["indexed"]) == (4, 0) and photo_server.total() == 5


def test_a_google_feed_with_photo_urls_indexes_with_one_command(tmp_path, tiny_clip, embedder, photo_server):
    from core.ingest.fetch import ImageFetcher
    from core.index.indexer import index_catalog
    from core.search.query import SearchRequest, get_products, search
    from core.common.fields import SortKey
    from core.common.filters import Filters
    from core.index.store import EdgeStore

    feed = google_feed(tmp_path, photo_server.url)
    store = EdgeStore(tmp_path / "data")
    with ImageFetcher(tmp_path / "cache", allow_private=True) as fetcher:
        report = index_catalog(feed, None, embedder, store, fetcher=fetcher)
    assert report.catalog["format"] == "google" and (report.indexed, report.text_only) == (4, 0)
    g2, g4 = get_products(store, ["G2", "G4"])
    # issue 21: a sale_price is the price, and the regular price the compare-at price
    assert (g2.number("price"), g2.number("compare_at_price"), g2.number("discount"), g2.text("currency")) == (
        39.9, 44.9, 11.1, "USD")
    assert g2.link == "https://shop.example/g2" and g4.link == ""  # a javascript: link is never a link
    assert (g2.text("category"), g2.text("product_type")) == ("Apparel", "Dresses")
    assert Path(g2.image_path).is_file()  # the cached photo is the product's photo (thumbnails, product view)
    request = SearchRequest(text="dress", filters=Filters.of({"brand": ["Mango", "Puma"], "in_stock": ["yes"]},
                                                            ranges={"price": (15, 46)}), sort=SortKey.parse("price"))
    assert [r.product_id for r in search(store, request, embedder)] == ["G4", "G2"]
    store.close()


def test_bad_photo_urls_make_text_only_products_with_the_reason(tmp_path, embedder, photo_server):
    from core.ingest.fetch import ImageFetcher
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore

    base = photo_server.url
    rows = [["missing", "Missing photo", f"{base}/nope.jpg"], ["flaky", "Flaky server", f"{base}/flaky.jpg"],
            ["slow", "Slow server", f"{base}/slow.jpg"], ["huge", "Huge body", f"{base}/huge.jpg"],
            ["html", "HTML page", f"{base}/page.jpg"], ["file", "Local file", "file:///etc/passwd"],
            ["ftp", "FTP", "ftp://example.com/a.jpg"]]
    catalog = write_csv(tmp_path / "items.csv", ["sku", "name", "image_url"], rows)
    store = EdgeStore(tmp_path / "data")
    with ImageFetcher(tmp_path / "cache", allow_private=True, timeout=1, max_bytes=5_000_000, backoff=0.01) as fetcher:
        report = index_catalog(catalog, None, embedder, store, fetcher=fetcher)
    reasons = {p.product_id: p.reason for p in report.failed}
    assert report.indexed == 7 and report.text_only == 6 and "flaky" not in reasons  # 500 then 200: retried
    assert reasons["missing"] == "indexed text-only: photo URL failed: HTTP 404"
    assert reasons["slow"] == "indexed text-only: photo URL failed: timed out after 1 s"
    assert reasons["huge"].startswith("indexed text-only: photo URL failed: image is larger than 5000000 bytes")
    assert reasons["html"] == "indexed text-only: photo URL failed: not an image: starts like HTML"
    assert "scheme 'file' is refused" in reasons["file"] and "scheme 'ftp' is refused" in reasons["ftp"]
    assert photo_server.requests["flaky.jpg"] == 2
    store.close()


def test_photo_urls_on_private_addresses_are_refused_unless_allowed(tmp_path, tiny_clip, photo_server):
    catalog = write_csv(tmp_path / "items.csv", ["sku", "name", "image"], [["a", "A dress", f"{photo_server.url}/tee.jpg"]])
    env = _env(tmp_path / "data", tiny_clip)
    report = json.loads(_cli(env, "index", "--catalog", str(catalog), "--json").stdout)
    assert report["text_only"] == 1 and photo_server.total() == 0
    assert "resolves to a private address 127.0.0.1; set LENS_ALLOW_PRIVATE_URLS=1" in report["failed"][0]["reason"]
    # allowed, the same run fetches it: a failed fetch is retried on the next run
    env["LENS_ALLOW_PRIVATE_URLS"] = "1"
    report = json.loads(_cli(env, "index", "--catalog", str(catalog), "--json").stdout)
    assert (report["indexed"], report["text_only"]) == (1, 0) and photo_server.total() == 1


def test_a_mapping_naming_a_missing_column_is_a_clear_error(tmp_path, tiny_clip):
    catalog = write_csv(tmp_path / "items.csv", ["SKU", "Name", "Photo"], [["a", "A dress", "a.jpg"]])
    out = _cli(_env(tmp_path / "data", tiny_clip), "index", "--catalog", str(catalog), "--columns",
               "product_id=SKU,title=Nom")
    assert out.returncode == 2 and "Nom" in out.stderr and "SKU, Name, Photo" in out.stderr
    assert "Traceback" not in out.stderr


def test_refresh_images_revalidates_and_re_embeds_only_a_photo_that_changed(tmp_path, tiny_clip, photo_server,
                                                                              monkeypatch):
    catalog = shopify_export(tmp_path, photo_server.url)
    env = _env(tmp_path / "data", tiny_clip, LENS_ALLOW_PRIVATE_URLS="1")
    assert _cli(env, "index", "--catalog", str(catalog)).returncode == 0
    monkeypatch.setitem(PHOTOS, "tee.jpg", _jpeg("Tshirts", "Red"))  # a new photo behind the same URL
    plain = json.loads(_cli(env, "index", "--catalog", str(catalog), "--json").stdout)
    assert (plain["unchanged"], plain["indexed"]) == (4, 0) and photo_server.total() == 5  # the cache is trusted
    refreshed = json.loads(_cli(env, "index", "--catalog", str(catalog), "--refresh-images", "--json").stdout)
    assert (refreshed["unchanged"], refreshed["indexed"]) == (3, 1)
    # one conditional request per photo; the changed one is downloaded once and not asked for again
    assert photo_server.requests == {"dress-red.jpg": 2, "tee.jpg": 2, "sandal.jpg": 2, "watch.jpg": 2,
                                     "dress-blue.jpg": 2}  # issue 21: every photo is revalidated, not only heroes
