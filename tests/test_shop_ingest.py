"""Real shop catalogues read end to end (issue 21): every photo, hero first, deduplicated and capped; Shopify variants
and SKUs; status in lower case; compare-at prices kept as given, on_sale and discount; Google's sale_price."""

from __future__ import annotations

import time

import pytest

from core.ingest.catalog import read_catalog
from tests.conftest import write_csv
from tests.helpers import shop_catalogues as shops

CDN = "https://cdn.example/"


def _by_id(catalog) -> dict:
    return {p.product_id: p for p in catalog.products}


def _cdn(name: str) -> str:
    return CDN + name


# ---- the Shopify export: exact payloads -----------------------------------------------------------------------

def test_shopify_export_gives_every_photo_variant_sku_status_and_sale_of_each_handle(tmp_path):
    catalog = read_catalog(shops.shopify_export(tmp_path))

    def at(name: str) -> str:
        return str((tmp_path / name).resolve())

    assert [p.product_id for p in catalog.products] == ["sky-red-tee", "wool-coat", "linen-shorts", "silk-scarf",
                                                        "leather-belt"]
    assert catalog.problems == [] and catalog.report.notes == []
    by_id = _by_id(catalog)
    assert by_id["sky-red-tee"].payload == {
        "product_id": "sky-red-tee", "title": "Two-Tone Tee", "description": "Soft cotton tee", "brand": "Acme",
        "category": "Apparel & Accessories", "sub_category": "Clothing", "product_type": "T-Shirt",
        "tags": ["summer", "cotton"], "published": "TRUE", "status": "active",
        "colour": ["Sky Blue", "Red"], "size": ["S", "M"], "sku": ["TS-0042-SKY", "TS-0042-RED"],
        "price": 20.0, "compare_at_price": 25.0, "on_sale": "yes", "discount": 20.0,
        "inventory": 8.0, "in_stock": "yes",
        "variants": [
            {"sku": "TS-0042-SKY", "colour": "Sky Blue", "size": "S", "price": 20.0, "compare_at_price": 25.0,
             "inventory": 3.0, "image": at("tee-sky.jpg")},
            {"sku": "TS-0042-RED", "colour": "Red", "size": "M", "price": 22.0, "compare_at_price": 30.0,
             "inventory": 5.0, "image": at("tee-red.jpg")}],
        "image_path": at("tee-front.jpg"),
        # Image Src by position (rows list 2, 1, 3), then the Variant Image that is not an Image Src
        "photos": [at("tee-front.jpg"), at("tee-back.jpg"), at("tee-sky.jpg"), at("tee-red.jpg")]}
    assert by_id["wool-coat"].payload == {
        "product_id": "wool-coat", "title": "Wool Coat", "description": "A warm forest green wool coat",
        "brand": "Northwind", "category": "Apparel & Accessories", "sub_category": "Clothing", "product_type": "Coat",
        "tags": ["winter"], "published": "TRUE", "status": "active", "sku": ["WC-100"],
        "price": 120.0, "compare_at_price": 120.0, "on_sale": "no",  # equal: kept as given, no sale
        "inventory": 2.0, "in_stock": "yes",
        "variants": [{"sku": "WC-100", "price": 120.0, "compare_at_price": 120.0, "inventory": 2.0}],
        "image_path": at("coat-front.jpg"), "photos": [at("coat-front.jpg"), at("coat-back.jpg")]}
    assert by_id["linen-shorts"].payload == {
        "product_id": "linen-shorts", "title": "Linen Shorts", "description": "Khaki linen shorts", "brand": "Acme",
        "category": "Apparel & Accessories", "sub_category": "Clothing", "product_type": "Shorts",
        "tags": ["summer", "linen"], "published": "FALSE", "status": "draft", "size": ["S", "M"],
        "sku": ["LS-S", "LS-M"],
        "price": 30.0, "compare_at_price": 25.0, "on_sale": "no",  # below the price: kept as given, no sale
        "inventory": 5.0, "in_stock": "yes",
        "variants": [{"sku": "LS-S", "size": "S", "price": 30.0, "compare_at_price": 25.0, "inventory": 4.0},
                     {"sku": "LS-M", "size": "M", "price": 30.0, "compare_at_price": 25.0, "inventory": 1.0}],
        "image_path": at("shorts.jpg"), "photos": [at("shorts.jpg")]}
    assert by_id["silk-scarf"].payload == {
        "product_id": "silk-scarf", "title": "Silk Scarf", "description": "A burgundy silk scarf", "brand": "Loom",
        "product_type": "Scarf", "tags": ["gift"], "published": "FALSE", "status": "archived",  # 'Archived'
        "colour": ["Burgundy"], "sku": ["SC-BUR"], "price": 15.0, "on_sale": "no", "inventory": 6.0,
        "in_stock": "yes", "variants": [{"sku": "SC-BUR", "colour": "Burgundy", "price": 15.0, "inventory": 6.0}],
        "image_path": at("scarf.jpg"), "photos": [at("scarf.jpg"), at("scarf-detail.jpg")]}
    assert by_id["leather-belt"].payload == {
        "product_id": "leather-belt", "title": "Leather Belt", "description": "A camel leather belt",
        "brand": "Northwind", "product_type": "Belt", "published": "TRUE", "status": "active", "colour": ["Camel"],
        "sku": ["BELT-1"], "price": 35.0, "compare_at_price": 50.0, "on_sale": "yes", "discount": 30.0,
        "inventory": 9.0, "in_stock": "yes",
        "variants": [{"sku": "BELT-1", "colour": "Camel", "price": 35.0, "compare_at_price": 50.0, "inventory": 9.0}],
        "image_path": at("belt.jpg"), "photos": [at("belt.jpg")]}
    assert all(p.photo_problems == {} and p.image_problem is None for p in catalog.products)


