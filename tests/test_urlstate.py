"""URL query parameters <-> what a page shows: exact round trips, and garbage that falls back to defaults."""

from __future__ import annotations

from core.urlstate import SearchState, filters_from_params, filters_to_params


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
    from core.urlstate import MAX_FEEDBACK

    state = SearchState.from_params({"likes": ["7", "", "7", "9"], "dislikes": ["9", "x" * 300],
                                     "q": ["dress"]})
    assert (state.likes, state.dislikes) == (["7", "9"], ["x" * 200])
    assert state.to_params() == {"q": "dress", "likes": ["7", "9"], "dislikes": ["x" * 200]}
    many = SearchState.from_params({"likes": [str(i) for i in range(MAX_FEEDBACK + 5)]})
    assert many.likes == [str(i) for i in range(MAX_FEEDBACK)]
