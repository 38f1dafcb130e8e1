"""Real shop products in the app, with AppTest (issue 21, items 2 and 3): cards with a status badge and the old price
struck through, the product view's gallery (every photo, each variant's photo marked) and variants table, the
"Show drafts and archived" and "On sale" toggles. Widgets on hand-made payloads first, then the pages on the Shopify
export (tests/helpers/shop_catalogues.py) indexed with the tiny random CLIP."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.photo_gallery import caption, gallery_photos, photo_name, photos_of, problems_outside, variant_label
from app.result_grid import price_markdown, status_label
from app.variants_table import variant_rows
from core.common import fields as F
from core.search.query import Result
from tests.helpers.apptest import TIMEOUT, shown
from tests.helpers.shop_catalogues import photos as shop_photos

HOSTILE = "[x](javascript:alert(1))"


def _result(pid: str, **payload) -> Result:
    return Result(pid, None, payload.get(F.TITLE, ""), payload.get(F.IMAGE_PATH, ""),
                  {F.PRODUCT_ID: pid, **payload})


# ---- prices and status, no page ------------------------------------------------------------------------------

def test_only_a_compare_at_price_above_the_price_is_struck_through():
    def price(**payload) -> str:
        return shown(price_markdown(_result("p", **payload)))

    assert price(price=20.0, compare_at_price=25.0, discount=20.0, currency="USD") == "~~25.00~~ 20.00 USD · 20% off"
    assert price(price=35.0, compare_at_price=50.0, discount=30.0) == "~~50.00~~ 35.00 · 30% off"
    assert price(price=17.5, compare_at_price=21.0) == "~~21.00~~ 17.50 · 16.7% off"  # an older index: no discount
    assert price(price=120.0, compare_at_price=120.0) == "120.00"  # equal: no sale
    assert price(price=30.0, compare_at_price=25.0) == "30.00"  # below: no sale
    assert price(price=15.0) == "15.00"
    assert price(compare_at_price=15.0) == ""  # no price, nothing to show


def test_a_hostile_currency_stays_text_beside_the_struck_price():
    text = price_markdown(_result("a", price=20.0, compare_at_price=25.0, currency=HOSTILE))
    assert text.startswith("~~25.00~~ 20\\.00 ") and "](" not in text and shown(text) == f"~~25.00~~ 20.00 {HOSTILE}" \
        " · 20% off"


@pytest.mark.parametrize("status, label", [("draft", "draft"), ("archived", "archived"), ("Archived", "archived"),
                                           (" DRAFT ", "draft"), ("active", ""), ("", ""), (HOSTILE, "")])
def test_only_drafts_and_archived_products_get_a_status_badge_whatever_the_case(status, label):
    assert status_label(_result("a", status=status)) == label


# ---- the gallery and the variants table, no page -------------------------------------------------------------

TEE = {F.TITLE: "Two-Tone Tee", F.PRICE: 20.0, F.COMPARE_AT_PRICE: 25.0, F.DISCOUNT: 20.0,
       F.PHOTOS: ["/shop/tee-front.jpg", "/shop/tee-back.jpg", "/shop/tee-sky.jpg", "/shop/tee-red.jpg"],
       F.VARIANTS: [{"sku": "TS-0042-SKY", "colour": "Sky Blue", "size": "S", "price": 20.0, "compare_at_price": 25.0,
                     "inventory": 3, "image": "/shop/tee-sky.jpg"},
                    {"sku": "TS-0042-RED", "colour": "Red", "size": "M", "price": 22.0, "compare_at_price": 30.0,
                     "inventory": 5, "image": "/shop/tee-red.jpg"}]}


def test_the_gallery_lists_every_photo_hero_first_and_marks_each_variants_photo():
    photos = gallery_photos(TEE)
    assert [p.name for p in photos] == ["tee-front.jpg", "tee-back.jpg", "tee-sky.jpg", "tee-red.jpg"]
    assert [p.variants for p in photos] == [(), (), ("TS-0042-SKY (Sky Blue / S)",), ("TS-0042-RED (Red / M)",)]
    assert shown(caption(photos[3], 4, 4)) == "Photo 4 of 4 · tee-red.jpg  \nVariant photo: TS-0042-RED (Red / M)"
    assert shown(caption(photos[0], 1, 4)) == "Photo 1 of 4 (main) · tee-front.jpg"
    hostile = caption(gallery_photos({F.PHOTOS: ["/a/[x](javascript:1).jpg"]})[0], 1, 1)
    assert "[x]" not in hostile and shown(hostile) == "Photo 1 of 1 (main) · [x](javascript:1).jpg"  # escaped, kept


def test_a_photo_used_by_many_variants_names_four_and_counts_the_rest():
    payload = {F.PHOTOS: ["/p/tee.jpg"], F.VARIANTS: [{"sku": f"T-{n}", "image": "/p/tee.jpg"} for n in range(6)]}
    [photo] = gallery_photos(payload)
    assert shown(caption(photo, 1, 1)) == "Photo 1 of 1 (main) · tee.jpg  \nVariant photo: T-0, T-1, T-2, T-3 and 2 more"


def test_a_shared_photo_and_a_failed_one_are_said_and_a_failure_outside_the_photos_is_listed_apart():
    payload = {F.PHOTOS: ["https://cdn.example/p/bag.jpg?v=3", "https://cdn.example/size-chart.png",
                          "https://cdn.example/bag-3.jpg"],
               F.SHARED_PHOTOS: ["https://cdn.example/size-chart.png"],
               F.PHOTO_PROBLEMS: {"https://cdn.example/bag-3.jpg": "HTTP 404",
                                  "https://cdn.example/bag-11.jpg": "not an image"}}
    photos = gallery_photos(payload)
    assert [(p.name, p.shared, p.problem) for p in photos] == [
        ("bag.jpg", False, ""), ("size-chart.png", True, ""), ("bag-3.jpg", False, "HTTP 404")]
    assert caption(photos[1], 2, 3).endswith("  \nShared by many products: not used for matching")
    assert problems_outside(payload) == [("bag-11.jpg", "not an image")]


def test_an_index_from_before_every_photo_has_its_hero_as_the_only_photo():
    assert photos_of({F.IMAGE_PATH: "/data/1.jpg"}) == ["/data/1.jpg"]
    assert photos_of({F.IMAGE_URL: "https://cdn.example/1.jpg", F.IMAGE_PATH: "/cache/ab.jpg"}) == \
        ["https://cdn.example/1.jpg"]
    assert photos_of({}) == []
    assert photos_of({F.PHOTOS: ["/a.jpg", "/a.jpg", "/b.jpg"]}) == ["/a.jpg", "/b.jpg"]  # each photo once


def test_photo_names_are_the_last_part_of_a_path_or_url():
    assert photo_name("https://cdn.example/p/ts-0042-back.jpg?v=3") == "ts-0042-back.jpg"
    assert photo_name("/data/images/a/1.jpg") == "1.jpg"
    assert photo_name("C:\\shop\\photos\\tee%20red.jpg") == "tee red.jpg"


def test_a_variant_is_named_by_its_sku_then_its_options():
    assert variant_label({"sku": "LS-S", "size": "S"}) == "LS-S (S)"
    assert variant_label({"colour": "Red", "options": {"Material": "Wool"}}) == "Red / Wool"
    assert variant_label({"sku": "WC-100"}) == "WC-100"
    assert variant_label({}) == "a variant without SKU or options"


def test_the_variants_table_has_one_row_per_variant_with_its_photo_number():
    assert variant_rows(TEE) == [
        ["TS-0042-SKY", "Sky Blue", "S", "", "20.00", "25.00", "3", "Photo 3"],
        ["TS-0042-RED", "Red", "M", "", "22.00", "30.00", "5", "Photo 4"],
    ]
    odd = {F.VARIANTS: [{"sku": "X", "options": {"Material": "Wool", "Fit": ""}, "price": "ask",
                         "image": "/not/a/photo.jpg"}, "not a variant"]}
    assert variant_rows(odd) == [["X", "", "", "Material: Wool", "ask", "", "", ""]]
    assert variant_rows({}) == []


# ---- the widgets drawn, on hand-made payloads ----------------------------------------------------------------

def _cards_script():
    import streamlit as st

    from app import resources, result_grid
    from core.search.query import Result

    results = [Result(pid, None, title, "", {"product_id": pid, "title": title, **extra})
               for pid, title, extra in st.session_state["cards"]]
    result_grid.product_grid(results, resources.settings(), lambda r, key: None, key="results", show_scores=False)


def test_cards_badge_drafts_and_archived_and_strike_the_old_price(app_settings):
    at = AppTest.from_function(_cards_script, default_timeout=TIMEOUT)
    at.session_state["cards"] = [
        ("tee", "Two-Tone Tee", {"price": 20.0, "compare_at_price": 25.0, "discount": 20.0, "currency": "USD",
                                 "status": "active"}),
        ("shorts", "Linen Shorts", {"price": 30.0, "compare_at_price": 25.0, "status": "draft"}),
        ("scarf", "Silk Scarf", {"price": 15.0, "status": "Archived"}),
        ("coat", HOSTILE, {"price": 120.0, "compare_at_price": 120.0, "status": HOSTILE}),
    ]
    at.run()
    assert not at.exception
    titles = [m.value for m in at.markdown if "**" in m.value]
    assert titles[:3] == ["**Two\\-Tone Tee**", ":orange-badge[:material/edit_note: Draft] **Linen Shorts**",
                          ":gray-badge[:material/inventory_2: Archived] **Silk Scarf**"]
    captions = [c.value for c in at.caption]
    assert [shown(c) for c in captions] == ["no photo", "~~25.00~~ 20.00 USD · 20% off · #tee", "no photo",
                                            "30.00 · #shorts", "no photo", "15.00 · #scarf", "no photo",
                                            "120.00 · #coat"]
    assert shown(titles[3]) == f"**{HOSTILE}**"  # a hostile status is no badge, a hostile title stays text


def _product_script():
    import streamlit as st

    from app import photo_gallery, resources, variants_table
    from core.search.query import Result

    result = Result("sky-red-tee", None, "Two-Tone Tee", "", st.session_state["payload"])
    photo_gallery.gallery(result, resources.settings())
    variants_table.variants_table(result.payload)


def _tee_with_files(folder: Path) -> dict:
    """TEE with its photos written to folder (the shop fixture's own JPEGs)."""
    jpegs = shop_photos()
    for name in ("tee-front.jpg", "tee-back.jpg", "tee-sky.jpg", "tee-red.jpg"):
        (folder / name).write_bytes(jpegs[name])
    here = {f"/shop/{name}": str(folder / name) for name in jpegs}
    return {**TEE, F.PHOTOS: [here[p] for p in TEE[F.PHOTOS]],
            F.VARIANTS: [{**v, "image": here[v["image"]]} for v in TEE[F.VARIANTS]]}


def test_the_gallery_shows_every_photo_with_the_variant_photos_marked_and_the_variants_table(app_settings,
                                                                                              tmp_path):
    at = AppTest.from_function(_product_script, default_timeout=TIMEOUT)
    at.session_state["payload"] = _tee_with_files(tmp_path)
    at.run()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Photos (4)", "Variants (2)"]
    images = [img for e in at.get("image") for img in e.proto.imgs]
    assert [shown(i.caption) for i in images] == [
        "Photo 1 of 4 (main) · tee-front.jpg", "Photo 2 of 4 · tee-back.jpg",
        "Photo 3 of 4 · tee-sky.jpg  \nVariant photo: TS-0042-SKY (Sky Blue / S)",
        "Photo 4 of 4 · tee-red.jpg  \nVariant photo: TS-0042-RED (Red / M)"]
    table = at.table[0].value
    assert list(table.columns) == ["SKU", "Colour", "Size", "Other options", "Price", "Compare\\-at price",
                                   "Inventory", "Photo"]
    assert [shown(c) for c in table["SKU"]] == ["TS-0042-SKY", "TS-0042-RED"]
    assert [shown(c) for c in table["Photo"]] == ["Photo 3", "Photo 4"]


def test_a_photo_that_cannot_be_read_says_why_in_place_of_its_thumbnail(app_settings, tmp_path):
    payload = _tee_with_files(tmp_path)
    (tmp_path / "tee-back.jpg").unlink()  # moved since it was indexed
    payload[F.PHOTO_PROBLEMS] = {payload[F.PHOTOS][2]: "HTTP 404"}
    at = AppTest.from_function(_product_script, default_timeout=TIMEOUT)
    at.session_state["payload"] = payload
    at.run()
    assert not at.exception
    assert len([img for e in at.get("image") for img in e.proto.imgs]) == 2
    notes = [shown(c.value) for c in at.caption if c.value.startswith("Not shown")]
    assert notes == ["Not shown: the photo cannot be read (not fetched yet, or moved)", "Not shown: HTTP 404"]


def test_a_product_with_one_plain_photo_and_no_variants_has_no_gallery_or_table(app_settings, tmp_path):
    at = AppTest.from_function(_product_script, default_timeout=TIMEOUT)
    at.session_state["payload"] = {F.PHOTOS: [str(tmp_path / "one.jpg")]}
    at.run()
    assert not at.exception and at.subheader == [] and at.table == []


# ---- the pages, on the Shopify export indexed with the tiny CLIP ----------------------------------------------

BY_PRICE = ["sky-red-tee", "leather-belt", "wool-coat"]  # 20, 35, 120: the active products, cheapest first
BY_PRICE_ALL = ["silk-scarf", "sky-red-tee", "linen-shorts", "leather-belt", "wool-coat"]  # 15, 20, 30, 35, 120


@pytest.fixture
def shop(app_settings, tmp_path):
    """The Shopify export of tests/helpers/shop_catalogues.py indexed as the CLI would, photos local."""
    from tests.helpers.shop_catalogues import index_shopify_export

    index_shopify_export(app_settings, tmp_path / "shop")
    return app_settings


def card_ids(at: AppTest) -> list[str]:
    """Product ids of the result cards, hyphens and all (from their "More like this" button keys)."""
    return [b.key[len("results-"):-len("-like")] for b in at.button
            if b.key and b.key.startswith("results-") and b.key.endswith("-like")]


def _badges(at: AppTest) -> list[str]:
    """The status badges on the page, in order (a card's sits before its title)."""
    return [m.value.split("]")[0] + "]" for m in at.main.markdown if "-badge[" in m.value]


def test_search_leaves_drafts_and_archived_out_until_the_toggle_brings_them_back_with_a_badge(shop):
    from tests.helpers.apptest import start, url

    at = start(sort="price")
    assert card_ids(at) == BY_PRICE and _badges(at) == []
    assert "2 draft or archived left out" in [c.value for c in at.sidebar.caption]
    at.sidebar.toggle(key="hidden_toggle").set_value(True).run()
    assert not at.exception
    assert card_ids(at) == BY_PRICE_ALL
    assert _badges(at) == [":gray-badge[:material/inventory_2: Archived]", ":orange-badge[:material/edit_note: Draft]"]
    assert url(at, "hidden") == ["1"]
    at.sidebar.toggle(key="hidden_toggle").set_value(False).run()
    assert card_ids(at) == BY_PRICE and url(at, "hidden") == []


def test_a_link_with_hidden_1_shows_drafts_and_a_status_filter_decides_alone(shop):
    from tests.helpers.apptest import start

    at = start(sort="price", hidden="1")
    assert at.sidebar.toggle(key="hidden_toggle").value is True and card_ids(at) == BY_PRICE_ALL
    at = start(sort="price", status="draft")
    assert card_ids(at) == ["linen-shorts"]
    assert "The Status filter decides which products show." in [c.value for c in at.sidebar.caption]


def test_the_on_sale_toggle_keeps_the_products_whose_compare_at_price_is_above_their_price(shop):
    from tests.helpers.apptest import start, url

    at = start(sort="price")
    at.sidebar.toggle(key="flag_on_sale").set_value(True).run()
    assert not at.exception
    assert card_ids(at) == ["sky-red-tee", "leather-belt"]  # the coat's compare-at equals its price
    assert url(at, "on_sale") == ["yes"]
    prices = [shown(c.value).split(" · ")[0] for c in at.main.caption if c.value.startswith("~~")]
    assert prices == ["~~25.00~~ 20.00", "~~50.00~~ 35.00"]


def test_the_sku_filter_finds_the_product_of_a_variant(shop):
    from tests.helpers.apptest import start

    at = start(sku="TS-0042-RED")
    assert card_ids(at) == ["sky-red-tee"]


def test_the_product_view_shows_every_photo_the_red_variants_photo_marked_and_the_variants(shop):
    from tests.helpers.apptest import start

    at = start("pages/product.py")
    at.query_params["id"] = "sky-red-tee"
    at.run()
    assert not at.exception
    assert [shown(s.value) for s in at.subheader][:3] == ["~~25.00~~ 20.00 · 20% off", "Photos (4)", "Variants (2)"]
    images = [shown(img.caption) for e in at.get("image") for img in e.proto.imgs if img.caption]
    assert images[:4] == ["Photo 1 of 4 (main) · tee-front.jpg", "Photo 2 of 4 · tee-back.jpg",
                          "Photo 3 of 4 · tee-sky.jpg  \nVariant photo: TS-0042-SKY (Sky Blue / S)",
                          "Photo 4 of 4 · tee-red.jpg  \nVariant photo: TS-0042-RED (Red / M)"]
    variants = at.table[1].value
    assert [shown(c) for c in variants["SKU"]] == ["TS-0042-SKY", "TS-0042-RED"]
    assert [shown(c) for c in variants["Photo"]] == ["Photo 3", "Photo 4"]
    attributes = dict(zip(*(map(shown, at.table[0].value[k]) for k in ("Attribute", "Value"))))
    assert "Photos" not in attributes and "Variants" not in attributes
    assert attributes["SKU"] == "TS-0042-SKY, TS-0042-RED"  # core.curation.compare.field_label writes SKU


def test_a_drafts_product_view_says_it_is_a_draft(shop):
    from tests.helpers.apptest import start

    at = start("pages/product.py")
    at.query_params["id"] = "linen-shorts"
    at.run()
    assert not at.exception and _badges(at) == [":orange-badge[:material/edit_note: Draft]"]
    assert shown(at.subheader[0].value) == "30.00"  # compare-at 25.00 is below the price: no sale


@pytest.fixture
def google_shop(app_settings, tmp_path, photo_server, monkeypatch):
    """The Google feed with every photo a URL on the local photo server (bag-3.jpg answers 404), indexed into the
    data dir's own photo cache, where the app finds each photo's copy."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.ingest.fetch import ImageFetcher
    from core.models.embedder import load_embedder
    from tests.helpers import photo_server as served
    from tests.helpers.shop_catalogues import google_feed

    monkeypatch.setattr(served, "PHOTOS", {**served.PHOTOS, **shop_photos()})
    feed = google_feed(tmp_path / "feed", photo_url=lambda name: f"{photo_server.url}/{name}")
    store = EdgeStore(app_settings.data_dir, app_settings.collection)
    with ImageFetcher(app_settings.data_dir / "image-cache", allow_private=True) as fetcher:
        index_catalog(feed, None, load_embedder(app_settings.model, "cpu"), store, fetcher=fetcher)
    store.close()
    return app_settings


def test_a_google_products_additional_photos_show_from_the_cache_and_a_dead_one_says_why(google_shop):
    from tests.helpers.apptest import start

    at = start("pages/product.py")
    at.query_params["id"] = "G-BAG"
    at.run()
    assert not at.exception
    assert [shown(s.value) for s in at.subheader][:2] == ["80.00 USD", "Photos (10)"]  # compare-at = price: no sale
    captions = [shown(img.caption) for e in at.get("image") for img in e.proto.imgs if img.caption]
    names = [f"bag-{n}.jpg" for n in (1, 2, 4, 5, 6, 7, 8, 9)]
    assert captions == ["Photo 1 of 10 (main) · bag.jpg", "Photo 2 of 10 · bag-1.jpg", "Photo 3 of 10 · bag-2.jpg",
                        *(f"Photo {n} of 10 · {name}" for n, name in zip(range(5, 11), names[2:]))]
    dead = [shown(c.value) for c in at.caption]
    assert "Photo 4 of 10 · bag-3.jpg" in dead
    assert [c for c in dead if c.startswith("Not shown")] == ["Not shown: photo URL failed: HTTP 404"]

    at.query_params["id"] = "G-DRESS-RED"
    at.run()
    assert [shown(s.value) for s in at.subheader][:2] == ["~~50.00~~ 40.00 USD · 20% off", "Photos (3)"]
    captions = [shown(img.caption) for e in at.get("image") for img in e.proto.imgs if img.caption]
    assert captions == ["Photo 1 of 3 (main) · dress-red.jpg", "Photo 2 of 3 · dress-red-back.jpg",
                        "Photo 3 of 3 · dress-red-side.jpg"]


def test_hostile_variant_values_and_photo_names_stay_text(app_settings, tmp_path):
    from core.common.safe_text import md

    photo = tmp_path / "[x](javascript:alert(1)).jpg"
    photo.write_bytes(shop_photos()["tee-red.jpg"])
    payload = {F.PHOTOS: [str(photo), str(tmp_path / "missing.jpg")],
               F.VARIANTS: [{"sku": HOSTILE, "colour": "**Red**", "options": {"<b>Fit</b>": ":red[slim]"},
                             "price": 22.0, "image": str(photo)}]}
    at = AppTest.from_function(_product_script, default_timeout=TIMEOUT)
    at.session_state["payload"] = payload
    at.run()
    assert not at.exception
    [image] = [img for e in at.get("image") for img in e.proto.imgs]
    assert shown(image.caption) == \
        f"Photo 1 of 2 (main) · {photo.name}  \nVariant photo: {HOSTILE} (**Red** / :red[slim])"
    assert "](" not in image.caption and "**Red**" not in image.caption  # every catalogue character escaped
    row = at.table[0].value.iloc[0].tolist()
    assert row == [md(HOSTILE), md("**Red**"), "", md("<b>Fit</b>: :red[slim]"), md("22.00"), "", "", "Photo 1"]