def test_shopify_export_schema_has_sku_status_sale_flag_and_discount(tmp_path):
    schema = read_catalog(shops.shopify_export(tmp_path)).report.schema
    assert schema.keyword == ("gender", "category", "sub_category", "product_type", "colour", "usage", "brand",
                              "tags", "in_stock", "status", "sku", "on_sale", "size", "published")
    assert schema.number == ("price", "inventory", "compare_at_price", "discount")
    assert schema.flags == ("in_stock", "on_sale")


def test_shopify_photo_urls_are_kept_as_given_and_a_variant_photo_points_at_its_url(tmp_path):
    tee = read_catalog(shops.shopify_export(tmp_path, photo_url=_cdn)).products[0]
    assert tee.payload["photos"] == [_cdn("tee-front.jpg"), _cdn("tee-back.jpg"), _cdn("tee-sky.jpg"),
                                     _cdn("tee-red.jpg")]
    assert tee.payload["image_url"] == _cdn("tee-front.jpg") and tee.payload["image_path"] == ""
    assert [v["image"] for v in tee.payload["variants"]] == [_cdn("tee-sky.jpg"), _cdn("tee-red.jpg")]


# ---- the Google feed: exact payloads --------------------------------------------------------------------------

def test_google_feed_gives_every_photo_and_sale_price_of_each_id(tmp_path):
    catalog = read_catalog(shops.google_feed(tmp_path))

    def at(name: str) -> str:
        return str((tmp_path / name).resolve())

    assert [p.product_id for p in catalog.products] == ["G-DRESS-RED", "G-DRESS-BLUE", "G-BAG", "G-CAP"]
    assert catalog.problems == []
    assert catalog.report.notes == ["1 product had more than 10 photos; the first 10 are kept"]
    by_id = _by_id(catalog)
    assert by_id["G-DRESS-RED"].payload == {
        "product_id": "G-DRESS-RED", "title": "Wrap Dress", "description": "A red wrap dress",
        "link": "https://shop.example/dress", "in_stock": "yes", "brand": "Acme", "colour": ["Red"], "size": "M",
        "item_group_id": "DR", "currency": "USD",
        "price": 40.0, "compare_at_price": 50.0, "on_sale": "yes", "discount": 20.0,  # sale_price 40, price 50
        "image_path": at("dress-red.jpg"),
        "photos": [at("dress-red.jpg"), at("dress-red-back.jpg"), at("dress-red-side.jpg")]}
    assert by_id["G-DRESS-BLUE"].payload == {
        "product_id": "G-DRESS-BLUE", "title": "Wrap Dress", "description": "A blue wrap dress",
        "link": "https://shop.example/dress", "in_stock": "yes", "brand": "Acme", "colour": ["Blue"], "size": "M",
        "item_group_id": "DR", "currency": "USD", "price": 50.0, "on_sale": "no",
        "image_path": at("dress-blue.jpg"), "photos": [at("dress-blue.jpg")]}
    assert by_id["G-BAG"].payload == {
        "product_id": "G-BAG", "title": "Canvas Bag", "description": "A roomy canvas bag",
        "link": "https://shop.example/bag", "in_stock": "yes", "brand": "Loom", "colour": ["Khaki"], "size": "One",
        "currency": "USD", "price": 80.0, "compare_at_price": 80.0, "on_sale": "no",  # sale_price equal to price
        "image_path": at("bag.jpg"),
        # 16 references, the first 10 kept; bag-3.jpg is one of them but its file is not there
        "photos": [at("bag.jpg"), *(at(f"bag-{n}.jpg") for n in (1, 2, 4, 5, 6, 7, 8, 9))]}
    assert by_id["G-BAG"].photo_problems == {"bag-3.jpg": "image file not found: bag-3.jpg"}
    assert by_id["G-CAP"].payload == {
        "product_id": "G-CAP", "title": "Sky Cap", "description": "A sky blue cap", "link": "https://shop.example/cap",
        "in_stock": "no", "brand": "Northwind", "colour": ["Sky Blue"], "size": "One", "currency": "USD",
        "price": 12.0, "on_sale": "no", "image_path": at("cap.jpg"), "photos": [at("cap.jpg"), at("cap-side.jpg")]}


