"""The keyword index in the store (issue 22), on both backends: BM25 scores with the engine's IDF modifier, exactly as
Qdrant documents them and following the corpus; RRF of a keyword list and a CLIP list; filters inside every
prefetch; Filters.every; the dense-only threshold; MMR over a fused list; and an older index given the sparse vector
in place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.common.errors import StoreError
from core.common.fields import COLOUR, LOOKUP_KEYS, TERMS
from core.common.filters import Filters
from core.index.keywords import keyword_document, lookup_keys, query_terms, query_weights
from core.index.store import RRF_K, Diverse, Fused, Nearest, Sparse, StoredPoint, point_id
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, OUR_META, FakeQdrant

DIM = 4


def _unit(*values) -> list[float]:
    v = np.array(values, dtype=float)
    return (v / np.linalg.norm(v)).tolist()


# id: (title, colour, image vector). Query "linen shirts": "linen" is rare (one product, once), "shirt" is common
# (three products; "twice" has it twice). The image vectors' cosines with e0 order the CLIP list differently.
PRODUCTS = {
    "rare": ("Linen dress", "Blue", _unit(0.5, math.sqrt(0.75), 0, 0)),
    "twice": ("Shirt, the shirt for summer", "Blue", _unit(0.3, 0, math.sqrt(0.91), 0)),
    "short": ("Shirt", "Blue", _unit(0.7, 0, 0, math.sqrt(0.51))),
    "long": ("Cotton shirt with pockets", "Blue", _unit(0.9, -math.sqrt(0.19), 0, 0)),
    "none": ("Wool hat", "Blue", _unit(1, 0, 0, 0)),
}
E0 = _unit(1, 0, 0, 0)
QUERY = "linen shirts"


def _payload(pid: str, title: str, colour: str) -> dict:
    payload = {"product_id": pid, "title": title, COLOUR: colour}
    return {**payload, TERMS: list(keyword_document(payload).terms), LOOKUP_KEYS: lookup_keys(payload)}


def _point(pid: str, title: str, colour: str, image) -> StoredPoint:
    payload = _payload(pid, title, colour)
    return StoredPoint(point_id(pid), {"image": image, "keywords": keyword_document(payload)}, payload)


def _fill(store, products: dict = PRODUCTS) -> dict:
    """The products written with their keyword vectors; their documents by id."""
    store.ensure("hand-made", DIM)
    store.upsert([_point(pid, *spec) for pid, spec in products.items()])
    return {pid: keyword_document(_payload(pid, title, colour)) for pid, (title, colour, _) in products.items()}


def _sparse(text: str) -> Sparse:
    return Sparse(*query_weights(query_terms(text)))


def bm25(documents: dict, text: str) -> dict[str, float]:
    """Qdrant's score for a sparse query with the IDF modifier, by hand: the sum over the query's terms of query
    weight x document weight x idf, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), N the products with a keyword vector,
    n those holding the term. Only products sharing a term are found."""
    indices, values = query_weights(query_terms(text))
    docs = {pid: dict(zip(d.indices, d.values)) for pid, d in documents.items() if d.indices}
    n_all = len(docs)
    scores = {}
    for pid, doc in docs.items():
        shared = [(i, w) for i, w in zip(indices, values) if i in doc]
        if shared:
            scores[pid] = 0.0
            for i, w in shared:
                n = sum(i in other for other in docs.values())
                scores[pid] += w * doc[i] * math.log(1 + (n_all - n + 0.5) / (n + 0.5))
    return scores


def rrf(*ranked: list[str]) -> dict[str, float]:
    """Qdrant's RRF: each list adds 1 / (k + rank) for a product at 0-based `rank` in it."""
    scores: dict[str, float] = {}
    for ids in ranked:
        for rank, pid in enumerate(ids):
            scores[pid] = scores.get(pid, 0.0) + 1 / (RRF_K + rank)
    return scores


def _scores(hits) -> dict[str, float]:
    return {h.payload["product_id"]: h.score for h in hits}


def _ids(hits) -> list[str]:
    return [h.payload["product_id"] for h in hits]


def _by_score(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda pid: -scores[pid])


# ---- BM25 with the engine's IDF -----------------------------------------------------------------------------

