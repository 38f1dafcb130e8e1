"""Business columns: keyword filters beyond the six, number ranges, sorting, browsing and number bounds, on both
backends, with hand-made vectors so every expected order is known."""

import numpy as np
import pytest

from core.common.errors import BadQuery, UnknownFilterField
from core.common.fields import Schema, SortKey
from core.common.filters import Filters, parse_range_args
from core.search.query import SearchRequest, browse, facets, number_ranges, search
from core.index.store import StoredPoint, point_id

# id, brand, price (None: no price), in_stock, angle of the image vector (the query sits at angle 0)
ROWS = [
    ("a", "Nike", 50.0, "yes", 0.05),
    ("b", "Puma", 20.0, "yes", 0.10),
    ("c", "Nike", 80.0, "no", 0.15),
    ("d", "Mango", None, "yes", 0.20),
    ("e", "Puma", 35.0, "no", 0.25),
    ("f", "Nike", 10.0, "yes", 0.30),
    ("g", "Mango", 65.0, "yes", 1.40),  # far from the query
]
SCHEMA = Schema(keyword=("gender", "category", "sub_category", "product_type", "colour", "usage", "brand",
                         "in_stock"), number=("price",), flags=("in_stock",))


def _vec(angle: float) -> list[float]:
    return [float(np.cos(angle)), float(np.sin(angle)), 0.0, 0.0]


@pytest.fixture
def shop(store):
    store.ensure("hand-made", 4)
    store.add_fields(SCHEMA)
    points = []
    for pid, brand, price, stock, angle in ROWS:
        payload = {"product_id": pid, "title": f"Product {pid}", "brand": brand, "in_stock": stock,
                   "gender": "Women", "tags": ["summer", pid]}
        if price is not None:
            payload["price"] = price
        points.append(StoredPoint(point_id(pid), {"image": _vec(angle), "text": _vec(angle)}, payload))
    store.upsert(points)
    return store


class VectorEmbedder:
    """A QueryEncoder that encodes every text and photo as the vector at angle 0, so similarity order is the angle
    order above."""

    name, dim, image_size = "hand-made", 4, None

    def encode_texts(self, texts, batch_size=32):
        return np.array([_vec(0.0) for _ in texts], dtype=np.float32)

    def encode_images(self, images, batch_size=32):
        return np.array([_vec(0.0) for _ in images], dtype=np.float32)


def _ids(results):
    return [r.product_id for r in results]


def test_keyword_filter_on_a_catalogue_column(shop):
    assert _ids(search(shop, SearchRequest(text="x", filters=Filters.of({"brand": ["Nike", "Mango"]})),
                       VectorEmbedder())) == ["a", "c", "d", "f", "g"]


def test_range_filter_with_either_bound(shop):
    emb = VectorEmbedder()
    assert _ids(search(shop, SearchRequest(text="x", filters=Filters.of(ranges={"price": (20, 50)})), emb)) \
        == ["a", "b", "e"]
    assert _ids(search(shop, SearchRequest(text="x", filters=Filters.of(ranges={"price": (None, 20)})), emb)) \
        == ["b", "f"]
    assert _ids(search(shop, SearchRequest(text="x", filters=Filters.of(ranges={"price": (60, None)})), emb)) \
        == ["c", "g"]


def test_in_stock_is_a_yes_no_keyword_filter(shop):
    assert _ids(search(shop, SearchRequest(text="x", filters=Filters.of({"in_stock": ["yes"]})), VectorEmbedder())) \
        == ["a", "b", "d", "f", "g"]


def test_semantic_sort_orders_only_what_passes_the_relevance_cut_off(shop):
    # Above similarity 0.9 (angle < 0.45): a-f; g (angle 1.4) is cheap enough to win a catalogue-wide sort but
    # is not relevant, so it stays out. d has no price: it comes last.
    request = SearchRequest(text="x", threshold=0.9, sort=SortKey.parse("price"))
    assert _ids(search(shop, request, VectorEmbedder())) == ["f", "b", "e", "a", "c", "d"]
    request = SearchRequest(text="x", threshold=0.9, sort=SortKey.parse("-price"), limit=2, offset=1)
    assert _ids(search(shop, request, VectorEmbedder())) == ["a", "e"]


def test_browse_sorts_the_whole_catalogue_and_pages_without_gaps(shop):
    page = browse(shop, Filters(), SortKey.parse("price"), limit=3)
    assert page.total == 7 and _ids(page.results) == ["f", "b", "e"]
    pages = [_ids(browse(shop, Filters(), SortKey.parse("-price"), limit=3, offset=o).results) for o in (0, 3, 6)]
    assert pages == [["c", "g", "a"], ["e", "b", "f"], ["d"]]  # the product without a price comes last
    filtered = browse(shop, Filters.of({"brand": ["Nike"]}, ranges={"price": (None, 60)}), SortKey.parse("-price"))
    assert filtered.total == 2 and _ids(filtered.results) == ["a", "f"]
    assert [r.rank for r in filtered.results] == [1, 2] and all(r.score is None for r in filtered.results)


def test_browse_without_sort_lists_every_match_once(shop):
    seen = [pid for o in range(0, 7, 2) for pid in _ids(browse(shop, Filters(), limit=2, offset=o).results)]
    assert sorted(seen) == list("abcdefg")