def test_google_additional_image_link_with_15_urls_keeps_ten_references_the_dead_one_included(tmp_path):
    catalog = read_catalog(shops.google_feed(tmp_path, photo_url=_cdn))
    bag = _by_id(catalog)["G-BAG"]
    # A dead URL is not known while reading: it is the indexer's to fetch and report.
    assert bag.payload["photos"] == [_cdn("bag.jpg"), *(_cdn(f"bag-{n}.jpg") for n in range(1, 10))]
    assert bag.photo_problems == {}
    assert catalog.report.notes == ["1 product had more than 10 photos; the first 10 are kept"]


def test_google_additional_image_link_may_be_a_repeated_column(tmp_path):
    header = ["id", "title", "image_link", "additional_image_link", "additional_image_link"]
    path = write_csv(tmp_path / "feed.csv", header, [["1", "Tee", _cdn("a.jpg"), _cdn("b.jpg"), _cdn("c.jpg")]])
    catalog = read_catalog(path)
    assert catalog.report.format == "google"
    assert catalog.products[0].payload["photos"] == [_cdn("a.jpg"), _cdn("b.jpg"), _cdn("c.jpg")]


def test_a_sale_price_without_a_regular_price_is_the_price_and_no_sale(tmp_path):
    header = ["id", "title", "image_link", "sale_price"]
    product = read_catalog(write_csv(tmp_path / "f.csv", header, [["1", "Tee", _cdn("a.jpg"), "9.00 USD"]])).products[0]
    assert (product.payload["price"], product.payload["on_sale"]) == (9.0, "no")
    assert "compare_at_price" not in product.payload and "sale_price" not in product.payload


def test_discount_is_a_number_field_even_when_nothing_is_on_sale(tmp_path):
    # so that '--sort -discount' and a discount range work on any catalogue with prices
    path = write_csv(tmp_path / "c.csv", ["id", "title", "price"], [["1", "Tee", "10"]])
    catalog = read_catalog(path)
    assert catalog.report.schema.number == ("price", "discount") and "discount" not in catalog.products[0].payload
    assert catalog.report.schema.flags == ("on_sale",)
    bare = read_catalog(write_csv(tmp_path / "d.csv", ["id", "title"], [["1", "Tee"]])).report.schema
    assert (bare.number, bare.flags) == ((), ())


# ---- bad input ------------------------------------------------------------------------------------------------

def test_a_product_with_200_photos_keeps_the_first_ten_with_a_note(tmp_path):
    refs = [_cdn(f"p{n}.jpg") for n in range(200)]
    path = write_csv(tmp_path / "c.csv", ["id", "title", "images"],
                     [["1", "Tee", "|".join(refs)], ["2", "Cap", _cdn("cap.jpg")]])
    catalog = read_catalog(path)
    tee, cap = catalog.products
    assert tee.payload["photos"] == refs[:10] and tee.payload["image_url"] == refs[0]
    assert cap.payload["photos"] == [_cdn("cap.jpg")]
    assert catalog.report.notes == ["1 product had more than 10 photos; the first 10 are kept"]