def test_the_rare_word_outranks_the_common_word_twice_with_the_documented_idf(store):
    documents = _fill(store)
    hits = store.query(_sparse(QUERY), limit=10)
    expected = bm25(documents, QUERY)
    # "none" shares no word with the query: a keyword list holds only products with one of its words
    assert _ids(hits) == ["rare", "twice", "short", "long"] == _by_score(expected)
    assert _scores(hits) == pytest.approx(expected, rel=1e-5)
    # by hand for the rare word: N = 5 products with words, n = 1, so idf = ln(1 + 4.5 / 1.5) = ln 4
    rare = dict(zip(documents["rare"].indices, documents["rare"].values))
    linen = query_weights(["linen"])[0][0]
    assert hits[0].score == pytest.approx(rare[linen] * math.log(4), rel=1e-5)


def test_idf_follows_the_corpus_as_products_are_added_and_deleted(store):
    documents = _fill(store)
    before = _scores(store.query(_sparse(QUERY), limit=10))
    store.delete([point_id("short"), point_id("long")])  # "shirt" becomes rarer: N 5 -> 3, n 3 -> 1
    live = {pid: d for pid, d in documents.items() if pid not in ("short", "long")}
    after_delete = _scores(store.query(_sparse(QUERY), limit=10))
    if store.backend == "embedded":
        # qdrant-edge counts a deleted product in N and in each n until its segment is vacuumed (the optimizer's
        # deleted_threshold), as a Qdrant server does since qdrant/qdrant#6739: both counts stay consistent
        counted = dict(documents)
        assert after_delete == pytest.approx(_only(before, live), rel=1e-6)  # unchanged for the products left
    else:  # qdrant-client's local mode counts the live products at once
        counted = dict(live)
        assert after_delete["twice"] > before["twice"] and after_delete["rare"] < before["rare"]
    assert after_delete == pytest.approx(_only(bm25(counted, QUERY), live), rel=1e-5)

    added = {"linen-shirt": ("Linen shirt", "Red", E0), "linen-trousers": ("Linen trousers", "Blue", E0)}
    new = _fill(store, added)  # "linen" is no longer rare: n 1 -> 3
    live.update(new)
    counted.update(new)
    after_add = _scores(store.query(_sparse(QUERY), limit=10))
    assert after_add == pytest.approx(_only(bm25(counted, QUERY), live), rel=1e-5)
    assert after_add["rare"] < after_delete["rare"]
    assert _by_score(after_add)[0] == "linen-shirt"  # holds both words


def _only(scores: dict, products: dict) -> dict:
    return {pid: s for pid, s in scores.items() if pid in products}


def test_a_product_without_a_word_has_no_keyword_vector_and_counts_in_no_idf(store):
    documents = _fill(store)
    # "the" and "-": a stop word and punctuation. Left out, as the engines count an empty sparse vector differently
    store.upsert([StoredPoint(point_id("the"), {"image": E0, "keywords": keyword_document({"product_id": "the"})},
                              {"product_id": "the", TERMS: [], LOOKUP_KEYS: ["the"]})])
    assert store.retrieve([point_id("the")], with_vectors=True)[0].vectors.keys() == {"image"}
    assert _scores(store.query(_sparse(QUERY), limit=10)) == pytest.approx(bm25(documents, QUERY), rel=1e-5)
    assert store.lacking_keyword_vectors() == 0  # it has its lookup keys: written by a keyword-aware run


def test_a_sparse_vector_with_more_indices_than_values_is_refused(store):
    store.ensure("hand-made", DIM)
    bad = Sparse((1, 2), (1.0,))
    with pytest.raises(StoreError, match="a sparse vector has 2 indices and 1 values"):
        store.upsert([StoredPoint(point_id("x"), {"image": E0, "keywords": bad}, {"product_id": "x"})])
    assert store.count() == 0


# ---- fusion, filters and thresholds -------------------------------------------------------------------------

