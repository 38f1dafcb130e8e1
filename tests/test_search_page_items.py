"""Search page behaviours from issue 19 (2, 4, 5), with AppTest: look-alikes closest first whatever the sort; the
query photo previewed and a broken one explained plainly; a Shopify catalogue's sidebar without empty or
one-value filters, and its whole-number stock shown as whole numbers."""

from __future__ import annotations

import io

import pytest

from tests.conftest import write_csv
from tests.helpers.apptest import expected_ids, result_ids, shown, start, url

BY_PRICE = ["5", "2", "3", "1", "4", "6"]  # shop_settings, low to high; 6 has no price and comes last


@pytest.fixture
def shop(app_settings, shop_settings):
    """A page test on the six-product shop catalogue (brands, prices, stock)."""
    return shop_settings


# ---- 2: look-alikes are closest first --------------------------------------------------------------------------

def test_more_like_this_on_a_price_sorted_page_lists_look_alikes_closest_first(shop):
    at = start(q="dress", sort="price")
    assert result_ids(at) == BY_PRICE
    last = result_ids(at)[-1]
    closest_first = expected_ids(shop, selection=(last,))
    assert closest_first != [p for p in BY_PRICE if p != last]  # the two orders differ: the test can fail
    at.button(key=f"results-{last}-like").click().run()
    assert not at.exception
    assert result_ids(at) == closest_first
    assert url(at, "sort") == [] and url(at, "like") == [last]
    assert "Look-alikes: closest first" in [c.value for c in at.caption]
    assert not [s for s in at.selectbox if s.label == "Sort by"]  # no order to pick for look-alikes
    scripts = [h.proto.body for h in at.get("html")]
    assert len(scripts) == 1 and "scrollTo({top: 0})" in scripts[0]  # back to the top of the page, once
    at.run()
    assert at.get("html") == [] or not [h for h in at.get("html") if "scrollTo" in h.proto.body]


def test_a_look_alike_search_that_fails_still_scrolls_at_once_and_never_later(shop, monkeypatch):
    import core.search.query
    from core.common.errors import StoreError

    at = start(q="dress")
    last = result_ids(at)[-1]
    real = core.search.query.search

    def failing(*args, **kwargs):
        raise StoreError("the index is busy")

    monkeypatch.setattr(core.search.query, "search", failing)
    at.button(key=f"results-{last}-like").click().run()
    assert not at.exception and [e.value for e in at.error] == ["the index is busy"]
    assert [h for h in at.get("html") if "scrollTo" in h.proto.body]  # the page went to its top with the click
    monkeypatch.setattr(core.search.query, "search", real)
    at.segmented_control(key="mode").set_value("text").run()  # an unrelated click later
    assert not at.exception and result_ids(at)
    assert not [h for h in at.get("html") if "scrollTo" in h.proto.body]


def test_a_link_with_a_product_and_a_sort_lists_its_look_alikes_closest_first(shop):
    at = start(mode="image", like="4", sort="-price")
    assert not at.exception
    assert result_ids(at) == expected_ids(shop, selection=("4",))
    assert url(at, "sort") == []


def test_look_alikes_leave_the_sessions_sort_for_the_next_search(shop):
    """The sort is shared by every page: look-alikes ignore it, never erase it."""
    at = start(q="dress", sort="price")
    at.button(key="results-4-like").click().run()
    assert url(at, "sort") == [] and result_ids(at) == expected_ids(shop, selection=("4",))
    at.segmented_control(key="mode").set_value("text").run()
    assert not at.exception
    assert url(at, "sort") == ["price"] and at.session_state["sort"] == "price"
    assert result_ids(at) == BY_PRICE


def test_diverse_look_alikes_say_they_are_varied_not_closest_first(shop):
    at = start(mode="image", like="4", sort="price", diverse="1")
    captions = [c.value for c in at.caption]
    assert "Look-alikes, varied (MMR)" in captions and "Look-alikes: closest first" not in captions
    at.toggle(key="diverse").set_value(False).run()
    assert "Look-alikes: closest first" in [c.value for c in at.caption]


