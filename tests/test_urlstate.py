"""URL query parameters <-> what a page shows: exact round trips, and garbage that falls back to defaults."""

from __future__ import annotations

import pytest

from core.common.fields import Schema
from core.curation.urlstate import FilterState, SearchState, filters_from_params, filters_to_params, parse_bounds


def test_filters_from_a_link_keep_raw_values_in_order_and_drop_empty_and_unknown_keys():
    params = {"colour": ["Red", "", "Navy Blue"], "gender": [""], "q": ["dress"], "brand": ["Nike"],
              "usage": ["Party"]}
    assert filters_from_params(params) == {"colour": ["Red", "Navy Blue"], "usage": ["Party"]}


def test_filters_go_to_the_url_in_catalogue_field_order_with_empty_fields_left_out():
    assert list(filters_to_params({"usage": ["Party"], "colour": [], "gender": ["Women", "Girls"]}).items()) == [
        ("gender", ["Women", "Girls"]), ("usage", ["Party"])]


def test_a_value_that_looks_like_a_label_with_a_count_is_kept_as_it_is():
    """A catalogue value may contain parentheses: nothing is stripped, so it round-trips exactly."""
    filters = {"colour": ["Red (1)"], "product_type": ["Tshirts & Tops"]}
    assert filters_from_params(filters_to_params(filters)) == filters


def test_search_state_round_trips_through_its_url_form():
    state = SearchState(mode="hybrid", text="red dress", weight=0.3, fusion="rrf", threshold=0.2, diverse=True,
                        filters={"gender": ["Women"], "colour": ["Red", "Pink"]})
    params = {k: v if isinstance(v, list) else [v] for k, v in state.to_params().items()}
    assert SearchState.from_params(params) == state


def test_likes_and_dislikes_are_product_ids_in_the_link_deduplicated_and_bounded():
    from core.curation.urlstate import MAX_FEEDBACK

    state = SearchState.from_params({"likes": ["7", "", "7", "9"], "dislikes": ["9", "x" * 300],
                                     "q": ["dress"]})
    assert (state.likes, state.dislikes) == (["7", "9"], ["x" * 200])
    assert state.to_params() == {"q": "dress", "likes": ["7", "9"], "dislikes": ["x" * 200]}
    many = SearchState.from_params({"likes": [str(i) for i in range(MAX_FEEDBACK + 5)]})
    assert many.likes == [str(i) for i in range(MAX_FEEDBACK)]


# ---- filters beyond the six, ranges and the sort: read against the index's schema ----------------------------

SHOP = Schema(keyword=("gender", "category", "sub_category", "product_type", "colour", "usage", "brand", "season",
                       "in_stock", "mode", "item_group_id"),
              number=("price", "rating"), flags=("in_stock",))


def test_a_link_filters_on_any_keyword_field_of_the_index_and_nothing_else():
    params = {"brand": ["Nike", "", "Nike", "Mango"], "season": ["SS26"], "fabric": ["silk"], "colour": ["Red"],
              "price": ["10"], "item_group_id": ["g1"]}
    assert FilterState.from_params(params, SHOP).keywords == {"colour": ["Red"], "brand": ["Nike", "Mango"],
                                                              "season": ["SS26"]}


def test_a_flag_in_a_link_keeps_only_yes_which_is_all_the_sidebar_toggle_can_show():
    assert FilterState.from_params({"in_stock": ["yes"]}, SHOP).keywords == {"in_stock": ["yes"]}
    assert FilterState.from_params({"in_stock": ["no"]}, SHOP).keywords == {}
    assert FilterState.from_params({"in_stock": ["no", "yes"]}, SHOP).keywords == {"in_stock": ["yes"]}


def test_a_field_named_like_a_page_parameter_travels_as_filter_dot_name():
    state = FilterState(keywords={"mode": ["Retail"]})
    assert state.to_params(SHOP) == {"filter.mode": ["Retail"]}
    assert FilterState.from_params({"mode": ["image"], "filter.mode": ["Retail"]}, SHOP).keywords == {
        "mode": ["Retail"]}
    # and the Search page's own mode still reads its own parameter
    search = SearchState.from_params({"mode": ["image"], "filter.mode": ["Retail"]}, SHOP)
    assert (search.mode, search.filters) == ("image", {"mode": ["Retail"]})


@pytest.mark.parametrize("raw, bounds", [
    ("10:50", (10.0, 50.0)), (":50", (None, 50.0)), ("10:", (10.0, None)), ("-5:2.5", (-5.0, 2.5)),
    ("10:10", (10.0, 10.0)), (" 10 : 50 ", (10.0, 50.0)), ("1e2:2e2", (100.0, 200.0)),
    (":", None), ("", None), ("10", None), ("ten:50", None), ("10:fifty", None), ("50:10", None),
    ("nan:5", None), ("1:inf", None), ("-inf:", None), ("1e999:", None), ("10:20:30", None), ("x" * 500, None),
])
def test_range_bounds_parse_or_are_ignored(raw, bounds):
    assert parse_bounds(raw) == bounds


def test_ranges_are_read_for_the_index_number_fields_only_and_garbage_is_dropped():
    params = {"range.price": ["10:50"], "range.rating": ["4:banana"], "range.brand": ["1:2"], "range.weight": ["1:2"],
              "price": ["10:50"]}
    assert FilterState.from_params(params, SHOP).ranges == {"price": (10.0, 50.0)}
    assert FilterState.from_params(params).ranges == {}  # an index without number fields has no ranges