def test_rrf_fuses_the_keyword_and_clip_lists_exactly_as_the_engine_documents(store):
    _fill(store)
    sparse, dense = _sparse(QUERY), Nearest(E0)
    keyword_list = _ids(store.query(sparse, limit=10))
    clip_list = _ids(store.query(dense, limit=10))
    assert keyword_list == ["rare", "twice", "short", "long"]
    assert clip_list == ["none", "long", "short", "rare", "twice"]
    hits = store.query(Fused(((sparse, 10), (dense, 10))), limit=10)
    # rare 1/60+1/63, long 1/63+1/61, short 2/62, twice 1/61+1/64, none 1/60
    expected = rrf(keyword_list, clip_list)
    assert _ids(hits) == ["rare", "long", "short", "twice", "none"] == _by_score(expected)
    assert _scores(hits) == pytest.approx(expected, rel=1e-6)
    batched = store.query_batch([Fused(((sparse, 10), (dense, 10))), sparse], limit=10)
    assert [_ids(b) for b in batched] == [_ids(hits), keyword_list]


def test_filters_sit_inside_both_prefetches_so_a_filtered_winner_never_appears_or_pushes_the_others_down(store):
    _fill(store)
    _fill(store, {"winner": ("Linen shirt linen", "Red", E0)})  # first in both lists
    fused = Fused(((_sparse(QUERY), 10), (Nearest(E0), 10)))
    assert _ids(store.query(fused, limit=1)) == ["winner"]
    blue = Filters.of(exclude={COLOUR: ["Red"]})
    hits = store.query(fused, blue, limit=10)
    assert "winner" not in _ids(hits)
    # ranked as if it were not there at all: filtered after the fusion, every other product would be a rank lower
    keyword_list = _ids(store.query(_sparse(QUERY), blue, limit=10))
    assert keyword_list == ["rare", "twice", "short", "long"]
    expected = rrf(keyword_list, ["none", "long", "short", "rare", "twice"])
    assert _scores(hits) == pytest.approx(expected, rel=1e-6)
    assert _ids(store.query_batch([fused], blue, limit=10)[0]) == _ids(hits)


def test_every_keeps_only_products_holding_all_the_values_in_query_count_and_facets(store):
    _fill(store)
    _fill(store, {"winner": ("Linen shirt", "Red", E0), "linen-summer": ("Linen for summer", "Red", E0)})
    shirt = Filters().plus(every={TERMS: ["shirt"]})
    both = Filters().plus(every={TERMS: ["linen", "shirt"]})
    assert store.count(shirt) == 4 and store.count(both) == 1  # any-of "linen" or "shirt" would be 6
    assert sorted(_ids(store.query(Nearest(E0), both, limit=10))) == ["winner"]
    assert sorted(_ids(store.query(_sparse(QUERY), shirt, limit=10))) == ["long", "short", "twice", "winner"]
    assert sorted(store.facet(COLOUR, shirt)) == [("Blue", 3), ("Red", 1)]
    assert store.facet(COLOUR, both) == [("Red", 1)]
    assert sorted(h.payload["product_id"] for h in store.scroll(Filters().plus(every={TERMS: ["linen", "summer"]}))) \
        == ["linen-summer"]
    # with another filter: every value held, and the colour
    assert store.count(Filters.of(include={COLOUR: ["Blue"]}).plus(every={TERMS: ["shirt"]})) == 3


def test_the_threshold_applies_to_the_clip_branch_and_never_to_the_keyword_branch(store):
    _fill(store)
    sparse = _sparse(QUERY)
    scores = _scores(store.query(sparse, limit=10))
    assert sorted(s < 0.95 for s in scores.values()) == [False, False, True, True]  # BM25 scores below it...
    assert _scores(store.query(sparse, limit=10, threshold=0.95)) == scores  # ...are kept: no similarity
    assert _ids(store.query(Nearest(E0), limit=10, threshold=0.85)) == ["none", "long"]
    hits = store.query(Fused(((sparse, 10), (Nearest(E0), 10))), limit=10, threshold=0.85)
    # the CLIP list holds only none (1.0) and long (0.9); the keyword list all four
    assert _scores(hits) == pytest.approx(rrf(["rare", "twice", "short", "long"], ["none", "long"]), rel=1e-6)
    batched = store.query_batch([sparse], limit=10, threshold=0.95)[0]
    assert _scores(batched) == pytest.approx(scores, rel=1e-6)


# ---- MMR over the fused list --------------------------------------------------------------------------------