def test_a_shopify_handle_with_200_image_rows_keeps_the_ten_lowest_positions(tmp_path):
    header = ["Handle", "Title", "Image Src", "Image Position"]
    rows = [["tee", "Tee", _cdn("p199.jpg"), "200"]] + [["tee", "", _cdn(f"p{n}.jpg"), str(n + 1)]
                                                        for n in range(198, -1, -1)]
    catalog = read_catalog(write_csv(tmp_path / "p.csv", header, rows))
    assert catalog.products[0].payload["photos"] == [_cdn(f"p{n}.jpg") for n in range(10)]
    assert catalog.report.notes == ["1 product had more than 10 photos; the first 10 are kept"]


def test_the_cap_follows_max_photos(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "images"],
                     [["1", "Tee", " ".join(_cdn(f"p{n}.jpg") for n in range(5))]])
    catalog = read_catalog(path, max_photos=3)
    assert catalog.products[0].payload["photos"] == [_cdn("p0.jpg"), _cdn("p1.jpg"), _cdn("p2.jpg")]
    assert catalog.report.notes == ["1 product had more than 3 photos; the first 3 are kept"]


def test_reading_many_photo_references_is_linear(tmp_path):
    # One handle with 30,000 image rows, most of them repeats, and a 4,000-reference cell: a quadratic dedupe, sort
    # or split would take minutes (a cell stays under the CSV reader's 128 KiB field limit).
    header = ["Handle", "Title", "Image Src", "Image Position"]
    rows = [["tee", "Tee", _cdn("p0.jpg"), "1"]] + [["tee", "", _cdn(f"p{n % 5_000}.jpg"), str(n)]
                                                    for n in range(1, 30_000)]
    shopify = write_csv(tmp_path / "p.csv", header, rows)
    generic = write_csv(tmp_path / "c.csv", ["id", "title", "images"],
                        [["1", "Tee", "|".join(_cdn(f"p{n % 2_000}.jpg") for n in range(4_000))]])
    started = time.perf_counter()
    photos = [read_catalog(path).products[0].payload["photos"] for path in (shopify, generic)]
    assert time.perf_counter() - started < 20
    assert photos == [[_cdn(f"p{n}.jpg") for n in range(10)]] * 2


@pytest.mark.parametrize("header, row", [
    (["id", "title", "images"], ["1", "Tee", f"{_cdn('a.jpg')}|{_cdn('a.jpg')} {_cdn('a.jpg')}"]),
    (["id", "title", "image", "images"], ["1", "Tee", _cdn("a.jpg"), f"{_cdn('a.jpg')}|{_cdn('a.jpg')}"]),
    (["id", "title", "image_link", "additional_image_link"], ["1", "Tee", _cdn("a.jpg"),
                                                              f"{_cdn('a.jpg')},{_cdn('a.jpg')}"]),
    (["id", "title", "image_1", "image_2", "image_3"], ["1", "Tee", _cdn("a.jpg"), _cdn("a.jpg"), _cdn("a.jpg")]),
], ids=["images", "image-and-images", "google", "numbered"])
def test_the_same_photo_url_three_times_is_one_photo(tmp_path, header, row):
    product = read_catalog(write_csv(tmp_path / "c.csv", header, [row])).products[0]
    assert product.payload["photos"] == [_cdn("a.jpg")] and product.photo_problems == {}


def test_the_same_shopify_image_src_on_three_rows_is_one_photo(tmp_path):
    header = ["Handle", "Title", "Image Src", "Image Position", "Variant Image"]
    rows = [["tee", "Tee", _cdn("a.jpg"), "1", _cdn("a.jpg")], ["tee", "", _cdn("a.jpg"), "2", ""],
            ["tee", "", _cdn("b.jpg"), "3", ""], ["tee", "", _cdn("a.jpg"), "4", ""]]
    product = read_catalog(write_csv(tmp_path / "p.csv", header, rows)).products[0]
    assert product.payload["photos"] == [_cdn("a.jpg"), _cdn("b.jpg")]


