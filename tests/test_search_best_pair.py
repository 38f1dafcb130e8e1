"""Several photos per product in search: an image query matches a product's best photo, a product as the query
scores the best pair of photos (more like this, near-duplicates, gaps), shared photos stay out, and an index
without every product's photos searches the hero vector. Hand-made vectors, both backends."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.common.filters import Filters
from core.index.store import Hit, StoredPoint, point_id
from core.insights.gaps import find_gaps
from core.search.duplicates import near_duplicates
from core.search.query import SearchRequest, best_pair_hits, own_photo_rows, photo_space, search

DIM = 6


def unit(*v) -> list[float]:
    v = np.asarray(v, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


def e(i: int) -> list[float]:
    return unit(*[1.0 if n == i else 0.0 for n in range(DIM)])


COPY_BACK = unit(0, 0.97, 0, 0, 0, np.sqrt(1 - 0.97 ** 2))  # cosine 0.97 with the tee's back view, e(1)
# id -> (hero "image" vector, every photo's vector)
PRODUCTS = {
    "tee": (e(0), [e(0), e(1)]),                    # front, back
    "copy": (e(3), [COPY_BACK, e(3)]),              # a copy of the tee's back view; its hero is something else
    "both": (unit(1, 1, 0, 0, 0, 0), [unit(1, 1, 0, 0, 0, 0)]),  # 0.707 with each tee photo: sums to 1.41
    "coat": (e(2), [e(2), e(4)]),
    "mug": (e(5), [e(5)]),
}


def fill(store, products=PRODUCTS) -> None:
    store.ensure("hand-made", DIM)
    store.upsert([StoredPoint(point_id(pid), {"image": hero, "text": hero, "photos": photos},
                              {"product_id": pid, "title": pid, "matched_photos": [f"{pid}-{n}.jpg"
                                                                                   for n in range(len(photos))]})
                  for pid, (hero, photos) in products.items()])


@pytest.fixture
def shop(store):
    fill(store)
    assert store.multi_photo  # every product has its photos rows
    return store


def scored(hits) -> list[tuple[str, float]]:
    return [(h.payload["product_id"], round(h.score, 4)) for h in hits]


class OnePhotoEncoder:
    """A query encoder whose every image is one fixed vector: the search path around the model, not the model."""

    name, dim, image_size = "hand-made", DIM, 224

    def __init__(self, vector):
        self.vector = np.asarray(vector, dtype=np.float32)

    def encode_images(self, images):
        return np.stack([self.vector for _ in images])

    def encode_texts(self, texts):
        return np.stack([np.asarray(e(5), dtype=np.float32) for _ in texts])  # the mug's photo


def photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 40)).save(out, format="PNG")
    return out.getvalue()


BACK_VIEW = unit(0, 1, 0.1, 0, 0, 0)  # the tee's back (0.995), the coat's front (0.0995)


def test_an_image_query_finds_a_product_by_its_back_view(shop):
    results = search(shop, SearchRequest(image=photo_bytes(), limit=3), OnePhotoEncoder(BACK_VIEW))
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [
        ("tee", 0.995), ("copy", 0.9652), ("both", 0.7036)]


def test_an_index_without_every_products_photos_searches_the_hero_vector(shop):
    shop.update_meta(multi_photo=False)  # as an index built before several photos, until its next index run
    assert photo_space(shop) == "image"
    results = search(shop, SearchRequest(image=photo_bytes(), limit=2), OnePhotoEncoder(BACK_VIEW))
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [("both", 0.7036), ("coat", 0.0995)]


def test_hybrid_search_with_weight_zero_is_the_image_search_on_every_photo(shop):
    encoder = OnePhotoEncoder(BACK_VIEW)
    image = search(shop, SearchRequest(image=photo_bytes(), limit=3), encoder)
    hybrid = search(shop, SearchRequest(text="tee", image=photo_bytes(), weight=0.0, limit=3), encoder)
    assert [r.product_id for r in hybrid] == [r.product_id for r in image] == ["tee", "copy", "both"]
    text_only = search(shop, SearchRequest(text="tee", image=photo_bytes(), weight=1.0, limit=1), encoder)
    assert [r.product_id for r in text_only] == ["mug"]


def test_best_pair_scores_the_closest_pair_of_photos_not_their_sum(shop):
    rows = [e(0), e(1)]  # the tee's front and back
    hits = best_pair_hits(shop, rows, Filters.of(exclude_ids=[point_id("tee")]), 2)
    # summed, "both" (0.707 + 0.707) would come before "copy" (0.97 + 0)
    assert scored(hits) == [("copy", 0.97), ("both", 0.7071)]


def test_a_threshold_keeps_its_meaning_as_the_best_pairs_cosine(shop):
    rows = [e(0), e(1)]
    assert scored(best_pair_hits(shop, rows, Filters.of(exclude_ids=[point_id("tee")]), 10, 0.95)) == [
        ("copy", 0.97)]
    assert best_pair_hits(shop, rows, Filters.of(exclude_ids=[point_id("tee")]), 10, 0.98) == []


def test_more_like_this_ranks_by_the_best_pair(shop):
    results = search(shop, SearchRequest(like="tee", limit=2))
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [("copy", 0.97), ("both", 0.7071)]
    assert [r.product_id for r in search(shop, SearchRequest(like="tee", limit=1, offset=1))] == ["both"]
    assert [r.product_id for r in search(shop, SearchRequest(like="tee", threshold=0.95))] == ["copy"]


@pytest.mark.parametrize("exact_up_to", [None, 0], ids=["exact", "engine"])
def test_near_duplicates_pair_products_by_their_closest_photos(shop, exact_up_to):
    groups = near_duplicates(shop, 0.95, exact_up_to=exact_up_to)
    assert [(g.product_ids, [(a, b, round(s, 4)) for a, b, s in g.pairs]) for g in groups] == [
        (["copy", "tee"], [("copy", "tee", 0.97)])]
    assert near_duplicates(shop, 0.98, exact_up_to=exact_up_to) == []


def test_gaps_match_a_reference_product_by_the_best_pair_of_photos(shop, tmp_path):
    from qdrant_client import QdrantClient

    from core.index.store import EdgeStore, ServerStore

    theirs = (EdgeStore(tmp_path / "store", "products--ref--x") if isinstance(shop, EdgeStore)
              else ServerStore(QdrantClient(location=":memory:"), "products--ref--x", in_flight=0))
    try:
        # their hero is the tee's back view; our tee's hero is its front: only the pair of back views matches
        fill(theirs, {"their-tee": (e(1), [e(1)]), "their-lamp": (unit(0, 0, 0, 1, 2, 0), [unit(0, 0, 0, 1, 2, 0)])})
        rows = find_gaps(shop, theirs, 0.9)
        assert [(r.their_id, r.our_id, round(r.similarity, 4), r.verdict) for r in rows] == [
            ("their-lamp", "coat", 0.8944, "gap"), ("their-tee", "tee", 1.0, "match")]
    finally:
        theirs.close()


def hit(payload: dict, vectors: dict) -> Hit:
    return Hit("p", 0.0, payload, vectors)


def test_own_photo_rows_leave_shared_photos_out():
    rows = own_photo_rows(hit({"matched_photos": ["chart.png", "a.jpg"], "shared_photos": ["chart.png"]},
                              {"photos": [e(5), e(1)], "image": e(5)}))
    assert rows.tolist() == [e(1)]
    # every photo shared: the row the index kept (the hero's) is compared, as with one photo each
    assert own_photo_rows(hit({"matched_photos": ["same.jpg"], "shared_photos": ["same.jpg"]},
                              {"photos": [e(5)], "image": e(5)})).tolist() == [e(5)]
    # no multivector (an older index): the hero as one row; no photo at all: None
    assert own_photo_rows(hit({}, {"image": e(2), "text": e(3)})).tolist() == [e(2)]
    assert own_photo_rows(hit({}, {"text": e(3)})) is None


def test_the_matrix_path_is_bounded_by_photo_rows_not_products(shop, monkeypatch):
    from core.search import duplicates

    asked = []
    real = duplicates._nearest
    monkeypatch.setattr(duplicates, "_nearest", lambda *a, **k: asked.append(1) or real(*a, **k))
    expected = [["copy", "tee"]]
    # 5 products, 8 photo rows: past 6 rows the engine finds the pairs, at 8 the matrix products do
    assert [g.product_ids for g in near_duplicates(shop, 0.95, exact_up_to=6)] == expected and asked
    asked.clear()
    assert [g.product_ids for g in near_duplicates(shop, 0.95, exact_up_to=8)] == expected and not asked


# ---- the photos graph can miss a product: the hero's "image" vector is searched too (review of issue 21) ----

def photos_miss(store, monkeypatch, missed: str):
    """Wrap the store so that every answer on the "photos" multivector lacks `missed` (as the HNSW graph on the
    multivector can miss a product's own photo); answers on "image" stay whole. Returns the spaces asked."""
    real_batch, real_query, asked = store.query_batch, store.query, []

    def kept(query, hits):
        using = getattr(query, "using", None)
        return [h for h in hits if not (using == "photos" and h.payload.get("product_id") == missed)]

    def query_batch(queries, *args, **kwargs):
        asked.extend(q.using for q in queries)
        return [kept(q, hits) for q, hits in zip(queries, real_batch(queries, *args, **kwargs))]

    def query(q, *args, **kwargs):
        asked.append(getattr(q, "using", None))
        return kept(q, real_query(q, *args, **kwargs))

    monkeypatch.setattr(store, "query_batch", query_batch)
    monkeypatch.setattr(store, "query", query)
    return asked


def test_an_image_query_with_a_products_hero_finds_it_when_the_photos_graph_misses_it(shop, monkeypatch):
    asked = photos_miss(shop, monkeypatch, "tee")
    results = search(shop, SearchRequest(image=photo_bytes(), limit=2), OnePhotoEncoder(e(0)))  # the tee's hero
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [("tee", 1.0), ("both", 0.7071)]
    assert sorted(set(asked)) == ["image", "photos"]  # one batched call over both spaces


def test_the_merged_score_is_the_max_of_the_hero_and_the_best_photo(shop):
    # BACK_VIEW against the tee: 0.0 with its hero (image), 0.995 with its back view (photos); against "both":
    # 0.7036 with either (one photo, its hero); the max per product is kept, never a sum or the hero's alone.
    results = search(shop, SearchRequest(image=photo_bytes(), limit=5), OnePhotoEncoder(BACK_VIEW))
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [
        ("tee", 0.995), ("copy", 0.9652), ("both", 0.7036), ("coat", 0.0995), ("mug", 0.0)]
    paged = search(shop, SearchRequest(image=photo_bytes(), limit=2, offset=1), OnePhotoEncoder(BACK_VIEW))
    assert [r.product_id for r in paged] == ["copy", "both"]
    above = search(shop, SearchRequest(image=photo_bytes(), threshold=0.9), OnePhotoEncoder(BACK_VIEW))
    assert [r.product_id for r in above] == ["tee", "copy"]


def test_weighted_hybrid_finds_the_hero_when_the_photos_graph_misses_it(shop, monkeypatch):
    photos_miss(shop, monkeypatch, "tee")
    results = search(shop, SearchRequest(text="tee", image=photo_bytes(), weight=0.0, limit=1),
                     OnePhotoEncoder(e(0)))
    assert [(r.product_id, round(r.similarity, 4)) for r in results] == [("tee", 1.0)]


def test_best_pair_finds_a_product_by_its_hero_when_the_photos_graph_misses_it(shop, monkeypatch):
    photos_miss(shop, monkeypatch, "coat")
    hits = best_pair_hits(shop, [e(2)], Filters(), 1)  # the coat's hero photo as a query product's only photo
    assert scored(hits) == [("coat", 1.0)]


def test_rrf_hybrid_finds_the_hero_when_the_photos_graph_misses_it(shop):
    # the engine fuses inside one query, where no wrapper reaches: the tee's photos rows are made to miss its hero
    # photo instead (only its back view), as the photos graph missing the tee does
    shop.upsert([StoredPoint(point_id("tee"), {"image": e(0), "text": e(0), "photos": [e(1)]},
                             {"product_id": "tee", "title": "tee", "matched_photos": ["tee-1.jpg"]})])
    assert shop.multi_photo
    request = SearchRequest(text="tee", image=photo_bytes(), fusion="rrf", threshold=0.5, limit=3)
    results = search(shop, request, OnePhotoEncoder(e(0)))  # the text's list: the mug; the image's: tee, both
    # the mug (the text's first) and the tee (the image's first) tie at 1/60, in id order; "both" is the image's
    # second, at 1/61
    assert sorted((r.product_id, round(r.score, 6)) for r in results[:2]) == [
        ("mug", round(1 / 60, 6)), ("tee", round(1 / 60, 6))]
    assert [(r.product_id, round(r.score, 6)) for r in results[2:]] == [("both", round(1 / 61, 6))]
    assert [r.rank for r in results] == [1, 2, 3] and all(r.similarity is None for r in results)


def test_rrf_hybrid_fuses_as_the_engine_does(shop):
    from core.index.store import Fused, Nearest
    from core.search.query import request_filters, prefetch_size

    request = SearchRequest(text="tee", image=photo_bytes(), fusion="rrf", threshold=0.5, limit=4)
    results = search(shop, request, OnePhotoEncoder(BACK_VIEW))
    # here the merged image list is the photos list (tee, copy, both), so the engine's own RRF must agree
    n = prefetch_size(request)
    engine = shop.query(Fused(((Nearest(e(5), "image"), n), (Nearest(BACK_VIEW, "photos"), n))),
                        request_filters(request), limit=4, threshold=0.5)
    # ties (the mug and the tee at 1/60) come in the engine's own order: compared by score, then id
    assert sorted((-round(r.score, 6), r.product_id) for r in results) == \
        sorted((-round(h.score, 6), h.payload["product_id"]) for h in engine)
    assert [r.product_id for r in results][2:] == ["copy", "both"]