# "near" is almost "best" (cosine 0.9995); "other" is less relevant (0.8) but unlike both. All hold "shirt" and
# are found by both lists in the order best, near, other; "far" only by CLIP, last.
DIVERSE = {
    "best": ("Shirt shirt", "Blue", _unit(0.95, math.sqrt(1 - 0.95 ** 2), 0, 0)),
    "near": ("Shirt", "Blue", _unit(0.94, math.sqrt(1 - 0.94 ** 2), 0, 0)),
    "other": ("Shirt cotton linen wool", "Blue", _unit(0.8, 0, 0.6, 0)),
    "far": ("Hat", "Blue", _unit(0, 0, 0, 1)),
}


def mmr(candidates: list[str], query, diversity: float) -> list[str]:
    """Maximal marginal relevance as Qdrant documents it: first the most similar to the query, then each time the
    candidate maximising (1 - diversity) * sim(query) - diversity * max sim(already chosen)."""
    vec = {pid: np.array(DIVERSE[pid][2]) for pid in candidates}
    q = np.array(query)
    chosen, left = [], list(candidates)
    while left:
        def gain(pid):
            relevance = float(vec[pid] @ q)
            if not chosen:
                return relevance
            return (1 - diversity) * relevance - diversity * max(float(vec[pid] @ vec[c]) for c in chosen)
        best = max(left, key=gain)
        chosen.append(best)
        left.remove(best)
    return chosen


def test_a_diverse_fused_query_reranks_the_fused_top_candidates_by_mmr(store):
    _fill(store, DIVERSE)
    branches = ((_sparse("shirt"), 10), (Nearest(E0), 10))
    plain = store.query(Fused(branches), limit=10)
    assert _ids(plain) == ["best", "near", "other", "far"]
    assert _scores(plain) == pytest.approx(rrf(["best", "near", "other"], ["best", "near", "other", "far"]), rel=1e-6)
    diverse = Fused(branches, diverse=Diverse(E0, "image", diversity=0.5, candidates=3))
    hits = store.query(diverse, limit=10)
    # only the fused top 3 are candidates ("far" is gone); "other" goes before "near", which is "best" again
    assert _ids(hits) == ["best", "other", "near"] == mmr(["best", "near", "other"], E0, 0.5)
    # each hit's score is then its similarity to the MMR vector (both engines), no longer its RRF score
    assert [h.score for h in hits] == pytest.approx([0.95, 0.8, 0.94], abs=1e-6)
    assert _ids(store.query_batch([diverse, Fused(branches)], limit=10)[0]) == _ids(hits)
    # diversity 0: plain relevance to the vector, among the same candidates
    relevance = Fused(branches, diverse=Diverse(E0, "image", diversity=0.0, candidates=3))
    assert _ids(store.query(relevance, limit=10)) == ["best", "near", "other"]
    # the filters reach the candidates: without "best", "near" leads and "other" still follows
    no_best = Filters.of(exclude_ids=[point_id("best")])
    assert _ids(store.query(diverse, no_best, limit=10)) == ["near", "other", "far"] == \
        mmr(["near", "other", "far"], E0, 0.5)


# ---- an index made before the keyword index -----------------------------------------------------------------

OLD = {"old-linen": ("Linen dress", "Blue", E0), "old-shirt": ("Shirt", "Blue", _unit(0, 1, 0, 0)),
       "the": ("", "", _unit(0, 0, 1, 0))}  # "the": no word at all (a stop word for an id, no title or colour)


def _make_old(store) -> None:
    """A collection as issue 21 made it, products included: no sparse vector, no terms/lookup_keys indexes, no
    keyword payload, no keyword flags. The engines remove what this version adds, as issue 21's upgrade test does."""
    store.ensure("hand-made", DIM)
    store.upsert([StoredPoint(point_id(pid), {"image": image, "text": image},
                              {"product_id": pid, "title": title, COLOUR: colour})
                  for pid, (title, colour, image) in OLD.items()])
    store.flush()
    if store.backend == "embedded":
        from qdrant_edge import UpdateOperation

        store.shard.update(UpdateOperation.delete_vector_name("keywords"))
        for key in (TERMS, LOOKUP_KEYS):
            store.shard.update(UpdateOperation.delete_field_index(key))
        store.shard.flush()
    else:
        store.client.delete_vector_name(store.collection, "keywords")
        for key in (TERMS, LOOKUP_KEYS):
            store.client.delete_payload_index(store.collection, key)
    store.update_meta(keyword_vectors=None, keywords_complete=None)