def test_a_text_search_keeps_its_sort(shop):
    at = start(q="dress", sort="-price")
    assert result_ids(at) == ["4", "1", "3", "2", "5", "6"]
    assert url(at, "sort") == ["-price"]


# ---- 1: every search setting survives a mode switch and a page change ----------------------------------------

def test_also_match_product_texts_survives_a_mode_switch_and_a_page_change(shop):
    at = start(q="dress")
    at.toggle(key="text_vectors").set_value(True).run()
    at.segmented_control(key="mode").set_value("image").run()
    assert not at.exception and at.session_state["text_vectors"] is True
    at.segmented_control(key="mode").set_value("text").run()
    assert at.toggle(key="text_vectors").value is True
    at.switch_page("pages/catalog.py").run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    assert at.toggle(key="text_vectors").value is True and at.text_input(key="q").value == "dress"


# ---- 3: cards keyed by their product -------------------------------------------------------------------------

def test_a_card_key_is_short_and_safe_whatever_the_product_id():
    import re

    from app.result_grid import card_key

    ids = ["a b", '"><img src=x>', "x" * 5000, "é/ü:#", "\udcff", "1", "01"]
    keys = [card_key("results", pid) for pid in ids]
    assert all(re.fullmatch(r"card-[0-9a-f]{24}", k) for k in keys) and len(set(keys)) == len(ids)
    assert card_key("gaps-like-a b", "1") != card_key("results", "1")  # one product in two grids: two keys


def _keyed_blocks(node, found: dict) -> dict:
    """Container key -> the captions inside it, for every keyed block under node."""
    from streamlit.testing.v1.element_tree import Block

    for child in node.children.values():
        if isinstance(child, Block):
            block_id = getattr(child.proto, "id", "") or ""
            key = block_id.rsplit("-", 2)[-2:] if block_id else []
            if key and key[0] == "card":
                found["-".join(key)] = [shown(c.value) for c in child.caption]
            _keyed_blocks(child, found)
    return found


def test_every_result_card_is_a_container_keyed_by_its_product(shop):
    from app.result_grid import card_key

    at = start(q="dress")
    cards = _keyed_blocks(at.main, {})
    ids = result_ids(at)
    assert len(ids) == 6 and sorted(cards) == sorted(card_key("results", p) for p in ids)
    for pid in ids:  # each card's container holds that product's own caption (title, photo and "#id" together)
        assert cards[card_key("results", pid)][0].endswith(f"#{pid}")


# ---- 4: the query photo --------------------------------------------------------------------------------------

def _png(size: int = 96) -> bytes:
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(3).integers(0, 255, (size, size, 3), dtype=np.uint8)  # incompressible
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    return buf.getvalue()