@pytest.mark.parametrize("raw, sort", [
    ("-price", "-price"), ("price", "price"), ("+price", "price"), ("-rating", "-rating"), ("score", ""), ("", ""),
    ("-brand", ""), ("-weight", ""), ("--price", "-price"), ("-", ""), ("price; drop", ""), ("x" * 300, ""),
])
def test_a_sort_is_kept_only_for_a_number_field_of_the_index(raw, sort):
    assert FilterState.from_params({"sort": [raw]}, SHOP).sort == sort


def test_filter_state_round_trips_with_ranges_and_sort_in_a_short_link():
    state = FilterState(keywords={"brand": ["Nike", "Mango"], "in_stock": ["yes"], "gender": ["Women"]},
                        ranges={"price": (None, 49.9), "rating": (4.0, None)}, sort="-price")
    params = state.to_params(SHOP)
    assert params == {"gender": ["Women"], "brand": ["Nike", "Mango"], "in_stock": ["yes"], "range.price": ":49.9",
                      "range.rating": "4:", "sort": "-price"}
    listed = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    assert FilterState.from_params(listed, SHOP) == state
    assert FilterState().to_params(SHOP) == {}


def test_range_bounds_keep_their_precision_in_the_link():
    params = FilterState(ranges={"price": (0.1 + 0.2, 1234567.25)}).to_params(SHOP)
    assert params == {"range.price": "0.3:1234567.25"}


def test_search_state_carries_ranges_and_sort_and_builds_a_request_with_them():
    from core.common.fields import SortKey
    from core.curation.urlstate import build_request

    state = SearchState(text="dress", filters={"brand": ["Nike"]}, ranges={"price": (10.0, 50.0)}, sort="-price")
    params = {k: v if isinstance(v, list) else [v] for k, v in state.to_params(SHOP).items()}
    assert params == {"q": ["dress"], "brand": ["Nike"], "range.price": ["10:50"], "sort": ["-price"]}
    assert SearchState.from_params(params, SHOP) == state
    request = build_request(state)
    assert request.filters.include == {"brand": ("Nike",)} and request.filters.ranges == {"price": (10.0, 50.0)}
    assert request.sort == SortKey("price", descending=True)


# ---- drafts and archived (hidden=1) and the on-sale flag --------------------------------------------------

SALE_SHOP = Schema(keyword=("gender", "colour", "status", "sku", "on_sale"), number=("price", "discount"),
                   flags=("on_sale",))


def test_show_hidden_travels_as_hidden_1_and_only_when_on():
    assert FilterState(show_hidden=True).to_params(SALE_SHOP) == {"hidden": "1"}
    assert FilterState().to_params(SALE_SHOP) == {}
    assert FilterState.from_params({"hidden": ["1"]}, SALE_SHOP).show_hidden is True
    state = SearchState(text="tee", show_hidden=True)
    assert state.to_params(SALE_SHOP) == {"q": "tee", "hidden": "1"}
    assert SearchState.from_params({"q": ["tee"], "hidden": ["1"]}, SALE_SHOP) == state


@pytest.mark.parametrize("raw", [["0"], ["yes"], ["true"], ["2"], ["1 "], [" 1"], [""], ["<b>1</b>"], ["1" * 500],
                                 [], ["0", "1"]])
def test_a_hostile_or_unknown_hidden_value_leaves_drafts_out(raw):
    assert FilterState.from_params({"hidden": raw}, SALE_SHOP).show_hidden is False
    assert SearchState.from_params({"hidden": raw}, SALE_SHOP).show_hidden is False


def test_show_hidden_reaches_the_search_request_and_a_status_field_named_hidden_is_a_filter_param():
    from core.curation.urlstate import build_request

    assert build_request(SearchState(text="tee", show_hidden=True)).show_hidden is True
    assert build_request(SearchState(text="tee")).show_hidden is False
    odd = Schema(keyword=("hidden",))  # a catalogue column called "hidden" goes in the link as filter.hidden
    assert FilterState(keywords={"hidden": ["x"]}, show_hidden=True).to_params(odd) == {"filter.hidden": ["x"],
                                                                                        "hidden": "1"}
    assert FilterState.from_params({"filter.hidden": ["x"], "hidden": ["1"]}, odd) == FilterState(
        keywords={"hidden": ["x"]}, show_hidden=True)


def test_on_sale_and_sku_and_status_filters_round_trip_and_sort_by_discount_is_kept():
    state = FilterState(keywords={"status": ["draft"], "sku": ["ABC-123"], "on_sale": ["yes"]}, sort="-discount")
    params = {k: v if isinstance(v, list) else [v] for k, v in state.to_params(SALE_SHOP).items()}
    assert params == {"status": ["draft"], "sku": ["ABC-123"], "on_sale": ["yes"], "sort": ["-discount"]}
    assert FilterState.from_params(params, SALE_SHOP) == state
    assert FilterState.from_params({"on_sale": ["no"]}, SALE_SHOP).keywords == {}  # a flag keeps only yes
    assert state.filters().include == {"status": ("draft",), "sku": ("ABC-123",), "on_sale": ("yes",)}
