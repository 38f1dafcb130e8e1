"""Catalogue formats: detection, column roles, value parsing, Shopify handles, Google feeds, generic columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ingest.catalog import product_text, read_catalog
from core.common.errors import CatalogError
from core.common.fields import ROLES, STANDARD_FILTERS
from core.ingest.formats import detect_format, parse_columns, plan_layout
from core.ingest.values import (category_levels, column_kind, html_to_text, parse_availability, parse_number,
                                parse_price)
from tests.conftest import write_csv


def _by_id(catalog) -> dict:
    return {p.product_id: p for p in catalog.products}


# ---- detection and column mappings ----------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    (["ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle"], "fashion"),
    (["Handle", "Title", "Body (HTML)", "Variant Price"], "shopify"),
    (["Handle", "Variant SKU", "Image Src"], "shopify"),
    (["id", "title", "description", "link", "image_link", "price"], "google"),
    (["ID", "Title", "Image Link", "Item Group ID"], "google"),
    (["id", "title", "price"], "generic"),  # nothing only Google has
    (["SKU", "Name", "Color", "Photo"], "generic"),
    (["Handle", "Colour"], "generic"),
])
def test_format_is_detected_from_the_header(header, expected):
    assert detect_format(header) == expected


def test_column_mapping_text_parses_to_roles():
    assert parse_columns("product_id=SKU, title=Name ,colour=Color,image=Photo") == {
        "product_id": "SKU", "title": "Name", "colour": "Color", "image": "Photo"}
    assert parse_columns("") == {} and parse_columns(None) == {}
    assert parse_columns("link=URL=with=equals") == {"link": "URL=with=equals"}


def test_an_unknown_role_lists_the_valid_ones():
    with pytest.raises(CatalogError) as err:
        parse_columns("product_id=SKU,colr=Color")
    assert str(err.value) == f"unknown role 'colr' in the column mapping; roles: {', '.join(ROLES)}"


@pytest.mark.parametrize("text, message", [
    ("title", "column mapping 'title' must look like role=Column"),
    ("title=", "column mapping 'title=' must look like role=Column"),
    ("=Name", "column mapping '=Name' must look like role=Column"),
    ("title=Name,title=Label", "column mapping names title twice"),
])
def test_a_malformed_column_mapping_is_a_clear_error(text, message):
    with pytest.raises(CatalogError, match=message):
        parse_columns(text)


def test_a_mapping_to_a_missing_column_names_it_and_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["SKU", "Name", "Colour"], [["1", "Tee", "Red"]])
    with pytest.raises(CatalogError) as err:
        read_catalog(path, columns="title=Product Name")
    assert str(err.value) == ("column mapping title=Product Name: the catalogue has no column 'Product Name'; "
                              "3 column(s) found (comma-separated): SKU, Name, Colour")


def test_an_unknown_format_is_refused(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title"], [["1", "Tee"]])
    with pytest.raises(CatalogError, match="unknown catalogue format 'magento'; formats: auto, fashion, shopify"):
        read_catalog(path, format="magento")


# ---- value parsing --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1,299.00", (1299.0, None)), ("1299", (1299.0, None)), ("15.00 USD", (15.0, "USD")),
    ("USD 15.00", (15.0, "USD")), ("15 usd", (15.0, "USD")), ("€12,50", (12.5, "EUR")), ("12,50 €", (12.5, "EUR")),
    ("1.299,00 EUR", (1299.0, "EUR")), ("1 299,00", (1299.0, None)), ("£8", (8.0, "GBP")),
    ("$15.99", (15.99, None)),  # '$' is several currencies: the amount only
    ("1,299", (1299.0, None)), ("1,299,000", (1299000.0, None)), ("1.299", (1.299, None)), ("", (None, None)),
])
def test_prices_parse_with_their_currency(text, expected):
    assert parse_price(text) == expected


@pytest.mark.parametrize("text, message", [
    ("abc", "is not a number"), ("free", "is not a number"), ("-5", "is negative"), ("1,2,3", "is not a number"),
    ("12.5.3", "is not a number"), ("1e3", "is not a number"), ("abc USD", "is not a number"),
])
def test_bad_prices_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_price(text)


@pytest.mark.parametrize("text, expected", [("12", 12.0), ("-3", -3.0), ("4.5", 4.5), ("", None)])
def test_plain_numbers(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "1,299", "12 kg"])
def test_plain_numbers_refuse_what_float_would_take(text):
    with pytest.raises(ValueError, match="is not a number"):
        parse_number(text)


@pytest.mark.parametrize("text", ["1e999", "-1e999", "+1E400", "9" * 60 + "e999"])
def test_plain_numbers_refuse_what_float_reads_as_infinity(text):
    with pytest.raises(ValueError, match="^is not a finite number$"):
        parse_number(text)


@pytest.mark.parametrize("text", ["1" + "0" * 64, "1" + "0" * 400, "-" + "1" * 40_000, " 1" + "0" * 64 + " "])
def test_plain_numbers_longer_than_any_number_are_refused_whole(text):
    with pytest.raises(ValueError, match=r"^is longer than any number \(more than 64 characters\)$"):
        parse_number(text)
    assert parse_number(text.strip()[:64]) is not None  # the first 64 characters would read: never cut to fit


@pytest.mark.parametrize("text", ["1" + "0" * 400, "USD " + "9" * 400, "1" + ",000" * 200, "€" + "1" * 64,
                                  "1" * 40_000 + " USD"])
def test_prices_longer_than_any_number_are_refused_whole(text):
    with pytest.raises(ValueError, match=r"^is longer than any number \(more than 64 characters\)$"):
        parse_price(text)


def test_the_longest_number_is_read():
    assert parse_number("1" * 64) == float("1" * 64) and parse_price("1" * 60 + " EUR") == (float("1" * 60), "EUR")


@pytest.mark.parametrize("text, expected", [
    ("in stock", True), ("in_stock", True), ("In Stock", True), ("yes", True), ("out of stock", False),
    ("out_of_stock", False), ("preorder", False), ("backorder", False), ("no", False), ("", None),
])
def test_availability_follows_googles_four_values(text, expected):
    assert parse_availability(text) is expected


def test_unknown_availability_is_refused():
    with pytest.raises(ValueError, match="is not one of in_stock, out_of_stock, preorder, backorder"):
        parse_availability("maybe")


@pytest.mark.parametrize("path, expected", [
    ("Apparel", {"category": "Apparel"}),
    ("Apparel > Dresses", {"category": "Apparel", "product_type": "Dresses"}),
    ("Apparel > Women > Dresses", {"category": "Apparel", "sub_category": "Women", "product_type": "Dresses"}),
    ("Home > Kitchen > Cookware > Pans", {"category": "Home", "sub_category": "Cookware", "product_type": "Pans"}),
    (" > ", {}),
])
def test_category_paths_fill_the_three_category_fields(path, expected):
    assert category_levels(path) == expected


def test_html_bodies_become_plain_text():
    html = "<p>Light <b>linen</b> &amp; airy</p><p>Two</p><script>alert('x')</script><style>p{}</style>"
    assert html_to_text(html) == "Light linen & airy Two"
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"


@pytest.mark.parametrize("header, values, expected", [
    ("Weight", ["1.5", "2", "-3"], ("number", None)),
    ("Barcode", ["0012", "0034"], ("keyword", None)),           # leading zeros: codes, not numbers
    ("GTIN", ["4006381333931", "4006381333948"], ("keyword", None)),  # named like an id
    ("Size", ["38", "M", "40", "L"], ("keyword", "column 'Size' mixes numbers and text: kept as a keyword filter")),
    ("Note", [f"note {i}" for i in range(30)], ("text", None)),      # 30 distinct of 30: not a filter
    ("Fit", ["slim", "loose"] * 15, ("keyword", None)),
    ("Page", ["https://a.example/1", "https://a.example/1"], ("text", None)),
    ("Weight", ["1.5", "1e400"], ("keyword", "column 'Weight' has '1e400', which is not a finite number: kept as a "
                                             "keyword filter")),
    ("Weight", ["-1e999"], ("keyword", "column 'Weight' has '-1e999', which is not a finite number: kept as a "
                                       "keyword filter")),
    ("Weight", ["1", "abc", "1e400"], ("keyword", "column 'Weight' mixes numbers and text: kept as a keyword filter")),
])
def test_extra_column_kinds(header, values, expected):
    assert column_kind(header, values) == expected


# ---- Shopify --------------------------------------------------------------------------------------------------

SHOPIFY_HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
                  "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU",
                  "Variant Inventory Qty", "Variant Price", "Variant Compare At Price", "Image Src", "Image Position",
                  "Status", "Google Shopping / Gender", "Variant Image"]


def _shopify_row(handle, title="", body="", vendor="", category="", type_="", tags="", published="", o1n="", o1v="",
                 o2n="", o2v="", sku="", qty="", price="", compare="", src="", position="", status="", gender="",
                 variant_image=""):
    return [handle, title, body, vendor, category, type_, tags, published, o1n, o1v, o2n, o2v, sku, qty, price,
            compare, src, position, status, gender, variant_image]


SHOPIFY_ROWS = [
    _shopify_row("linen-dress", "Linen Dress", "<p>Light <b>linen</b> &amp; airy</p>", "Acme",
                 "Apparel & Accessories > Clothing > Dresses", "Dress", "summer, linen", "TRUE", "Color", "Red",
                 "Size", "S", "LD-R-S", "3", "25.00", "30.00", "https://cdn.example/ld-2.jpg", "2", "active", "Female"),
    _shopify_row("linen-dress", o1v="Red", o2v="M", sku="LD-R-M", qty="4", price="18.50", compare="25.00",
                 src="https://cdn.example/ld-1.jpg", position="1"),
    _shopify_row("linen-dress", o1v="Blue", o2v="S", sku="LD-B-S", qty="0", price="19.00"),
    _shopify_row("linen-dress", src="https://cdn.example/ld-3.jpg", position="3"),  # an image-only row
    _shopify_row("basic-tee", "Basic Tee", "", "Acme", "", "T-Shirt", "", "TRUE", "Title", "Default Title", sku="T-1",
                 qty="-2", price="1,299.00", src="https://cdn.example/tee.jpg", position="1", status="draft"),
    _shopify_row("silk-scarf", "Silk Scarf", "Soft silk", "Loom", "", "", "gift", "FALSE", "Colour", "Green",
                 sku="S-1", price="", status="archived", variant_image="https://cdn.example/scarf-variant.jpg"),
]


@pytest.fixture
def shopify_export(tmp_path) -> Path:
    return write_csv(tmp_path / "products_export.csv", SHOPIFY_HEADER, SHOPIFY_ROWS)


def test_shopify_export_gives_one_product_per_handle(shopify_export):
    catalog = read_catalog(shopify_export)
    assert [p.product_id for p in catalog.products] == ["linen-dress", "basic-tee", "silk-scarf"]
    assert [p.row for p in catalog.products] == [2, 6, 7]
    assert catalog.problems == [] and catalog.total_rows == 6
    assert catalog.report.format == "shopify"


def test_shopify_product_values_come_from_the_right_rows(shopify_export):
    dress = _by_id(read_catalog(shopify_export))["linen-dress"]
    assert dress.payload == {
        "product_id": "linen-dress", "title": "Linen Dress", "description": "Light linen & airy", "brand": "Acme",
        "category": "Apparel & Accessories", "sub_category": "Clothing", "product_type": "Dress",
        "tags": ["summer", "linen"], "gender": "Female", "status": "active", "published": "TRUE",
        "price": 18.5, "compare_at_price": 25.0, "inventory": 7.0, "in_stock": "yes", "on_sale": "yes",
        "discount": 26.0, "colour": ["Red", "Blue"], "size": ["S", "M"], "sku": ["LD-R-S", "LD-R-M", "LD-B-S"],
        "variants": [
            {"sku": "LD-R-S", "colour": "Red", "size": "S", "price": 25.0, "compare_at_price": 30.0, "inventory": 3.0},
            {"sku": "LD-R-M", "colour": "Red", "size": "M", "price": 18.5, "compare_at_price": 25.0, "inventory": 4.0},
            {"sku": "LD-B-S", "colour": "Blue", "size": "S", "price": 19.0, "inventory": 0.0}],
        "image_path": "", "image_url": "https://cdn.example/ld-1.jpg",  # position 1, although listed second
        "photos": ["https://cdn.example/ld-1.jpg", "https://cdn.example/ld-2.jpg", "https://cdn.example/ld-3.jpg"],
    }
    assert dress.image_url == "https://cdn.example/ld-1.jpg" and dress.image_file is None
    assert dress.image_problem is None


def test_shopify_single_variant_draft_and_oversold_stock(shopify_export):
    tee = _by_id(read_catalog(shopify_export))["basic-tee"]
    assert tee.payload["price"] == 1299.0           # '1,299.00'
    assert tee.payload["inventory"] == 0.0 and tee.payload["in_stock"] == "no"  # -2 (oversold) counts as 0
    assert tee.payload["status"] == "draft"          # kept, not dropped
    assert "colour" not in tee.payload and "title" in tee.payload  # the 'Default Title' option is no option
    assert tee.payload["title"] == "Basic Tee"


def test_shopify_product_without_price_or_stock_and_with_only_a_variant_image(shopify_export):
    scarf = _by_id(read_catalog(shopify_export))["silk-scarf"]
    assert "price" not in scarf.payload and "inventory" not in scarf.payload and "in_stock" not in scarf.payload
    assert scarf.payload["colour"] == ["Green"] and scarf.payload["status"] == "archived"
    assert scarf.payload["description"] == "Soft silk" and scarf.payload["tags"] == ["gift"]
    assert scarf.image_url == "https://cdn.example/scarf-variant.jpg"


def test_shopify_report_maps_roles_and_lists_fields_by_kind(shopify_export):
    report = read_catalog(shopify_export).report
    assert report.mapping == {
        "product_id": "Handle", "title": "Title", "description": "Body (HTML)", "brand": "Vendor",
        "category": "Product Category", "product_type": "Type", "tags": "Tags", "gender": "Google Shopping / Gender",
        "price": "Variant Price", "inventory": "Variant Inventory Qty", "status": "Status",
        "image": "Image Src: a product's photo with the lowest Image Position, else its Variant Image",
        "colour": "Option1 Value: the value of the option named Color or Colour; which option that is, each "
                  "product's Option N Name decides"}
    assert report.schema.keyword == (*STANDARD_FILTERS, "brand", "tags", "in_stock", "status", "sku", "on_sale", "size",
                                     "published")
    assert report.schema.number == ("price", "inventory", "compare_at_price", "discount")
    assert report.schema.text == ("title", "description")
    assert report.schema.flags == ("in_stock", "on_sale")
    assert report.notes == []  # Variant SKU is read now (the sku list and each variant's)


def test_shopify_rows_of_a_handle_without_its_title_row_are_one_problem(tmp_path):
    rows = [*SHOPIFY_ROWS[:4],
            _shopify_row("ghost", o1v="Red", sku="G-1", price="9.00"),
            _shopify_row("ghost", src="https://cdn.example/ghost.jpg", position="1")]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, rows))
    assert [p.product_id for p in catalog.products] == ["linen-dress"]
    assert [(p.row, p.product_id, p.reason) for p in catalog.problems] == [
        (6, "ghost", ("handle ghost has no row with a Title (its first row, which carries the product's title and "
                      "details, is missing); not indexed"))]


def test_shopify_row_with_an_empty_handle_is_a_problem(tmp_path):
    rows = [*SHOPIFY_ROWS[:4], _shopify_row("", "Lost", price="5.00")]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, rows))
    assert [p.product_id for p in catalog.products] == ["linen-dress"]
    assert [(p.row, p.product_id, p.reason) for p in catalog.problems] == [(6, "", "empty Handle")]


def test_shopify_handle_that_comes_back_later_is_merged_with_a_note(tmp_path):
    rows = [SHOPIFY_ROWS[0], SHOPIFY_ROWS[4], _shopify_row("linen-dress", o1v="Black", o2v="L", qty="2", price="12.00")]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, rows))
    dress = _by_id(catalog)["linen-dress"]
    assert [p.product_id for p in catalog.products] == ["linen-dress", "basic-tee"] and catalog.problems == []
    assert dress.payload["price"] == 12.0 and dress.payload["inventory"] == 5.0
    assert dress.payload["colour"] == ["Red", "Black"] and dress.payload["size"] == ["S", "L"]
    assert "handle linen-dress appears again on row(s) 4 after other handles; merged into one product" \
        in catalog.report.notes


def test_shopify_bad_variant_price_is_a_note_and_the_product_is_still_indexed(tmp_path):
    rows = [_shopify_row("tee", "Tee", price="abc", qty="1", o1n="Size", o1v="M"),
            _shopify_row("tee", o1v="L", price="", qty="1")]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", SHOPIFY_HEADER, rows))
    [tee] = catalog.products
    assert "price" not in tee.payload and tee.payload["size"] == ["M", "L"] and tee.payload["inventory"] == 2.0
    assert catalog.problems == []
    assert "row 2, product tee: price 'abc' is not a number; that variant has no price" in catalog.report.notes


def test_shopify_quantities_and_prices_too_big_for_a_number_are_notes_not_infinities(tmp_path):
    huge = "1" + "0" * 400
    rows = [_shopify_row("tee", "Tee", sku="T-1", qty="1e999", price=huge, compare="5"),
            _shopify_row("tee", sku="T-2", qty="2", price="12", compare=huge),
            _shopify_row("cap", "Cap", sku="C-1", qty="1e308", price="3"),
            _shopify_row("cap", sku="C-2", qty="1e308", price="4")]
    catalog = read_catalog(write_csv(tmp_path / "p.csv", SHOPIFY_HEADER, rows))
    tee, cap = catalog.products
    assert (tee.payload["price"], tee.payload["inventory"], tee.payload["in_stock"]) == (12.0, 2.0, "yes")
    assert "compare_at_price" not in tee.payload
    assert (cap.payload["price"], "inventory" in cap.payload, "in_stock" in cap.payload) == (3.0, False, False)
    assert catalog.report.notes == [
        f"row 2, product tee: price '{huge[:40]}…' is longer than any number (more than 64 characters); that "
        "variant has no price",
        f"row 3, product tee: compare-at price '{huge[:40]}…' is longer than any number (more than 64 characters); "
        "kept without it",
        "row 2, product tee: inventory '1e999' is not a finite number; that variant's stock is unknown",
        "row 4, product cap: inventory of its variants adds up to more than a finite number; kept without it"]


def test_shopify_columns_mapping_cannot_move_aggregated_roles(shopify_export):
    with pytest.raises(CatalogError, match="in a Shopify export price comes from Variant Price"):
        read_catalog(shopify_export, columns={"price": "Variant Compare At Price"})
    product = read_catalog(shopify_export, columns={"usage": "Published"}).products[0]
    assert product.payload["usage"] == "TRUE" and "published" not in product.payload


# ---- Google Merchant Center -----------------------------------------------------------------------------------

GOOGLE_HEADER = ["id", "title", "description", "link", "image_link", "additional_image_link", "availability",
                 "price", "sale_price", "brand", "color", "gender", "age_group", "product_type",
                 "google_product_category", "item_group_id", "size"]
GOOGLE_ROWS = [
    ["DR-RED", "Wrap Dress", "A wrap dress", "https://shop.example/dr", "https://cdn.example/dr-red.jpg",
     "https://cdn.example/dr-red-2.jpg", "in_stock", "15.00 USD", "12.00 USD", "Acme", "Red", "female", "adult",
     "Apparel > Women > Dresses", "2271", "DR", "M"],
    ["DR-BLUE", "Wrap Dress", "A wrap dress", "https://shop.example/dr", "https://cdn.example/dr-blue.jpg", "",
     "preorder", "15.00 USD", "", "Acme", "Blue", "female", "adult", "Apparel > Women > Dresses", "2271", "DR", "M"],
    ["SC-1", "Striped Scarf", "Two colours", "https://shop.example/sc", "https://cdn.example/sc.jpg", "",
     "out of stock", "abc", "", "Loom", "Red/Blue", "unisex", "adult", "Accessories > Scarves", "167", "", "One"],
    ["DR-RED", "Duplicate", "", "", "https://cdn.example/x.jpg", "", "in_stock", "1 USD", "", "", "", "", "", "", "",
     "", ""],
]


@pytest.fixture(params=["\t", ","], ids=["tsv", "csv"])
def google_feed(request, tmp_path) -> Path:
    return write_csv(tmp_path / "feed.txt", GOOGLE_HEADER, GOOGLE_ROWS, delimiter=request.param)


def test_google_feed_rows_become_typed_products(google_feed):
    catalog = read_catalog(google_feed)
    assert catalog.report.format == "google"
    assert [p.product_id for p in catalog.products] == ["DR-RED", "DR-BLUE", "SC-1"]
    red = catalog.products[0]
    assert red.payload == {
        "product_id": "DR-RED", "title": "Wrap Dress", "description": "A wrap dress", "link": "https://shop.example/dr",
        # sale_price is the price now, and the regular price the compare-at price (issue 21)
        "in_stock": "yes", "price": 12.0, "compare_at_price": 15.0, "on_sale": "yes", "discount": 20.0,
        "currency": "USD", "brand": "Acme", "colour": ["Red"],
        "gender": "female", "category": "Apparel", "sub_category": "Women", "product_type": "Dresses",
        "item_group_id": "DR", "age_group": "adult", "google_product_category": "2271", "size": "M",
        "image_path": "", "image_url": "https://cdn.example/dr-red.jpg",
        "photos": ["https://cdn.example/dr-red.jpg", "https://cdn.example/dr-red-2.jpg"]}


def test_google_colourways_are_separate_products_with_their_own_photos(google_feed):
    by_id = _by_id(read_catalog(google_feed))
    assert by_id["DR-BLUE"].image_url == "https://cdn.example/dr-blue.jpg"
    assert by_id["DR-BLUE"].payload["item_group_id"] == by_id["DR-RED"].payload["item_group_id"] == "DR"
    assert by_id["DR-BLUE"].payload["in_stock"] == "no"  # preorder: not in stock now


def test_google_multi_colour_bad_price_and_two_level_product_type(google_feed):
    catalog = read_catalog(google_feed)
    scarf = _by_id(catalog)["SC-1"]
    assert scarf.payload["colour"] == ["Red", "Blue"]
    assert "price" not in scarf.payload and "currency" not in scarf.payload
    assert (scarf.payload["category"], scarf.payload["product_type"]) == ("Accessories", "Scarves")
    assert "sub_category" not in scarf.payload and scarf.payload["in_stock"] == "no"
    assert "row 4, product SC-1: price 'abc' is not a number; kept without it" in catalog.report.notes


def test_google_duplicate_id_is_a_problem_and_the_first_is_kept(google_feed):
    catalog = read_catalog(google_feed)
    assert [(p.row, p.product_id, p.reason) for p in catalog.problems] == [
        (5, "DR-RED", "duplicate id DR-RED (first seen on row 2)")]
    assert _by_id(catalog)["DR-RED"].payload["title"] == "Wrap Dress"


def test_google_report(google_feed):
    report = read_catalog(google_feed).report
    assert report.mapping["image"] == "image_link" and report.mapping["in_stock"] == "availability"
    assert report.mapping["product_type"] == "product_type" and report.mapping["colour"] == "color"
    assert report.schema.keyword == (*STANDARD_FILTERS, "brand", "currency", "item_group_id", "in_stock", "on_sale",
                                     "age_group", "google_product_category", "size")
    assert report.schema.number == ("price", "compare_at_price", "discount")
    assert report.schema.flags == ("in_stock", "on_sale")
    assert not any("additional_image_link" in note for note in report.notes)  # kept as further photos now


# ---- generic catalogues ---------------------------------------------------------------------------------------

GENERIC_HEADER = ["SKU", "Name", "Color", "Photo", "Price", "Vendor", "Stock", "Season", "Weight", "Size", "Barcode",
                  "Care"]
GENERIC_ROWS = [
    ["A1", "Oxford Shirt", "White", "a1.jpg", "39.90", "Acme", "5", "Summer", "0.3", "M", "0012", "Wash cold"],
    ["A2", "Chino", "Beige", "https://cdn.example/a2.jpg", "", "Acme", "0", "Summer", "0.5", "32", "0034", ""],
    ["A3", "Cap", "Navy", "file:///etc/passwd", "12", "Loom", "", "Winter", "0.1", "L", "0056", "Hand wash"],
    ["A4", "Scarf", "Red", "javascript:alert(1)", "", "Loom", "2", "Winter", "0.2", "40", "0078", ""],
]


@pytest.fixture
def generic(tmp_path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos/a1.jpg").write_bytes(b"x")
    return write_csv(tmp_path / "stock.csv", GENERIC_HEADER, GENERIC_ROWS)


def test_generic_synonyms_are_recognised_without_a_mapping(generic):
    catalog = read_catalog(generic, generic.parent / "photos")
    assert catalog.report.format == "generic"
    assert catalog.report.mapping == {"product_id": "SKU", "title": "Name", "colour": "Color", "brand": "Vendor",
                                      "season": "Season", "price": "Price", "inventory": "Stock", "image": "Photo"}
    first = catalog.products[0]
    assert first.payload == {
        "product_id": "A1", "title": "Oxford Shirt", "colour": ["White"], "brand": "Acme", "season": "Summer",
        "price": 39.9, "inventory": 5.0, "in_stock": "yes", "on_sale": "no", "weight": 0.3, "size": "M",
        "barcode": "0012", "care": "Wash cold", "image_path": str((generic.parent / "photos/a1.jpg").resolve()),
        "photos": [str((generic.parent / "photos/a1.jpg").resolve())]}
    assert first.image_file == (generic.parent / "photos/a1.jpg").resolve() and first.image_url is None


def test_generic_columns_are_typed_and_the_standard_filters_come_first(generic):
    report = read_catalog(generic).report
    assert report.schema.keyword == (*STANDARD_FILTERS, "brand", "season", "in_stock", "on_sale", "size", "barcode",
                                     "care")
    assert report.schema.number == ("price", "inventory", "discount", "weight")
    assert report.schema.text == ("title",)
    assert report.notes == ["column 'Size' mixes numbers and text: kept as a keyword filter"]


def test_empty_cells_are_left_out_of_the_payload(generic):
    chino = _by_id(read_catalog(generic))["A2"]
    assert "price" not in chino.payload and "care" not in chino.payload
    assert chino.payload["inventory"] == 0.0 and chino.payload["in_stock"] == "no"
    cap = _by_id(read_catalog(generic))["A3"]
    assert "inventory" not in cap.payload and "in_stock" not in cap.payload  # stock unknown, so no flag


def test_image_urls_are_taken_only_for_http_and_https(generic):
    by_id = _by_id(read_catalog(generic, generic.parent / "photos"))
    assert by_id["A2"].image_url == "https://cdn.example/a2.jpg" and by_id["A2"].image_problem is None
    assert by_id["A2"].payload["image_url"] == "https://cdn.example/a2.jpg"
    for pid, scheme in (("A3", "file"), ("A4", "javascript")):
        product = by_id[pid]
        assert product.image_url is None and product.image_file is None and "image_url" not in product.payload
        assert product.image_problem == f"image URL scheme '{scheme}' is refused (only http and https)"


@pytest.mark.parametrize("reference, problem", [
    ("ftp://files.example/a.jpg", "image URL scheme 'ftp' is refused (only http and https)"),
    ("data:image/png;base64,AAAA", "image URL scheme 'data' is refused (only http and https)"),
    ("s3://bucket/a.jpg", "image URL scheme 's3' is refused (only http and https)"),
    ("http:///no-host.jpg", "image URL is not valid (no host, or spaces in it): http:///no-host.jpg"),
    ("shirt:red.jpg", "image file not found: shirt:red.jpg"),  # a colon in a file name is not a scheme
])
def test_other_image_references(tmp_path, reference, problem):
    path = write_csv(tmp_path / "c.csv", ["id", "name", "image"], [["1", "Tee", reference]])
    product = read_catalog(path).products[0]
    assert (product.image_file, product.image_url, product.image_problem) == (None, None, problem)


def test_extra_column_names_become_valid_field_names(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "name", "2nd Colour", "%%"], [["1", "Tee", "Navy", "x"]])
    payload = read_catalog(path).products[0].payload
    assert (payload["col_2nd_colour"], payload["column_4"]) == ("Navy", "x")


def test_value_problems_are_notes_capped_at_fifty(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "name", "price"], [[str(i), "Tee", "n/a"] for i in range(60)])
    catalog = read_catalog(path)
    assert len(catalog.products) == 60 and catalog.problems == []
    assert catalog.report.notes[0] == "row 2, product 0: price 'n/a' is not a number; kept without it"
    assert len(catalog.report.notes) == 51
    assert catalog.report.notes[-1] == "... and 10 more values that could not be read"


def test_numbers_too_big_for_a_float_are_notes_and_never_reach_the_payload_as_infinity(tmp_path):
    huge = "1" + "0" * 400
    path = write_csv(tmp_path / "c.csv", ["id", "name", "price", "inventory", "rating", "weight"],
                  [["1", "Tee", huge, "-1e999", "1e999", "1e400"],
                   ["2", "Cap", "12", "3", "nan", "0.5"],
                   ["3", "Hat", "5", "inf", "-inf", "2"]])
    catalog = read_catalog(path)
    assert [p.payload for p in catalog.products] == [
        {"product_id": "1", "title": "Tee", "weight": "1e400", "image_path": ""},
        {"product_id": "2", "title": "Cap", "price": 12.0, "inventory": 3.0, "in_stock": "yes", "on_sale": "no",
         "weight": "0.5", "image_path": ""},
        {"product_id": "3", "title": "Hat", "price": 5.0, "on_sale": "no", "weight": "2", "image_path": ""}]
    assert catalog.problems == []
    assert catalog.report.schema.number == ("price", "inventory", "discount")
    assert "weight" in catalog.report.schema.keyword
    assert catalog.report.notes == [
        "column 'weight' has '1e400', which is not a finite number: kept as a keyword filter",
        f"row 2, product 1: price '{huge[:40]}…' is longer than any number (more than 64 characters); kept without "
        "it",
        "row 2, product 1: inventory '-1e999' is not a finite number; kept without it",
        "row 2, product 1: rating '1e999' is not a finite number; kept without it",
        "row 3, product 2: rating 'nan' is not a number; kept without it",
        "row 4, product 3: inventory 'inf' is not a number; kept without it",
        "row 4, product 3: rating '-inf' is not a number; kept without it"]


# A user's mapping takes a role from the column named like it; that column stays, under a key beside the role.
@pytest.mark.parametrize("header, columns, row, payload, note", [
    (["id", "title", "name", "image"], {"title": "name"}, ["1", "internal", "Linen Shirt", ""],
     {"product_id": "1", "title": "Linen Shirt", "title_column": "internal", "image_path": ""},
     "column 'title' is kept as title_column: the column mapping gives title to 'name'"),
    (["id", "Name", "Price", "Cost"], {"price": "Cost"}, ["1", "Tee", "20.00", "8.50"],
     {"product_id": "1", "title": "Tee", "price": 8.5, "on_sale": "no", "price_column": 20.0, "image_path": ""},
     "column 'Price' is kept as price_column: the column mapping gives price to 'Cost'"),
    (["sku", "title", "Brand", "vendor"], {"brand": "vendor"}, ["1", "Tee", "Acme Group", "Acme"],
     {"product_id": "1", "title": "Tee", "brand": "Acme", "brand_column": "Acme Group", "image_path": ""},
     "column 'Brand' is kept as brand_column: the column mapping gives brand to 'vendor'"),
])
def test_a_column_that_loses_its_role_to_a_mapping_is_kept_under_its_own_key(tmp_path, header, columns, row,
                                                                            payload, note):
    catalog = read_catalog(write_csv(tmp_path / "c.csv", header, [row]), columns=columns)
    assert [p.payload for p in catalog.products] == [payload]
    assert catalog.report.notes[0] == note
    layout = plan_layout(header, columns=columns)
    assert layout.notes == [note]
    assert sorted(layout.extras.values()) == [k for k in payload if k.endswith("_column")]


def test_a_displaced_column_key_steps_around_a_column_already_named_like_it():
    layout = plan_layout(["id", "title", "name", "Title Column"], columns={"title": "name"})
    assert layout.extras == {1: "title_column_2", 3: "title_column"}
    assert layout.notes == ["column 'title' is kept as title_column_2: the column mapping gives title to 'name'"]


def test_a_shopify_column_that_loses_its_role_to_a_mapping_is_kept_under_its_own_key(tmp_path):
    header = ["Handle", "Title", "Display Name", "Season", "Collection", "Variant Price"]
    rows = [["tee", "tee-v2-final", "Basic Tee", "SS24", "Summer", "12"]]
    catalog = read_catalog(write_csv(tmp_path / "p.csv", header, rows),
                           columns={"title": "Display Name", "season": "Collection"})
    assert catalog.report.format == "shopify"
    assert catalog.products[0].payload == {
        "product_id": "tee", "title": "Basic Tee", "season": "Summer", "price": 12.0, "on_sale": "no",
        "variants": [{"price": 12.0}], "title_column": "tee-v2-final", "season_column": "SS24", "image_path": ""}
    assert catalog.report.notes[:2] == [
        "column 'Title' is kept as title_column: the column mapping gives title to 'Display Name'",
        "column 'Season' is kept as season_column: the column mapping gives season to 'Collection'"]


def test_columns_mapping_overrides_detection(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["Code", "Name", "Label", "Shade", "Picture"],
                  [["X1", "internal name", "Linen Shirt", "Sand", "https://cdn.example/x1.jpg"]])
    catalog = read_catalog(path, columns="product_id=Code,title=Label,colour=Shade,image=Picture")
    product = catalog.products[0]
    assert product.product_id == "X1"
    assert product.payload == {"product_id": "X1", "title": "Linen Shirt", "colour": ["Sand"],
                               "name": "internal name", "image_path": "",
                               "image_url": "https://cdn.example/x1.jpg", "photos": ["https://cdn.example/x1.jpg"]}
    assert catalog.report.mapping == {"product_id": "Code", "title": "Label", "colour": "Shade", "image": "Picture"}


def test_a_catalogue_without_a_product_id_says_what_is_missing(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["Name", "Colour"], [["Tee", "Red"]])
    with pytest.raises(CatalogError) as err:
        read_catalog(path)
    assert str(err.value).startswith("catalogue has no product id column (looked for id, productid, sku")
    assert "name it with product_id=<column>; 2 column(s) found (comma-separated): Name, Colour" in str(err.value)


def test_a_catalogue_without_title_or_image_says_what_is_missing(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["SKU", "Colour"], [["1", "Red"]])
    with pytest.raises(CatalogError, match="neither a title nor an image column.*title=<column> or image=<column>; "
                                           r"2 column\(s\) found"):
        read_catalog(path)


def test_format_can_be_forced(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["id", "title", "color", "product_type"], [["1", "Tee", "Red/Blue", "A > B"]])
    assert read_catalog(path).products[0].payload["colour"] == ["Red/Blue"]  # generic: one colour name
    google = read_catalog(path, format="google").products[0].payload
    assert google["colour"] == ["Red", "Blue"] and (google["category"], google["product_type"]) == ("A", "B")
    with pytest.raises(CatalogError, match="a Shopify export needs a Handle column"):
        read_catalog(path, format="shopify")


# ---- fashion --------------------------------------------------------------------------------------------------

FASHION_HEADER = ["ProductId", "Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle",
                  "Image", "ImageURL"]


def test_fashion_local_image_wins_and_image_url_is_the_fallback(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images/1.jpg").write_bytes(b"x")
    same = ["Men", "Apparel", "Topwear", "Tshirts", "Blue", "Casual", "Tee"]
    rows = [["1", *same, "1.jpg", "https://cdn.example/1.jpg"], ["2", *same, "2.jpg", "https://cdn.example/2.jpg"],
            ["3", *same, "3.jpg", "file:///etc/passwd"]]
    catalog = read_catalog(write_csv(tmp_path / "c.csv", FASHION_HEADER, rows), tmp_path / "images")
    one, two, three = catalog.products
    assert one.image_file == (tmp_path / "images/1.jpg").resolve() and one.image_url is None
    assert "image_url" not in one.payload
    assert two.image_file is None and two.image_url == "https://cdn.example/2.jpg" and two.image_problem is None
    assert three.image_problem == ("image file not found: 3.jpg; image URL scheme 'file' is refused "
                                   "(only http and https)")
    assert catalog.report.format == "fashion"
    assert catalog.report.mapping["image"] == "Image" and catalog.report.mapping["image_url"] == "ImageURL"


def test_fashion_missing_column_points_at_the_generic_format(tmp_path):
    path = write_csv(tmp_path / "c.csv", FASHION_HEADER[:5] + FASHION_HEADER[6:8], [["1", "Men", "A", "B", "C", "D", "T"]])
    with pytest.raises(CatalogError, match=r"missing required column\(s\) Colour \(format 'generic' reads it"):
        read_catalog(path)
    assert read_catalog(path, format="generic").products[0].payload["title"] == "T"


# ---- product text ---------------------------------------------------------------------------------------------

def test_product_text_joins_list_values_and_appends_the_description():
    payload = {"title": "Linen Dress", "colour": ["Red", "Blue"], "product_type": "Dress", "brand": "Acme",
               "description": "Light linen for summer"}
    assert product_text(payload) == "Linen Dress. Red, Blue, Acme. Light linen for summer"
    assert product_text({"colour": ["Red"], "description": "x"}) == "Red. x"
    long = dict(payload, description=" ".join(f"w{i}" for i in range(100)))
    assert len(product_text(long).split()) == 40