def test_a_truncated_photo_is_said_plainly_to_be_incomplete(shop):
    whole = _png()
    at = start(mode="image")
    at.file_uploader(key="upload").upload("cut.png", whole[:len(whole) // 2], "image/png").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["This file is not a complete image. Try another file."]
    assert not [i for i in at.get("image") if i.proto.imgs and i.proto.imgs[0].caption == "Your photo"]


def test_an_uploaded_photo_is_shown_beside_the_search(shop, tmp_path):
    at = start(mode="image")
    photo = (tmp_path / "shop" / "images" / "Apparel" / "1.jpg").read_bytes()
    at.file_uploader(key="upload").upload("query.jpg", photo, "image/jpeg").run()
    assert not at.exception and not at.error
    previews = [i for i in at.get("image") if i.proto.imgs and i.proto.imgs[0].caption == "Your photo"]
    assert len(previews) == 1
    assert result_ids(at)[0] == "1"  # and the search used it


@pytest.mark.parametrize("name, content, message", [
    ("notes.png", b"this is not an image", "not an image file"),
    ("empty.webp", b"", "empty"),
])
def test_other_unusable_photos_say_why(shop, name, content, message):
    at = start(mode="image")
    at.file_uploader(key="upload").upload(name, content, "image/png").run()
    assert not at.exception
    [error] = [shown(e.value) for e in at.error]
    assert error.startswith("This file cannot be used as a query photo: ") and message in error


# ---- 5: a Shopify catalogue's sidebar --------------------------------------------------------------------------

SHOPIFY_HEADER = ["Handle", "Title", "Vendor", "Type", "Option1 Name", "Option1 Value", "Variant SKU",
                  "Variant Inventory Qty", "Variant Price", "Image Src", "Image Position", "Status"]
SHOPIFY_ROWS = [  # no gender, category, colour or usage at all; one status for every product; stock 5, 12, 0
    ["linen-dress", "Linen Dress", "Acme", "Dress", "Size", "S", "LD-S", "3", "25.00", "dress.jpg", "1", "active"],
    ["linen-dress", "", "", "", "", "M", "LD-M", "2", "24.50", "", "", ""],
    ["basic-tee", "Basic Tee", "Acme", "T-Shirt", "Size", "M", "T-1", "12", "9.50", "tee.jpg", "1", "active"],
    ["silk-scarf", "Silk Scarf", "Loom", "Scarf", "Title", "Default Title", "S-1", "0", "19.00", "scarf.jpg", "1",
     "active"],
]


def card_ids(at) -> list[str]:
    """Product ids of the result cards, hyphens and all (from their "More like this" button keys)."""
    return [b.key[len("results-"):-len("-like")] for b in at.button
            if b.key and b.key.startswith("results-") and b.key.endswith("-like")]


@pytest.fixture
def shopify(app_settings, tmp_path):
    """A page test on a three-product Shopify export, indexed with its photos."""
    return index_shopify(app_settings, tmp_path, SHOPIFY_ROWS)


def index_shopify(app_settings, tmp_path, rows):
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.ingest.sample import draw_product
    from core.index.store import EdgeStore

    folder = tmp_path / "shopify"
    (folder / "images").mkdir(parents=True)
    for name, kind, colour in (("dress", "Dresses", "Red"), ("tee", "Tshirts", "Blue"), ("scarf", "Caps", "Grey")):
        draw_product(kind, colour, "Solid").save(folder / "images" / f"{name}.jpg")
    catalog = write_csv(folder / "products_export.csv", SHOPIFY_HEADER, rows)
    store = EdgeStore(app_settings.data_dir, app_settings.collection)
    index_catalog(catalog, folder / "images", load_embedder(app_settings.model, "cpu"), store)
    store.close()
    return app_settings


def test_a_shopify_sidebar_leaves_out_filters_with_nothing_to_choose(shopify):
    at = start()
    assert not at.exception
    # gender, category, sub-category, colour and usage: no product has one; status: "active" for all three
    assert [m.label for m in at.sidebar.multiselect] == ["Product type", "Brand", "Size"]
    assert [t.label for t in at.sidebar.toggle] == ["In stock only"]  # 2 in stock, 1 not


def test_a_filter_chosen_by_a_link_stays_to_be_cleared_even_with_one_value(shopify):
    at = start(status="active")
    assert "Status" in [m.label for m in at.sidebar.multiselect]
    assert at.multiselect(key="f_status").value == ["active"]


def test_which_filters_to_offer_asks_each_field_for_two_values_once_per_index_version(shopify, monkeypatch):
    """With a filter chosen, the catalogue-wide "more than one value?" check is its own query: two values are
    enough to answer it, and the answer holds until the index changes."""
    import streamlit as st

    from core.index.store import EdgeStore

    st.cache_data.clear()
    asked = []
    real = EdgeStore.facet

    def spy(self, key, filters=None, limit=100):
        if not filters:
            asked.append((key, limit))
        return real(self, key, filters, limit)

    monkeypatch.setattr(EdgeStore, "facet", spy)
    at = start(brand="Acme")
    at.run()
    assert not at.exception
    assert [m.label for m in at.sidebar.multiselect] == ["Product type", "Brand", "Size"]
    catalogue_wide = [(key, limit) for key, limit in asked if limit != 1000]
    assert catalogue_wide and {limit for _, limit in catalogue_wide} == {2}
    assert len(catalogue_wide) == len({key for key, _ in catalogue_wide})  # once, not on every run
    assert all(limit == 2 for key, limit in asked if key == "status")  # status only ever asked for two
    st.cache_data.clear()


def test_whole_number_stock_shows_as_whole_numbers(shopify):
    at = start()
    [stock] = [s for s in at.sidebar.slider if s.label == "Inventory"]
    assert stock.value == (0, 12) and stock.proto.format == "%d" and stock.step == 1
    [price] = [s for s in at.sidebar.slider if s.label == "Price"]
    assert price.proto.format == "%.1f"  # 9.50, 19.00 and 24.50: not whole
    at.slider(key="r_inventory").set_value((5, 12)).run()
    assert url(at, "range.inventory") == ["5:"]
    assert "Only from 5" in [c.value for c in at.sidebar.caption]
    assert sorted(card_ids(at)) == ["basic-tee", "linen-dress"]  # stock 12 and 3 + 2 = 5

    product = start("pages/product.py")
    product.query_params["id"] = "linen-dress"
    product.run()
    table = product.table[0].value
    assert dict(zip(table["Attribute"], table["Value"]))["Inventory"] == "5"


def test_whole_numbers_past_a_browsers_safe_integers_get_a_float_slider(app_settings, tmp_path):
    """Excel turns a long code into 1E+17: an int slider with that end is refused by Streamlit (crash)."""
    rows = [list(r) for r in SHOPIFY_ROWS]
    rows[2][7] = "100000000000000000"  # basic-tee's stock: 1e17, a whole number past 2**53 - 1
    index_shopify(app_settings, tmp_path, rows)
    at = start()
    assert not at.exception
    [stock] = [s for s in at.sidebar.slider if s.label == "Inventory"]
    assert stock.value == (0.0, 1e17) and isinstance(stock.value[1], float) and stock.proto.format != "%d"


def test_whole_number_fields_reads_every_value(shopify):
    from app import resources
    from core.common.filters import whole_number_fields

    store = resources.store(shopify)
    assert whole_number_fields(store, ["inventory", "price", "missing"]) == ("inventory",)


def test_whole_number_fields_are_read_once_per_index_version_however_long_the_server_runs(shopify, monkeypatch):
    """Reading them scrolls every product's numbers: never again until the index changes (1M products: ~1,000
    pages under the store's lock before the sidebar draws)."""
    from streamlit.runtime.caching import cache_utils

    import app.filter_sidebar as sidebar
    from app import resources

    clock = [1000.0]
    monkeypatch.setattr(cache_utils, "TTLCACHE_TIMER", lambda: clock[0])
    sidebar._whole_number_fields.clear()
    reads = []
    monkeypatch.setattr(sidebar, "whole_number_fields", lambda store, names: reads.append(names) or ("inventory",))
    store = resources.store(shopify)
    for hours in (0, 1, 24):
        clock[0] = 1000.0 + hours * 3600
        assert sidebar.cached_whole_number_fields(store, ("inventory", "price")) == ("inventory",)
    assert reads == [("inventory", "price")]
    sidebar._whole_number_fields.clear()


def test_a_query_photo_over_its_limit_is_refused_by_the_app_itself_before_it_is_read(shop, monkeypatch):
    """A client that skips the browser's 20 MB check (the server's cap is a photos zip's) still meets the app's."""
    import app.search_state
    from core.ingest import uploads

    monkeypatch.setattr(uploads, "QUERY_PHOTO", uploads.UploadKind("query photo", ("jpg", "jpeg", "png", "webp"), 1))
    read = []
    monkeypatch.setattr(app.search_state, "upload_preview", lambda *a: read.append(a) or (None, ""))
    at = start(mode="image")
    big = _png() + b"\0" * uploads.MB
    at.file_uploader(key="upload").upload("big.png", big, "image/png").run()
    assert not at.exception and read == []
    from tests.helpers.apptest import shown

    assert [shown(e.value) for e in at.error] == [
        f"big.png is {len(big) / uploads.MB:.1f} MB; a query photo may be at most 1 MB. Try a smaller photo."]
