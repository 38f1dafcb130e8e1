"""The store's batched query: each answer is exactly what one `query` returns (both backends), and on a server
it is one request carrying the store's search parameters and read consistency."""

from __future__ import annotations

import numpy as np
import pytest

from core.common.config import Settings
from core.common.fields import Schema
from core.common.filters import Filters
from core.index.store import Diverse, Fused, Nearest, Ordered, Recommend, StoredPoint, open_store, point_id
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, FakeQdrant

DIM = 8
COLOURS = ("Red", "Blue", "Green")


@pytest.fixture
def filled(store):
    """60 products with random unit vectors, a colour and a price (product 7 has none)."""
    rng = np.random.default_rng(3)
    store.ensure("random", DIM)
    store.add_fields(Schema(number=("price",)))  # a range index: ordering by price needs one
    points = []
    for i in range(60):
        image, text = (v / np.linalg.norm(v) for v in rng.standard_normal((2, DIM)))
        payload = {"product_id": f"p{i:02d}", "base_colour": COLOURS[i % 3], "title": f"product {i}"}
        if i != 7:
            payload["price"] = float(i * 3 % 50)
        points.append(StoredPoint(point_id(f"p{i:02d}"), {"image": image.tolist(), "text": text.tolist()}, payload))
    store.upsert(points)
    return store, rng


def assert_same(store, queries, batched, one_by_one) -> None:
    """Identical Hits: ids, order and payloads always; scores to the last bit on the embedded engine, and to
    1e-6 on qdrant-client's ":memory:" stand-in, whose numpy scoring of a batch differs from a single query's
    in the seventh decimal (a server scores each query of a batch on its own)."""
    batched = [_settled(q, hits) for q, hits in zip(queries, batched)]
    one_by_one = [_settled(q, hits) for q, hits in zip(queries, one_by_one)]
    if store.backend == "embedded":
        assert batched == one_by_one
        return
    assert [[(h.id, h.payload) for h in hits] for hits in batched] == [[(h.id, h.payload) for h in hits]
                                                                       for hits in one_by_one]
    assert [[h.score for h in hits] for hits in batched] == \
        [pytest.approx([h.score for h in hits], abs=1e-6) for hits in one_by_one]


def _settled(query, hits: list) -> list:
    """A fused answer without the engine's free choices: RRF gives equal scores to products at the same rank of
    different branches, and the engine orders such ties (and picks which of them make the cut) differently from
    one call to the next, batched or not. So ties are sorted by id and the tied group at the cut is left out."""
    if not isinstance(query, Fused) or not hits:
        return hits
    last = hits[-1].score
    kept = [h for h in hits if abs(h.score - last) > 1e-9]
    assert len(kept) >= len(hits) // 2  # most of the answer is still compared
    return sorted(kept, key=lambda h: (-round(h.score, 9), h.id))


def _queries(rng) -> list:
    v = [(x / np.linalg.norm(x)).tolist() for x in rng.standard_normal((6, DIM))]
    return [Nearest(v[0]), Nearest(v[1], using="text"), Recommend((v[2],), (v[3],)),
            Diverse(v[4], diversity=0.7, candidates=30), Fused(((Nearest(v[5]), 20), (Nearest(v[0], using="text"), 20))),
            Ordered("price", descending=True)]


@pytest.mark.parametrize("filters, limit, threshold", [
    (None, 10, None),
    (Filters.of(include={"base_colour": ["Red", "Green"]}), 5, None),
    (Filters.of(exclude={"base_colour": ["Blue"]}, exclude_ids=[point_id("p00"), point_id("p03")]), 7, None),
    (Filters.of(ranges={"price": (10, 40)}), 8, None),
    (None, 60, 0.2),
])
def test_each_batched_answer_is_exactly_what_one_query_returns(filled, filters, limit, threshold):
    store, rng = filled
    queries = _queries(rng)
    if threshold is not None:  # a score threshold means nothing to an ordered browse
        queries = [q for q in queries if not isinstance(q, (Ordered, Fused))]
    one_by_one = [store.query(q, filters, limit, threshold=threshold) for q in queries]
    assert_same(store, queries, store.query_batch(queries, filters, limit, threshold=threshold), one_by_one)
    assert all(len(hits) > 0 for hits in one_by_one)  # not a comparison of empty answers
    if threshold is not None:
        assert all(h.score >= threshold for hits in one_by_one for h in hits)
        assert any(len(hits) < limit for hits in one_by_one)  # the threshold did cut some answers short


def test_payload_keys_keep_only_those_keys_and_change_nothing_else(filled):
    store, rng = filled
    queries = _queries(rng)[:3]
    full = store.query_batch(queries, limit=4)
    slim = store.query_batch(queries, limit=4, payload_keys=["product_id"])
    assert [[h.id for h in hits] for hits in slim] == [[h.id for h in hits] for hits in full]
    assert [[h.score for h in hits] for hits in slim] == [pytest.approx([h.score for h in hits], abs=1e-6)
                                                          for hits in full]
    assert {tuple(h.payload) for hits in slim for h in hits} == {("product_id",)}
    assert [[h.payload["product_id"] for h in hits] for hits in slim] == \
        [[h.payload["product_id"] for h in hits] for hits in full]


def test_an_empty_batch_is_an_empty_answer(filled):
    store, _ = filled
    assert store.query_batch([]) == []


def test_a_server_batch_is_one_request_with_the_stores_search_params_and_consistency():
    with FakeQdrant() as fake:
        store = open_store(Settings.from_env({"QDRANT_URL": f"http://127.0.0.1:{fake.port}", "QDRANT_API_KEY": API_KEY,
                                              "LENS_HNSW_EF": "200", "LENS_READ_CONSISTENCY": "majority"}))
        store.ensure("m", 4)
        fake.requests.clear()
        with pytest.raises(Exception):  # the stand-in has no query endpoint; the request is what is checked
            store.query_batch([Nearest([1.0, 0, 0, 0]), Nearest([0, 1.0, 0, 0], using="text")],
                              Filters.of(include={"base_colour": ["Red"]}), 5, threshold=0.5,
                              payload_keys=["product_id"], hnsw_ef=64)
        store.close()
    assert fake.calls() == [("POST", f"{COLLECTION}/points/query/batch")]
    request = fake.requests[0]
    assert request.query.get("consistency") == ["majority"]
    assert [(s["query"], s["using"], s["limit"], s["score_threshold"], s["with_payload"]) for s in request.body["searches"]] \
        == [({"nearest": [1.0, 0, 0, 0]}, "image", 5, 0.5, ["product_id"]),
           ({"nearest": [0, 1.0, 0, 0]}, "text", 5, 0.5, ["product_id"])]
    assert {str(s["filter"]) for s in request.body["searches"]} == {
        str({"must": [{"key": "base_colour", "match": {"any": ["Red"]}}]})}
    # the batch's own HNSW beam; rescoring with oversampling stays the store's
    assert [s["params"] for s in request.body["searches"]] == \
        [{"hnsw_ef": 64, "quantization": {"rescore": True, "oversampling": 2.0}}] * 2
