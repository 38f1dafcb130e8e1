"""Exact lookup, both backends: a query that is a product's whole SKU, id (a Shopify handle) or item group id puts
that product first, whatever CLIP and the keyword tiers say; case and outer spaces ignored; a SKU two products share
puts both first (by product id), then the rest; the filters and the default view (no drafts) hold."""

import json
import re

import pytest

from core.common.filters import Filters
from core.search.query import SearchRequest, search
from tests.helpers.keyword_shop import DIM, TextEncoder, keyword_point

#         id                  CLIP vector     title                          attributes
CATALOGUE = [
    ("classic-tee-red",   (0, 0, 0, 1),   "Classic tee",                  {"sku": ["TS-0042-RED", "TS-0042-RED-XL"],
                                                                            "colour": "Red"}),
    ("tee-guide",         (1, 0, 0, 0),   "Care guide",                   {"description": "Fits TS-0042-RED tees",
                                                                            "colour": "Red"}),
    ("red-dress",         (0.9, 0.43589, 0, 0), "Red dress",              {"colour": "Red"}),
    ("b-mug",             (0, 1, 0, 0),   "Blue mug",                     {"sku": ["SHARED-1"], "colour": "Blue"}),
    ("a-mug",             (0, 0, 1, 0),   "Green mug",                    {"sku": ["SHARED-1"], "colour": "Green",
                                                                            "item_group_id": "MUGS"}),
    ("mug-rack",          (0.8, 0.6, 0, 0), "Rack for shared-1 mugs",     {"colour": "Blue"}),
    ("draft-hat",         (0, 0, 0.6, 0.8), "Hat",                        {"sku": ["HAT-9"], "status": "draft",
                                                                            "colour": "Red",
                                                                            "variants": [{"sku": "HAT-9-S"}]}),
]
# CLIP's query vectors: each lookup query points at anything but the product it names.
QUERIES = {"TS-0042-RED": (1, 0, 0, 0), "shared-1": (0.8, 0.6, 0, 0), "classic-tee-red": (1, 0, 0, 0),
           "HAT-9-S": (1, 0, 0, 0), "mugs": (0, 1, 0, 0)}


@pytest.fixture
def shop(store):
    store.ensure(TextEncoder.name, DIM)
    store.upsert([keyword_point(pid, vector, title, **extra) for pid, vector, title, extra in CATALOGUE])
    return store


def run(store, text, **kw):
    encoder = TextEncoder({k.casefold(): v for k, v in QUERIES.items()} | QUERIES)
    return search(store, SearchRequest(text=text, **kw), encoder)


def ids(results):
    return [r.product_id for r in results]


def test_an_exact_sku_comes_first_though_clip_and_the_words_prefer_another(shop):
    # tee-guide holds every word of the SKU (ts, 0042, red) and is CLIP's nearest; the SKU's product still leads.
    results = run(shop, "TS-0042-RED")
    assert ids(results)[:2] == ["classic-tee-red", "tee-guide"]
    first = results[0]
    assert (first.exact, first.exact_by, first.score, first.rank) == (True, "SKU", None, 1)
    assert first.why() == "SKU match · matched: ts, 0042, red · similarity 0.00"
    assert not any(r.exact for r in results[1:])


@pytest.mark.parametrize("text", ["ts-0042-red", "  TS-0042-RED  ", "Ts-0042-Red\t"])
def test_case_and_outer_spaces_are_ignored(shop, text):
    assert run(shop, text)[0].product_id == "classic-tee-red"


def test_a_product_id_or_handle_is_an_exact_match(shop):
    first = run(shop, "classic-tee-red")[0]
    assert (first.product_id, first.exact_by) == ("classic-tee-red", "product id")


def test_an_item_group_id_is_an_exact_match(shop):
    first = run(shop, "mugs")[0]
    assert (first.product_id, first.exact_by) == ("a-mug", "item group")


def test_a_sku_two_products_share_puts_both_first_in_id_order_then_the_rest(shop):
    # CLIP's query is mug-rack's own vector, and mug-rack holds the words "shared" and "1": it comes third.
    results = run(shop, "shared-1")
    assert ids(results)[:3] == ["a-mug", "b-mug", "mug-rack"]
    assert [r.exact for r in results[:3]] == [True, True, False]
    assert [r.rank for r in results[:3]] == [1, 2, 3]


def test_the_lookup_keeps_the_filters(shop):
    blue = Filters.of({"colour": ["Blue"]})
    results = run(shop, "shared-1", filters=blue)
    assert ids(results)[:2] == ["b-mug", "mug-rack"] and "a-mug" not in ids(results)
    assert "classic-tee-red" not in ids(run(shop, "TS-0042-RED", filters=blue))