def test_an_older_index_gets_the_sparse_vector_in_place_and_is_complete_once_every_product_has_its_words(store):
    _make_old(store)
    before = {h.payload["product_id"]: h for h in store.scroll(with_vectors=True)}
    assert all("keywords" not in h.vectors for h in before.values())
    # read before its next run (the app, a read-only command): no product has words yet, so no keyword hit, and a
    # fused query fuses the CLIP list alone, where the engine would refuse the missing vector
    sparse, dense = _sparse("linen"), Nearest(E0)
    clip_list = _ids(store.query(dense, limit=10))
    assert store.query(sparse, limit=10) == []
    assert _scores(store.query(Fused(((sparse, 10), (dense, 10))), limit=10)) == pytest.approx(rrf(clip_list))
    assert [_ids(hits) for hits in store.query_batch([sparse, dense, Fused(((sparse, 10),))], limit=10)] == \
        [[], clip_list, []]
    meta = store.ensure("hand-made", DIM)
    assert (meta["keyword_vectors"], meta["keywords_complete"], store.keywords_complete) == (True, False, False)
    assert store.count() == 3 and store.lacking_keyword_vectors() == 3
    assert store.check_keywords() is False
    assert store.query(_sparse("linen"), limit=10) == []  # nobody has words yet

    documents = {}
    for pid, (title, colour, _image) in OLD.items():
        payload = before[pid].payload
        documents[pid] = keyword_document(payload)
        store.update_vectors({point_id(pid): {"keywords": documents[pid]}})
        store.set_payload({point_id(pid): {TERMS: list(documents[pid].terms), LOOKUP_KEYS: lookup_keys(payload)}})
        if pid == "old-linen":
            assert store.lacking_keyword_vectors() == 2 and store.check_keywords() is False
    assert store.lacking_keyword_vectors() == 0  # "the" has no vector (no word) but its lookup keys
    assert store.check_keywords() is True and store.keywords_complete is True
    assert store.meta()["keywords_complete"] is True

    after = {h.payload["product_id"]: h for h in store.scroll(with_vectors=True)}
    for pid, hit in before.items():  # every other vector and payload key kept
        assert np.allclose(after[pid].vectors["image"], hit.vectors["image"], atol=1e-6)
        assert np.allclose(after[pid].vectors["text"], hit.vectors["text"], atol=1e-6)
        assert {k: v for k, v in after[pid].payload.items() if k not in (TERMS, LOOKUP_KEYS)} == hit.payload
    assert "keywords" not in after["the"].vectors
    # the vector added in place scores with the IDF modifier: N = 2 products with words
    assert _scores(store.query(_sparse("linen shirt"), limit=10)) == \
        pytest.approx(bm25(documents, "linen shirt"), rel=1e-5)
    assert store.count(Filters().plus(every={TERMS: ["linen"]})) == 1  # the terms index works on the old index
    # a second ensure changes nothing
    assert store.ensure("hand-made", DIM)["keywords_complete"] is True


def test_an_older_index_on_a_server_gets_the_sparse_vector_with_idf_and_the_keyword_and_status_indexes_over_http():
    from core.index.store import ServerStore

    with FakeQdrant() as fake:
        fake.add_collection("products", {**OUR_META, "photo_vectors": True, "multi_photo": True})
        store = ServerStore.connect(f"http://127.0.0.1:{fake.port}", API_KEY)
        meta = store.ensure("m", 4)
        assert ("PUT", f"{COLLECTION}/vectors/keywords") in fake.calls()
        assert "DELETE" not in [m for m, _ in fake.calls()]  # nothing recreated, nothing copied
        assert fake.collections["products"]["sparse_vectors"] == {"keywords": {"modifier": "idf"}}
        assert sorted(fake.collections["products"]["indexes"]) == sorted([LOOKUP_KEYS, "status", TERMS])
        assert (meta["keyword_vectors"], meta["keywords_complete"]) == (True, False)
        store.close()


def test_a_new_collection_is_made_with_the_sparse_vector_and_complete(store):
    meta = store.ensure("hand-made", DIM)
    assert (meta["keyword_vectors"], meta["keywords_complete"], store.keywords_complete) == (True, True, True)
    assert store.lacking_keyword_vectors() == 0 and store.check_keywords() is True
