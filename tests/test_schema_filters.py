"""The sidebar built from the index's schema, without a browser: slider steps and ranges, the count lines, the
Explore map greying out by catalogue fields and price, and the pages over the shop index (AppTest)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.filter_sidebar import range_from_slider, range_text, slider_span, slider_step, sort_label
from app.search_options import browse_count, search_count
from core.common.filters import Filters
from core.map.figure import build_figure, filter_fields_missing, filter_mask
from core.map.storage import CatalogMap
from tests.helpers.apptest import start


# ---- range sliders ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("span, step", [(113.5, 1), (34.4, 0.2), (4.0, 0.02), (2000, 20), (999, 5), (0.5, 0.01),
                                        (0, 1.0)])
def test_a_slider_has_about_a_hundred_round_steps(span, step):
    assert slider_step(span) == pytest.approx(step)


def test_the_slider_ends_round_out_to_the_step_and_widen_to_show_a_chosen_range():
    assert slider_span((15.5, 129.0), (None, None), 1) == (15, 129)
    assert slider_span((15.5, 49.9), (None, None), 0.2) == pytest.approx((15.4, 50.0))
    assert slider_span((15.5, 49.9), (10.0, 60.0), 0.2) == pytest.approx((10.0, 60.0))  # from a link, wider


def test_a_handle_left_at_its_end_is_no_bound():
    assert range_from_slider((15, 129), (15, 129)) == (None, None)
    assert range_from_slider((20, 129), (15, 129)) == (20.0, None)
    assert range_from_slider((15, 50), (15, 129)) == (None, 50.0)
    assert [range_text(b) for b in ((20.0, 50.0), (None, 49.9), (1500.0, None))] == [
        "20 – 50", "up to 49.9", "from 1,500"]


def test_sort_labels_say_what_the_order_is_on_a_listing_and_on_a_search():
    assert [sort_label(o, browsing=True) for o in ("", "price", "-price")] == [
        "Unsorted", "Price: low to high", "Price: high to low"]
    assert sort_label("", browsing=False) == "Relevance"
    assert sort_label("-sale_price", browsing=False) == "Sale price: high to low"


# ---- count lines ---------------------------------------------------------------------------------------------

def test_a_listing_counts_what_matches_the_filters():
    assert browse_count(1204, filtered=True) == "1,204 products match the filters"
    assert browse_count(1, filtered=True) == "1 product matches the filters"
    assert browse_count(6, filtered=False) == "6 products in the catalogue"
    assert browse_count(6, False, "by price, low to high", lacking=1, thing="price") == \
        "6 products in the catalogue · by price, low to high · 1 without a price last"


def test_a_search_says_it_shows_the_most_similar_not_matches():
    assert search_count(12, 12, 1204, filtered=True) == \
        "Showing the 12 most similar, of 1,204 products that match the filters"
    assert search_count(12, 12, 6000, filtered=False) == "Showing the 12 most similar, of 6,000 products in the catalogue"
    # a minimum similarity cuts the list: fewer than asked for means that is all of them
    assert search_count(5, 12, 1204, True, threshold=0.25) == \
        "All 5 products with similarity ≥ 0.25, of 1,204 products that match the filters"
    assert search_count(12, 12, 1204, True, threshold=0.25) == \
        "Showing the 12 most similar with similarity ≥ 0.25, of 1,204 products that match the filters"
    # sorted by a field: the most similar 200 (or fewer) are what is sorted
    assert search_count(12, 12, 1204, True, order="by price, low to high") == \
        "The 200 most similar of 1,204 products that match the filters, by price, low to high: showing 12"
    assert search_count(6, 12, 6, False, order="by price, low to high", lacking=1, thing="price") == \
        "The 6 most similar of 6 products in the catalogue, by price, low to high: showing 6 · those without a " \
        "price last"


# ---- the Explore map ------------------------------------------------------------------------------------------

def _map() -> CatalogMap:
    ids = ["1", "2", "3", "4", "5", "6"]
    return CatalogMap("image", ids, np.arange(12, dtype=float).reshape(6, 2), np.zeros(6, dtype=int), {0: "All"},
                      ["image"] * 6, [""] * 6, "key", {}, attrs={
                          "title": [f"Product {p}" for p in ids], "image_path": [""] * 6,
                          "gender": ["Women", "Men", "Women", "Men", "Girls", "Men"],
                          **{k: [""] * 6 for k in ("category", "sub_category", "product_type", "colour", "usage")}})


COLUMNS = {"brand": ["Mango", "Nike", "Bata", "Fossil", "Puma", "Roadster"],
           "price": [49.9, 19.99, 35.0, 129.0, 15.5, None],
           "in_stock": ["yes", "yes", "no", "yes", "yes", "no"],
           "tags": [["summer", "sale"], ["sale"], [], None, ["summer"], ["winter"]]}


def _passing(filters: Filters, columns=COLUMNS) -> list[str]:
    m = _map()
    return [p for p, keep in zip(m.product_ids, filter_mask(m, filters, columns)) if keep]


def test_map_points_pass_catalogue_keyword_filters_and_flags():
    assert _passing(Filters.of({"brand": ["Nike", "Mango"]})) == ["1", "2"]
    assert _passing(Filters.of({"in_stock": ["yes"]})) == ["1", "2", "4", "5"]
    assert _passing(Filters.of({"gender": ["Men"], "in_stock": ["yes"]})) == ["2", "4"]
    assert _passing(Filters.of({"tags": ["summer"]})) == ["1", "5"]  # a list value passes when any element does
    assert _passing(Filters.of(exclude={"tags": ["sale"]})) == ["3", "4", "5", "6"]


def test_map_points_pass_a_range_only_with_a_number_inside_it():
    assert _passing(Filters.of(ranges={"price": (15.0, 50.0)})) == ["1", "2", "3", "5"]
    assert _passing(Filters.of(ranges={"price": (None, 20.0)})) == ["2", "5"]
    assert _passing(Filters.of(ranges={"price": (100.0, None)})) == ["4"]
    assert _passing(Filters().plus(lacking=["price"])) == ["6"]


def test_a_field_the_map_cannot_see_passes_no_point_and_is_named_for_the_page_to_fetch():
    filters = Filters.of({"brand": ["Nike"], "gender": ["Men"]}, ranges={"price": (1.0, 2.0)})
    assert filter_fields_missing(_map(), filters) == ["brand", "price"]
    # colour may hold several values, and the map file keeps it as one string: it is read from the index too
    assert filter_fields_missing(_map(), Filters.of({"colour": ["Red"]})) == ["colour"]
    assert _passing(Filters.of({"brand": ["Nike"]}), columns={}) == []


def test_the_figure_greys_out_products_the_catalogue_filters_leave_out():
    figure = build_figure(_map(), "gender", Filters.of({"in_stock": ["yes"]}, ranges={"price": (None, 40.0)}),
                          columns=COLUMNS)
    traces = {t.name: sorted(row[0] for row in t.customdata) for t in figure.data}
    assert traces["filtered out"] == ["1", "3", "4", "6"]
    assert traces["Men (1)"] == ["2"] and traces["Girls (1)"] == ["5"]


# ---- the pages over the shop index (AppTest) -------------------------------------------------------------------

@pytest.fixture
def shop(app_settings, shop_settings):
    """A page test on the shop index (brand, price, in_stock)."""
    return shop_settings


def _ids(at) -> list[str]:
    return [b.key.split("-")[1] for b in at.button if b.key and b.key.startswith("results-") and b.key.endswith("-like")]


def _url(at) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in at.query_params.items()}


def test_the_sidebar_follows_the_index_schema(shop):
    at = start()
    assert [m.label for m in at.sidebar.multiselect] == [
        "Gender", "Category", "Sub-category", "Product type", "Colour", "Usage", "Brand"]
    assert [t.label for t in at.sidebar.toggle] == ["In stock only"]
    assert [(s.label, s.min, s.max, s.value) for s in at.sidebar.slider] == [("Price", 15, 129, (15, 129))]
    assert "1 product without a price: shown until the range is narrowed" in [c.value for c in at.sidebar.caption]
    assert _ids(at) == ["2", "1", "6", "4", "3", "5"] and not at.exception


def test_an_untouched_slider_filters_nothing_and_a_moved_one_a_range(shop):
    at = start()
    at.sidebar.slider(key="r_price").set_range(15, 129).run()  # a change event that leaves it at full range
    assert at.session_state["ranges"] == {} and len(_ids(at)) == 6
    at.sidebar.slider(key="r_price").set_range(15, 50).run()
    assert at.session_state["ranges"] == {"price": (None, 50.0)}
    assert _ids(at) == ["2", "1", "3", "5"] and _url(at) == {"range.price": [":50"]}
    # Another filter changes the slider's bounds; the chosen range stays what it was.
    at.sidebar.multiselect(key="f_brand").select("Nike").run()
    assert at.session_state["ranges"] == {"price": (None, 50.0)} and _ids(at) == ["2"]


def test_the_sort_and_the_range_apply_to_a_search_among_its_relevant_results(shop):
    at = start(q="shirt", sort="-price", **{"range.price": "15:60"})
    assert not at.exception
    assert _ids(at) == ["1", "3", "2", "5"]  # all four pass, so the order is the price order
    assert any(m.value.startswith("The 4 most similar of 4 products that match the filters, by price, high to low")
               for m in at.markdown)


def test_garbage_in_the_link_is_ignored_and_the_page_still_lists(shop):
    at = start(sort="-brand", brand=["Nobody", "Nike"], **{"range.price": "cheap:50", "range.brand": "1:2",
                                                          "in_stock": "maybe"})
    assert not at.exception and not at.error
    assert at.session_state["sort"] == "" and at.session_state["ranges"] == {}
    assert at.session_state["f_brand"] == ["Nobody", "Nike"] and _ids(at) == ["2"]
    assert _url(at) == {"brand": ["Nobody", "Nike"]}


def test_explore_greys_out_by_brand_stock_and_price(shop):
    from app import resources
    from core.map.build import compute_map

    compute_map(resources.store(shop), shop.data_dir, shop.collection)
    at = start("pages/explore.py", brand=["Nike", "Mango", "Bata"], in_stock="yes", **{"range.price": "20:60"})
    assert not at.exception and not at.error
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {t.get("name"): sorted(row[0] for row in t["customdata"]) for t in spec["data"]}
    assert traces["filtered out"] == ["2", "3", "4", "5", "6"]  # Nike is 19.99, Bata out of stock
    assert _url(at) == {"brand": ["Nike", "Mango", "Bata"], "in_stock": ["yes"], "range.price": ["20:60"]}
    # colour is a list in the payload (a product may come in several): a colour filter greys out the others
    at = start("pages/explore.py", colour=["Red", "Blue"])
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = {t.get("name"): sorted(row[0] for row in t["customdata"]) for t in spec["data"]}
    assert traces["filtered out"] == ["3", "4", "5", "6"]


def test_show_more_pages_through_the_listing_and_a_new_filter_starts_again(shop, monkeypatch):
    from app import search_state

    monkeypatch.setattr(search_state, "BROWSE_PAGE", 2)
    at = start(sort="price")
    assert _ids(at) == ["5", "2"]
    at.button(key="show_more").click().run()
    assert _ids(at) == ["5", "2", "3", "1"]
    at.button(key="show_more").click().run()
    assert _ids(at) == ["5", "2", "3", "1", "4", "6"] and not [b for b in at.button if b.key == "show_more"]
    at.sidebar.toggle(key="flag_in_stock").set_value(True).run()
    assert _ids(at) == ["5", "2"]  # a new listing: one page again


def _with_extra_fields(settings, fields: dict[str, list[str]], keyword=(), number=()):
    """Give the shop's products more payload fields (product i gets each list's i-th value) and index them."""
    from app import resources
    from core.common.fields import Schema
    from core.index.store import point_id

    store = resources.store(settings)
    for hit in store.retrieve([point_id(str(i)) for i in range(1, 7)]):
        i = int(hit.payload["product_id"]) - 1
        store.overwrite_payload(hit.id, {**hit.payload, **{k: v[i] for k, v in fields.items()}})
    store.add_fields(Schema(keyword=tuple(keyword), number=tuple(number)))


def test_four_catalogue_filters_or_more_go_under_more_filters(shop):
    _with_extra_fields(shop, {"season": ["SS26", "AW26"] * 3, "fabric": ["silk", "wool"] * 3,
                              "fit": ["slim", "loose"] * 3}, keyword=("season", "fabric", "fit"))
    at = start()
    assert [e.label for e in at.sidebar.expander] == ["More filters"]
    assert [m.label for m in at.sidebar.expander[0].multiselect] == ["Brand", "Season", "Fabric", "Fit"]
    at = start(fit="slim")
    assert at.sidebar.expander[0].multiselect(key="f_fit").value == ["slim"] and len(_ids(at)) == 3


def test_a_currency_from_the_catalogue_names_the_price_slider_as_text(shop):
    hostile = "![t](http://127.0.0.1:9/x.png)"
    _with_extra_fields(shop, {"currency": [hostile] * 6}, keyword=("currency",))
    at = start()
    from core.common.safe_text import md

    assert [s.label for s in at.sidebar.slider] == [f"Price \\({md(hostile)}\\)"]


def test_a_number_every_product_shares_is_said_not_slid(shop):
    _with_extra_fields(shop, {"rating": [4.5] * 6}, number=("rating",))
    at = start()
    assert [s.label for s in at.sidebar.slider] == ["Price"]
    assert "Rating: 4\\.5 for every product here" in [c.value for c in at.sidebar.caption]
    assert [o for o in at.selectbox(key="sort_browse").options] == [
        "Unsorted", "Price: low to high", "Price: high to low", "Discount: low to high", "Discount: high to low",
        "Rating: low to high", "Rating: high to low"]  # a priced catalogue has discount (issue 21), even with no sale


def test_a_hostile_brand_is_a_value_in_the_sidebar_and_text_in_its_count_line(shop):
    from core.common.safe_text import md
    from tests.helpers.apptest import shown

    hostile = "![t](http://127.0.0.1:9/x.png) **Nike**"
    _with_extra_fields(shop, {"brand": [hostile] + ["Puma"] * 5})
    at = start(brand=hostile)
    assert at.sidebar.multiselect(key="f_brand").value == [hostile] and _ids(at) == ["1"]
    line = f"**{md(hostile)} 1** · Puma 5"
    assert line in [c.value for c in at.sidebar.caption]
    assert shown(line) == f"**{hostile} 1** · Puma 5"  # the value reads as written, inside our own bold
    assert _url(at) == {"brand": [hostile]}