def test_one_local_photo_named_two_ways_is_one_photo(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    product = read_catalog(write_csv(tmp_path / "c.csv", ["id", "title", "images"],
                                     [["1", "Tee", "a.jpg|./a.jpg|b.jpg"]])).products[0]
    assert product.payload["photos"] == [str((tmp_path / "a.jpg").resolve()), str((tmp_path / "b.jpg").resolve())]


def test_a_variant_image_that_is_not_an_image_src_is_kept_after_them(tmp_path):
    header = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Image", "Image Src",
              "Image Position"]
    rows = [["tee", "Tee", "Color", "Navy", "T-N", _cdn("navy.jpg"), _cdn("front.jpg"), "1"],
            ["tee", "", "", "Ultraviolet", "T-U", _cdn("uv.jpg"), _cdn("back.jpg"), "2"]]
    product = read_catalog(write_csv(tmp_path / "p.csv", header, rows)).products[0]
    assert product.payload["photos"] == [_cdn("front.jpg"), _cdn("back.jpg"), _cdn("navy.jpg"), _cdn("uv.jpg")]
    assert product.payload["variants"] == [{"sku": "T-N", "colour": "Navy", "image": _cdn("navy.jpg")},
                                           {"sku": "T-U", "colour": "Ultraviolet", "image": _cdn("uv.jpg")}]


def test_a_variant_whose_photo_is_capped_away_has_no_image(tmp_path):
    header = ["Handle", "Title", "Variant SKU", "Variant Image", "Image Src", "Image Position"]
    rows = [["tee", "Tee", "T-1", _cdn("variant.jpg"), _cdn("p0.jpg"), "1"],
            *(["tee", "", "", "", _cdn(f"p{n}.jpg"), str(n + 1)] for n in range(1, 12))]
    product = read_catalog(write_csv(tmp_path / "p.csv", header, rows)).products[0]
    assert product.payload["photos"] == [_cdn(f"p{n}.jpg") for n in range(10)]
    assert product.payload["variants"] == [{"sku": "T-1"}]


@pytest.mark.parametrize("price, compare, expected", [
    ("20", "25", {"price": 20.0, "compare_at_price": 25.0, "on_sale": "yes", "discount": 20.0}),
    ("20", "20", {"price": 20.0, "compare_at_price": 20.0, "on_sale": "no"}),
    ("20", "15", {"price": 20.0, "compare_at_price": 15.0, "on_sale": "no"}),
    ("20", "", {"price": 20.0, "on_sale": "no"}),
    ("", "25", {"compare_at_price": 25.0}),  # no price: neither a sale nor not one
    ("29.99", "39.99", {"price": 29.99, "compare_at_price": 39.99, "on_sale": "yes", "discount": 25.0}),
], ids=["above", "equal", "below", "no-compare-at", "no-price", "rounded"])
def test_only_a_compare_at_price_above_the_price_is_a_sale(tmp_path, price, compare, expected):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "price", "compare_at_price"], [["1", "Tee", price, compare]])
    payload = read_catalog(path).products[0].payload
    assert {k: payload[k] for k in ("price", "compare_at_price", "on_sale", "discount") if k in payload} == expected


@pytest.mark.parametrize("status", ["Archived", "ARCHIVED", " archived "])
def test_a_status_in_another_case_is_lower_case(tmp_path, status):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "status"], [["1", "Tee", status]])
    catalog = read_catalog(path)
    assert catalog.products[0].payload["status"] == "archived"
    assert "status" in catalog.report.schema.keyword and catalog.report.mapping["status"] == "status"


def test_unknown_colour_names_pass_through_untouched(tmp_path):
    header = ["Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU"]
    rows = [["tee", "Tee", "Colour", "Ultraviolet", "T-1"], ["tee", "", "", "sky-blue", "T-2"]]
    shopify = read_catalog(write_csv(tmp_path / "p.csv", header, rows)).products[0]
    assert shopify.payload["colour"] == ["Ultraviolet", "sky-blue"]
    assert [v["colour"] for v in shopify.payload["variants"]] == ["Ultraviolet", "sky-blue"]
    google = read_catalog(write_csv(tmp_path / "f.csv", ["id", "title", "image_link", "color"],
                                    [["1", "Cap", _cdn("a.jpg"), "Ultraviolet/Rose Gold"]])).products[0]
    assert google.payload["colour"] == ["Ultraviolet", "Rose Gold"]


