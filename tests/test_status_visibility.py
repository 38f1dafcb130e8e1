"""Drafts and archived products stay out of every default view (search, browse, facets, ranges, near-duplicates, gaps,
eval) and come back with a status filter or show_hidden; the sku filter, the discount sort and the on-sale flag.
Hand-made vectors, both backends; the CLI on the embedded one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.common.fields import Schema, SortKey
from core.common.filters import Filters
from core.index.store import StoredPoint, point_id
from core.insights.eval_runner import sample_products
from core.insights.gaps import find_gaps, our_unique
from core.search.duplicates import near_duplicates
from core.search.query import SearchRequest, browse, facets, number_ranges, search

DIM = 4
SCHEMA = Schema(keyword=("colour", "status", "sku", "on_sale"), number=("price", "compare_at_price", "discount"),
                flags=("on_sale",))


def unit(*v) -> list[float]:
    v = np.asarray(v, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


# id, status (None: an index from before statuses), colour, price, compare-at, on sale, discount, skus, photo vector
PRODUCTS = [
    ("a1", "active", "Red", 20.0, 25.0, "yes", 20.0, ["TS-1-S", "TS-1-M"], unit(1, 0, 0, 0)),
    ("d1", "draft", "Red", 30.0, None, "no", None, ["DR-1"], unit(1, 0, 0.01, 0)),        # a copy of a1
    ("r1", "archived", "Blue", 15.0, 50.0, "yes", 70.0, ["AR-1"], unit(1, 0.1, 0, 0)),
    ("a2", "active", "Blue", 50.0, 60.0, "yes", 16.7, ["BL-2"], unit(1, 0.3, 0, 0)),
    ("n1", None, "Red", 10.0, None, None, None, [], unit(1, 0.6, 0, 0)),
    ("a3", "active", "Green", 40.0, 30.0, "no", None, ["GR-3"], unit(0, 0, 1, 0)),     # compare-at below: no sale
]
VISIBLE = {"a1", "a2", "n1", "a3"}


def shop_points() -> list[StoredPoint]:
    out = []
    for pid, status, colour, price, was, sale, discount, skus, vector in PRODUCTS:
        payload = {"product_id": pid, "title": pid, "colour": colour, "price": price, "image_path": f"/img/{pid}.jpg"}
        for key, value in (("status", status), ("compare_at_price", was), ("on_sale", sale), ("discount", discount)):
            if value is not None:
                payload[key] = value
        if skus:
            payload["sku"] = skus
        out.append(StoredPoint(point_id(pid), {"image": vector, "text": vector, "photos": [vector]}, payload))
    return out


def fill(store) -> None:
    store.ensure("hand-made", DIM)
    store.add_fields(SCHEMA)
    store.upsert(shop_points())


@pytest.fixture
def shop(store):
    fill(store)
    return store


def ids(results) -> list[str]:
    return [r.product_id for r in results]


# ---- search, browse, facets, ranges ---------------------------------------------------------------------

def test_search_leaves_drafts_and_archived_out_by_default(shop):
    assert ids(search(shop, SearchRequest(like="n1"))) == ["a2", "a1", "a3"]


def test_a_status_filter_brings_drafts_back_whatever_its_case(shop):
    assert ids(search(shop, SearchRequest(like="n1", filters=Filters.of({"status": ["draft"]})))) == ["d1"]
    assert ids(search(shop, SearchRequest(like="n1", filters=Filters.of({"status": ["Archived"]})))) == ["r1"]
    assert ids(browse(shop, Filters.of({"status": ["DRAFT", "archived"]}), SortKey.parse("price")).results) == [
        "r1", "d1"]


def test_excluding_a_status_decides_instead_of_the_default(shop):
    # -status=archived names status: the draft comes back, the archived product stays out
    assert sorted(ids(browse(shop, Filters.of(exclude={"status": ["archived"]})).results)) == [
        "a1", "a2", "a3", "d1", "n1"]


def test_show_hidden_brings_every_product_back(shop):
    assert ids(search(shop, SearchRequest(like="n1", show_hidden=True))) == ["a2", "r1", "a1", "d1", "a3"]
    page = browse(shop, sort=SortKey.parse("price"), show_hidden=True)
    assert (ids(page.results), page.total) == (["n1", "r1", "a1", "d1", "a3", "a2"], 6)


def test_browse_counts_and_lists_only_visible_products(shop):
    page = browse(shop, sort=SortKey.parse("price"))
    assert (ids(page.results), page.total) == (["n1", "a1", "a3", "a2"], 4)


def test_facet_counts_leave_drafts_out_but_status_offers_them(shop):
    counts = facets(shop)
    assert counts["colour"] == [("Red", 2), ("Blue", 1), ("Green", 1)]
    assert counts["status"] == [("active", 3), ("archived", 1), ("draft", 1)]  # to be chosen
    assert facets(shop, show_hidden=True)["colour"] == [("Red", 3), ("Blue", 2), ("Green", 1)]
    assert facets(shop, Filters.of({"status": ["draft"]}))["colour"] == [("Red", 1)]


def test_number_ranges_span_visible_products_only(shop):
    assert number_ranges(shop)["price"] == (10.0, 50.0)
    assert number_ranges(shop, show_hidden=True)["price"] == (10.0, 50.0)
    assert number_ranges(shop)["discount"] == (16.7, 20.0)
    assert number_ranges(shop, show_hidden=True)["discount"] == (16.7, 70.0)


# ---- sku, discount, on sale -----------------------------------------------------------------------------

def test_sku_filter_finds_the_product_by_any_variant_sku(shop):
    assert ids(browse(shop, Filters.of({"sku": ["TS-1-M"]})).results) == ["a1"]
    assert ids(browse(shop, Filters.of({"sku": ["TS-1-S", "BL-2"]}), SortKey.parse("price")).results) == ["a1", "a2"]
    assert ids(browse(shop, Filters.of({"sku": ["DR-1"]})).results) == []  # a draft's sku: still left out
    assert ids(browse(shop, Filters.of({"sku": ["DR-1"]}), show_hidden=True).results) == ["d1"]


def test_sort_by_discount_highest_first_then_products_without_one(shop):
    page = browse(shop, sort=SortKey.parse("-discount"))
    assert ids(page.results)[:2] == ["a1", "a2"]
    assert sorted(ids(page.results)[2:]) == ["a3", "n1"]  # no discount: after, in the engine's order
    assert ids(browse(shop, sort=SortKey.parse("-discount"), show_hidden=True).results)[:3] == ["r1", "a1", "a2"]
    results = search(shop, SearchRequest(like="a3", sort=SortKey.parse("-discount"), show_hidden=True))
    assert ids(results)[:3] == ["r1", "a1", "a2"]


def test_on_sale_filter_keeps_only_products_on_sale(shop):
    assert ids(browse(shop, Filters.of({"on_sale": ["yes"]}), SortKey.parse("price")).results) == ["a1", "a2"]
    assert ids(browse(shop, Filters.of({"on_sale": ["yes"]}), SortKey.parse("price"),
                      show_hidden=True).results) == ["r1", "a1", "a2"]


# ---- near-duplicates, gaps, eval ------------------------------------------------------------------------

@pytest.mark.parametrize("exact_up_to", [None, 0], ids=["exact", "engine"])
def test_a_draft_copy_is_no_near_duplicate_unless_asked_for(shop, exact_up_to):
    assert [g.product_ids for g in near_duplicates(shop, 0.999, exact_up_to=exact_up_to)] == []
    shown = near_duplicates(shop, 0.999, exact_up_to=exact_up_to, show_hidden=True)
    assert [(g.product_ids, [(a, b, round(s, 4)) for a, b, s in g.pairs]) for g in shown] == [
        (["a1", "d1"], [("a1", "d1", 1.0)])]
    drafts = near_duplicates(shop, 0.999, Filters.of({"status": ["active", "draft"]}), exact_up_to=exact_up_to)
    assert [g.product_ids for g in drafts] == [["a1", "d1"]]


@pytest.fixture
def pair(store, tmp_path):
    """(ours, theirs): ours is the shop; theirs has a draft and products matched only by our hidden ones."""
    from qdrant_client import QdrantClient

    from core.index.store import EdgeStore, ServerStore

    fill(store)
    if isinstance(store, EdgeStore):
        theirs = EdgeStore(tmp_path / "store", "products--ref--x")
    else:
        theirs = ServerStore(QdrantClient(location=":memory:"), "products--ref--x", in_flight=0)
    theirs.ensure("hand-made", DIM)
    theirs.add_fields(Schema(keyword=("status",)))
    rows = [("t-red", "active", unit(1, 0, 0, 0)),      # a1 (and the draft d1) at 1.0
            ("t-blue", "active", unit(1, 0.1, 0, 0)),   # the archived r1 at 1.0; a1 at 0.995
            ("t-draft", "draft", unit(0, 0, 1, 0)),     # theirs, not for sale: not listed
            ("t-odd", "active", unit(0, 0, 0.2, 1))]    # nothing of ours: a3 at 0.196
    theirs.upsert([StoredPoint(point_id(pid), {"image": v, "text": v, "photos": [v]},
                               {"product_id": pid, "title": pid, "status": status}) for pid, status, v in rows])
    yield store, theirs
    theirs.close()


def test_gaps_leave_out_their_drafts_and_never_match_our_hidden_products(pair):
    ours, theirs = pair
    rows = find_gaps(ours, theirs, 0.999)
    assert [(r.their_id, r.our_id, r.verdict) for r in rows] == [
        ("t-odd", "a3", "gap"), ("t-blue", "a1", "gap"), ("t-red", "a1", "match")]
    shown = find_gaps(ours, theirs, 0.999, show_hidden=True)
    # matches at 1.0 each, in an order the last float bit decides: compared as a table
    assert {r.their_id: (r.our_id, r.verdict) for r in shown} == {
        "t-odd": ("a3", "gap"), "t-blue": ("r1", "match"), "t-red": ("a1", "match"), "t-draft": ("a3", "match")}
    # least similar first; a3's closest of theirs would be the draft t-draft, left out
    assert [(r.our_id, r.their_id) for r in our_unique(ours, theirs, 0.999)] == [
        ("a3", "t-odd"), ("n1", "t-blue"), ("a2", "t-blue")]


def test_eval_samples_only_visible_products(shop):
    assert [p.product_id for p in sample_products(shop)] == ["a1", "a2", "a3", "n1"]
    assert [p.product_id for p in sample_products(shop, show_hidden=True)] == ["a1", "a2", "a3", "d1", "n1", "r1"]


# ---- the CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def cli_index(settings):
    from core.index.store import EdgeStore

    store = EdgeStore(settings.data_dir, settings.collection)
    fill(store)
    store.publish()
    store.close()
    return settings


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def listed(answer) -> list[str]:
    return [p["product_id"] for p in answer["products"]]


def test_cli_browse_sku_status_discount_and_show_hidden(cli_index, capsys):
    assert listed(run_json(capsys, "browse", "--filter", "sku=TS-1-M", "--json")) == ["a1"]
    assert listed(run_json(capsys, "browse", "--filter", "status=Archived", "--json")) == ["r1"]
    assert listed(run_json(capsys, "browse", "--sort", "-discount", "--json"))[:2] == ["a1", "a2"]
    answer = run_json(capsys, "browse", "--sort", "-discount", "--show-hidden", "--json")
    assert (answer["total"], listed(answer)[:3]) == (6, ["r1", "a1", "a2"])
    assert listed(run_json(capsys, "browse", "--filter", "on_sale=yes", "--sort", "price", "--json")) == ["a1", "a2"]


def test_cli_search_facets_and_duplicates_leave_drafts_out(cli_index, capsys):
    assert [r["product_id"] for r in run_json(capsys, "search", "--like", "n1", "--json")] == ["a2", "a1", "a3"]
    assert [r["product_id"] for r in run_json(capsys, "search", "--like", "n1", "--filter", "status=draft",
                                              "--json")] == ["d1"]
    assert run_json(capsys, "facets", "--json")["colour"] == [{"value": "Red", "count": 2},
                                                              {"value": "Blue", "count": 1},
                                                              {"value": "Green", "count": 1}]
    assert run_json(capsys, "duplicates", "--threshold", "0.999", "--json") == []
    groups = run_json(capsys, "duplicates", "--threshold", "0.999", "--show-hidden", "--json")
    assert [g["product_ids"] for g in groups] == [["a1", "d1"]]
    groups = run_json(capsys, "duplicates", "--threshold", "0.999", "--filter", "status=draft,active", "--json")
    assert [g["product_ids"] for g in groups] == [["a1", "d1"]]


# ---- "Show drafts and archived" reaches near-duplicates, gaps and eval everywhere (review of issue 21) ----------

def test_the_apps_duplicate_search_follows_show_hidden(shop):
    from core.search.duplicates import DuplicateSearch

    hidden = DuplicateSearch(shop, 0.999, index_version=None)
    assert hidden.wait(30) and hidden.error is None and hidden.groups == []
    shown = DuplicateSearch(shop, 0.999, index_version=None, show_hidden=True)
    assert shown.wait(30) and shown.error is None
    assert [(g.product_ids, [(a, b, round(s, 4)) for a, b, s in g.pairs]) for g in shown.groups] == [
        (["a1", "d1"], [("a1", "d1", 1.0)])]


def test_the_gaps_page_matching_follows_show_hidden(pair, monkeypatch):
    import contextlib

    from app import gaps_panel, references
    from app.gaps_panel import GapRequest

    ours, theirs = pair
    monkeypatch.setattr(references, "opened", lambda config, name: contextlib.nullcontext(theirs))
    monkeypatch.setattr(gaps_panel.resources, "store_key", lambda config: f"test-{id(ours)}")
    request = GapRequest("x", 0.999, None, gaps_panel.THEIRS, True)
    gaps_panel._match.clear()
    rows = gaps_panel.match(None, ours, {"last_indexed": 1.0}, None, request, None)
    assert [(r.their_id, r.our_id, r.verdict) for r in rows] == [
        ("t-odd", "a3", "gap"), ("t-blue", "a1", "gap"), ("t-red", "a1", "match")]
    shown = gaps_panel.match(None, ours, {"last_indexed": 1.0}, None, request, None, show_hidden=True)
    assert {r.their_id: (r.our_id, r.verdict) for r in shown} == {
        "t-odd": ("a3", "gap"), "t-blue": ("r1", "match"), "t-red": ("a1", "match"), "t-draft": ("a3", "match")}


def test_the_gaps_page_passes_the_sidebar_toggle():
    import ast
    from pathlib import Path

    calls = [n for n in ast.walk(ast.parse(Path("pages/gaps.py").read_text()))
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "gaps_panel.match"]
    assert [ast.unparse(c.args[-1]) for c in calls] == ["narrowing.show_hidden"]


@pytest.fixture
def cli_pair(cli_index):
    """cli_index with a reference catalogue "x" (the `pair` fixture's rows) beside it."""
    from core.index.store import EdgeStore
    from core.insights.reference import REFERENCE, REFERENCE_OF, reference_collection

    theirs = EdgeStore(cli_index.data_dir, reference_collection(cli_index, "x"))
    theirs.ensure("hand-made", DIM, marks={REFERENCE_OF: cli_index.collection, REFERENCE: "x"})
    theirs.add_fields(Schema(keyword=("status",)))
    rows = [("t-red", "active", unit(1, 0, 0, 0)), ("t-blue", "active", unit(1, 0.1, 0, 0)),
            ("t-draft", "draft", unit(0, 0, 1, 0)), ("t-odd", "active", unit(0, 0, 0.2, 1))]
    theirs.upsert([StoredPoint(point_id(pid), {"image": v, "text": v, "photos": [v]},
                               {"product_id": pid, "title": pid, "status": status}) for pid, status, v in rows])
    theirs.publish()
    theirs.close()
    return cli_index


def test_cli_gaps_show_hidden(cli_pair, capsys):
    rows = run_json(capsys, "gaps", "x", "--threshold", "0.999", "--json")
    assert sorted((r["their_id"], r["our_id"], r["verdict"]) for r in rows) == [
        ("t-blue", "a1", "gap"), ("t-odd", "a3", "gap"), ("t-red", "a1", "match")]
    rows = run_json(capsys, "gaps", "x", "--threshold", "0.999", "--show-hidden", "--json")
    assert sorted((r["their_id"], r["our_id"], r["verdict"]) for r in rows) == [
        ("t-blue", "r1", "match"), ("t-draft", "a3", "match"), ("t-odd", "a3", "gap"), ("t-red", "a1", "match")]


@pytest.mark.parametrize("argv, expected", [((), ["a1", "a2", "a3", "n1"]),
                                            (("--show-hidden",), ["a1", "a2", "a3", "d1", "n1", "r1"])])
def test_cli_eval_samples_with_show_hidden(cli_index, capsys, monkeypatch, argv, expected):
    from core.common.errors import LensError
    from core.insights import eval_runner

    real, sampled = eval_runner.sample_products, []

    def spy(*args, **kwargs):
        sampled.append([p.product_id for p in real(*args, **kwargs)])
        raise LensError("stop here: the sample is what this test checks, not the models")

    monkeypatch.setattr(eval_runner, "sample_products", spy)
    assert main(["eval", *argv]) != 0
    assert sampled == [expected]