def test_facets_cover_catalogue_keyword_fields_and_numbers_give_their_bounds(shop):
    counts = facets(shop, Filters.of({"brand": ["Nike"]}))
    assert counts["brand"] == [("Nike", 3), ("Mango", 2), ("Puma", 2)]  # its own filter left out
    assert counts["in_stock"] == [("yes", 2), ("no", 1)]
    assert number_ranges(shop, Filters.of({"brand": ["Puma"]})) == {"price": (20.0, 35.0)}
    # a field's own range is left out of its bounds, so a slider can widen again
    assert number_ranges(shop, Filters.of(ranges={"price": (30, 40)})) == {"price": (10.0, 80.0)}
    assert number_ranges(shop, Filters.of({"brand": ["Mango"]}, ranges={"price": (0, 1)})) == {"price": (65.0, 65.0)}


def test_fields_the_index_does_not_have_are_clear_errors(shop):
    with pytest.raises(UnknownFilterField, match="'size'.*brand, in_stock"):
        browse(shop, Filters.of({"size": ["M"]}))
    with pytest.raises(UnknownFilterField, match="'brand' is not a number field.*number fields: price"):
        browse(shop, Filters.of(ranges={"brand": (1, 2)}))
    with pytest.raises(BadQuery, match="cannot sort by 'brand'.*price"):
        browse(shop, sort=SortKey.parse("brand"))
    with pytest.raises(BadQuery, match="cannot sort by 'rating'"):
        search(shop, SearchRequest(text="x", sort=SortKey.parse("-rating")), VectorEmbedder())


@pytest.mark.parametrize("arg, message", [
    ("price=abc:5", "bounds must be numbers"), ("price=50:10", "empty: 50 is above 10"),
    ("price=:", "has no bound"), ("price", "must look like"), ("price=nan:1", "finite"),
])
def test_bad_range_arguments(arg, message):
    with pytest.raises(BadQuery, match=message):
        parse_range_args([arg])


def test_range_arguments_parse_either_bound():
    assert parse_range_args(["price=10:50", "rating=4:", "inventory=:0"]) == {
        "price": (10.0, 50.0), "rating": (4.0, None), "inventory": (None, 0.0)}


def test_result_reads_business_fields_safely(shop):
    from core.search.query import get_products

    [a] = get_products(shop, ["a"])
    assert a.price == "50.00" and a.text("tags") == "summer, a" and a.number("brand") is None
    assert ("brand", "Nike") in a.attributes() and all(k not in ("fingerprint", "title") for k, _ in a.attributes())
    for link, shown in [("https://shop.example/p/1", "https://shop.example/p/1"), ("javascript:alert(1)", ""),
                        ("data:text/html,x", ""), ("/etc/passwd", ""), ("HTTP://EXAMPLE.COM/x", "HTTP://EXAMPLE.COM/x")]:
        a.payload["link"] = link
        assert a.link == shown


def test_sorted_pages_never_repeat_or_skip_products_that_share_a_price(store):
    """The engine orders equal prices arbitrarily from call to call; pages must still cover each product once."""
    store.ensure("hand-made", 4)
    store.add_fields(SCHEMA)
    points = [StoredPoint(point_id(f"p{i}"), {"image": _vec(i / 1000), "text": _vec(0)},
                          {"product_id": f"p{i}", "brand": "A" if i % 3 else "B", "price": float(10 * (i % 3))})
              for i in range(900)]
    store.upsert(points)
    for sort in ("price", "-price"):
        pages = [browse(store, Filters.of({"brand": ["A"]}), SortKey.parse(sort), limit=50, offset=o).results
                 for o in range(0, 600, 50)]
        seen = [r.product_id for page in pages for r in page]
        assert len(seen) == len(set(seen)) == 600
        prices = [r.number("price") for page in pages for r in page]
        assert prices == sorted(prices, reverse=sort.startswith("-"))


def test_a_column_that_changes_kind_between_runs_is_filtered_as_its_new_kind(store, embedder, tmp_path):
    from core.index.indexer import index_catalog

    csv_path = tmp_path / "items.csv"
    csv_path.write_text("sku,title,weight\na,Dress A,2\nb,Dress B,3\nc,Dress C,4\n")
    index_catalog(csv_path, None, embedder, store)
    assert store.schema().number == ("weight",)
    assert [r.product_id for r in browse(store, sort=SortKey.parse("-weight")).results] == ["c", "b", "a"]
    csv_path.write_text("sku,title,weight\na,Dress A,2\nb,Dress B,n/a\nc,Dress C,4\n")
    report = index_catalog(csv_path, None, embedder, store)
    assert (report.updated, report.indexed) == (3, 0)  # attributes rewritten, nothing embedded again
    schema = store.schema()
    assert "weight" in schema.keyword and "weight" not in schema.number
    assert facets(store)["weight"] == [("2", 1), ("4", 1), ("n/a", 1)]
    assert [r.product_id for r in browse(store, Filters.of({"weight": ["n/a", "4"]}), limit=5).results] in (
        ["b", "c"], ["c", "b"])
    with pytest.raises(BadQuery, match="cannot sort by 'weight'"):
        browse(store, sort=SortKey.parse("weight"))