def test_a_draft_s_sku_finds_it_only_when_hidden_products_are_shown(shop):
    assert "draft-hat" not in ids(run(shop, "HAT-9-S"))
    shown = run(shop, "HAT-9-S", show_hidden=True)  # a variant's SKU
    assert (shown[0].product_id, shown[0].exact_by) == ("draft-hat", "SKU")


def test_words_only_keeps_the_lookup_first_and_meaning_only_has_none(shop):
    # tee-guide holds every word of the SKU; red-dress holds "red" alone.
    assert ids(run(shop, "TS-0042-RED", match="keywords")) == ["classic-tee-red", "tee-guide", "red-dress"]
    meaning = run(shop, "TS-0042-RED", match="meaning")
    assert ids(meaning)[0] == "tee-guide" and not any(r.exact for r in meaning)


def test_a_key_inside_a_longer_query_is_no_exact_match(shop):
    results = run(shop, "TS-0042-RED tee")
    assert not any(r.exact for r in results)


def test_the_cli_prints_the_product_a_sku_names_first(settings, tmp_path, capsys):
    from core.cli import main
    from tests.helpers.shop_catalogues import shopify_export

    # The Shopify export's tee has the variants TS-0042-SKY and TS-0042-RED; its wool coat is WC-100.
    export = shopify_export(tmp_path / "shop")
    assert main(["index", "--catalog", str(export), "--json"]) == 0
    capsys.readouterr()
    assert main(["search", "ts-0042-red", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"  1\. \[sky-red-tee\] Two-Tone Tee  20\.00  · SKU match · matched: ts, 0042, red · "
                        r"similarity -?\d\.\d\d", lines[0]), lines[0]
    assert main(["search", "--text", "WC-100", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)[0]
    assert (first["product_id"], first["exact_match"], first["matched_words"]) == ("wool-coat", True, ["wc", "100"])
    assert isinstance(first["similarity"], float)


def test_a_key_naming_more_than_the_cap_keeps_the_first_by_product_id(store, monkeypatch):
    from core.search import words
    from core.index.store import point_id

    # Eight products share the item group RANGE; the cap is 3 here (MAX_LOOKUP, 1,000 in use). The engine scrolls
    # them in its own order (point ids), not by product id: the three kept must be the first three by product id.
    names = ["m-7", "c-2", "h-4", "a-0", "f-3", "k-6", "b-1", "j-5"]
    store.ensure(TextEncoder.name, DIM)
    store.upsert([keyword_point(pid, (0, 1, 0, 0), "Range piece", item_group_id="RANGE") for pid in names])
    scroll_order = sorted(names, key=point_id)
    assert scroll_order[:3] != sorted(names)[:3]  # so keeping the first three scrolled would fail this test
    monkeypatch.setattr(words, "MAX_LOOKUP", 3)
    results = run(store, "range")
    assert [(r.product_id, r.exact_by) for r in results[:3]] == [
        ("a-0", "item group"), ("b-1", "item group"), ("c-2", "item group")]
    # the other five are still found, by their words ("range"), without the exact mark
    assert sorted(ids(results[3:])) == ["f-3", "h-4", "j-5", "k-6", "m-7"] and not any(r.exact for r in results[3:])


def test_a_search_sorted_by_price_sorts_the_exact_match_too(store):
    from core.common.fields import Schema, SortKey
    from core.index.store import point_id

    # A sorted search orders every result by the sort, lookup hits included: the SKU's product is still marked
    # exact, at its price's place.
    store.ensure(TextEncoder.name, DIM)
    store.add_fields(Schema(number=("price",)))
    store.upsert([keyword_point(pid, vector, title, **extra) for pid, vector, title, extra in CATALOGUE[:3]])
    store.set_payload({point_id(pid): {"price": price}
                       for pid, price in (("classic-tee-red", 30.0), ("tee-guide", 5.0), ("red-dress", 20.0))})
    unsorted = run(store, "TS-0042-RED")
    assert ids(unsorted) == ["classic-tee-red", "tee-guide", "red-dress"]
    cheapest = run(store, "TS-0042-RED", sort=SortKey.parse("price"))
    assert ids(cheapest) == ["tee-guide", "red-dress", "classic-tee-red"]
    assert [r.exact for r in cheapest] == [False, False, True] and cheapest[2].exact_by == "SKU"
    dearest = run(store, "TS-0042-RED", sort=SortKey.parse("-price"))
    assert ids(dearest) == ["classic-tee-red", "red-dress", "tee-guide"]