# ---- generic photo columns, SKUs and refused references ---------------------------------------------------------

def test_a_generic_images_column_without_an_image_column_gives_the_hero_first(tmp_path):
    (tmp_path / "front.jpg").write_bytes(b"x")
    path = write_csv(tmp_path / "c.csv", ["id", "title", "images"], [["1", "Tee", f"front.jpg | {_cdn('b.jpg')}"]])
    product = read_catalog(path).products[0]
    assert product.image_file == (tmp_path / "front.jpg").resolve()
    assert product.payload["photos"] == [str((tmp_path / "front.jpg").resolve()), _cdn("b.jpg")]


def test_numbered_image_columns_follow_the_image_column(tmp_path):
    header = ["id", "title", "image", "Image 2", "image_3", "additional_image"]
    row = ["1", "Tee", _cdn("a.jpg"), _cdn("b.jpg"), "", _cdn("d.jpg")]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", header, [row]))
    assert catalog.products[0].payload["photos"] == [_cdn("a.jpg"), _cdn("b.jpg"), _cdn("d.jpg")]
    assert not {"image_2", "image_3", "additional_image"} & set(catalog.products[0].payload)


def test_photo_references_that_are_refused_never_become_photos(tmp_path):
    (tmp_path / "ok.jpg").write_bytes(b"x")
    cell = "ok.jpg|../../etc/passwd|/etc/passwd|file:///etc/passwd|javascript:alert(1)|missing.jpg"
    product = read_catalog(write_csv(tmp_path / "c.csv", ["id", "title", "images"], [["1", "Tee", cell]])).products[0]
    assert product.payload["photos"] == [str((tmp_path / "ok.jpg").resolve())]
    assert product.photo_problems == {
        "../../etc/passwd": "image path escapes the images folder, refused: ../../etc/passwd",
        "/etc/passwd": "image path is absolute, refused: /etc/passwd",
        "file:///etc/passwd": "image URL scheme 'file' is refused (only http and https)",
        "javascript:alert(1)": "image URL scheme 'javascript' is refused (only http and https)",
        "missing.jpg": "image file not found: missing.jpg"}


def test_a_hero_that_is_not_found_is_its_own_problem_and_the_others_are_still_photos(tmp_path):
    (tmp_path / "b.jpg").write_bytes(b"x")
    path = write_csv(tmp_path / "c.csv", ["id", "title", "image", "images"], [["1", "Tee", "a.jpg", "a.jpg|b.jpg"]])
    product = read_catalog(path).products[0]
    assert product.image_problem == "image file not found: a.jpg" and product.image_file is None
    assert product.payload["photos"] == [str((tmp_path / "b.jpg").resolve())] and product.photo_problems == {}


def test_a_generic_sku_column_beside_the_id_is_the_sku_list(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "sku"], [["1", "Tee", "ABC-123"], ["2", "Cap", ""]])
    catalog = read_catalog(path)
    assert [p.payload.get("sku") for p in catalog.products] == [["ABC-123"], None]
    assert "sku" in catalog.report.schema.keyword


def test_a_column_named_like_a_worked_out_field_steps_aside(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "price", "Discount", "on_sale"],
                     [["1", "Tee", "10", "5%", "maybe"]])
    catalog = read_catalog(path)
    payload = catalog.products[0].payload
    assert (payload["discount_column"], payload["on_sale_column"], payload["on_sale"]) == ("5%", "maybe", "no")
    assert "discount" not in payload
    assert catalog.report.notes[:2] == [
        "column 'Discount' is kept as discount_column: discount is worked out from price and compare_at_price",
        "column 'on_sale' is kept as on_sale_column: on_sale is worked out from price and compare_at_price"]


def test_a_single_photo_catalogue_keeps_its_one_photo(tmp_path):
    (tmp_path / "1.jpg").write_bytes(b"x")
    product = read_catalog(write_csv(tmp_path / "c.csv", ["id", "title"], [["1", "Tee"]])).products[0]
    assert product.payload["photos"] == [str((tmp_path / "1.jpg").resolve())]  # found by its id, as before
    none = read_catalog(write_csv(tmp_path / "d.csv", ["id", "title"], [["2", "Cap"]])).products[0]
    assert "photos" not in none.payload and none.photo_problems == {}
