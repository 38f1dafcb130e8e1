"""Search on hand-made vectors, on both backends: exact orders, filters, facets, fusion, feedback, MMR, duplicates."""

import itertools

import numpy as np
import pytest
from PIL import Image

from core.common.errors import BadQuery, UnknownFilterField, UnknownProduct
from core.common.filters import Filters
from core.search.duplicates import near_duplicates
from core.search.query import SearchRequest, facets, search
from core.index.store import Fused, Nearest, StoredPoint, point_id

#        id   image vector            colour   gender    type       (text vector = image vector unless given)
POINTS = [
    ("1", (1, 0, 0, 0),         "Red",   "Women",  "Dresses"),
    ("2", (0.9, 0.3, 0, 0),     "Red",   "Women",  "Dresses"),
    ("3", (0.6, 0.8, 0, 0),     "Blue",  "Men",    "Tshirts"),
    ("4", (0, 1, 0, 0),         "Blue",  "Men",    "Tshirts"),
    ("5", (0, 0, 1, 0),         "Green", "Women",  "Dresses"),
    ("6", (0, 0, 0.995, 0.0998), "Green", "Women", "Dresses"),   # planted near-duplicate of 5
    ("7", None,                 "Black", "Unisex", "Caps"),      # text-only product
]
TEXT_ONLY_VECTOR = (0, 0, 0, 1)
QUERIES = {"red": (1, 0, 0, 0), "blue": (0, 1, 0, 0), "black cap": (0, 0, 0, 1)}
COLOUR_VECTORS = {(255, 0, 0): (1, 0, 0, 0), (0, 0, 255): (0, 1, 0, 0), (153, 204, 0): (0.6, 0.8, 0, 0)}


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


class HandEmbedder:
    """A deterministic QueryEncoder whose query vectors are known exactly: texts by lookup, images by pixel colour."""

    name, dim, image_size = "hand-made", 4, None

    def encode_texts(self, texts, **_):
        return np.stack([unit(QUERIES[t]) for t in texts])

    def encode_images(self, images, **_):
        return np.stack([unit(COLOUR_VECTORS[image.getpixel((0, 0))]) for image in images])


@pytest.fixture
def indexed(store):
    store.ensure(HandEmbedder.name, 4)
    points = []
    for pid, image, colour, gender, kind in POINTS:
        vectors = {"text": unit(image or TEXT_ONLY_VECTOR)}
        if image:
            vectors["image"] = unit(image)
        points.append(StoredPoint(point_id(pid), vectors, {
            "product_id": pid, "title": f"{colour} {kind}", "colour": colour, "gender": gender,
            "product_type": kind, "category": "Apparel", "image_path": f"/img/{pid}.jpg"}))
    store.upsert(points)
    return store


def ids(results):
    return [r.product_id for r in results]


def run(store, **kw):
    return search(store, SearchRequest(**kw), HandEmbedder())


def test_text_search_exact_order_and_scores(indexed):
    results = run(indexed, text="red", limit=3)
    assert ids(results) == ["1", "2", "3"]
    assert [round(r.score, 3) for r in results] == [1.0, 0.949, 0.6]
    assert results[0].title == "Red Dresses" and results[0].image_path == "/img/1.jpg"


def test_pagination_continues_the_same_order(indexed):
    assert ids(run(indexed, text="red", limit=2, offset=1)) == ["2", "3"]


def test_threshold_drops_weaker_results(indexed):
    assert ids(run(indexed, text="red", threshold=0.9)) == ["1", "2"]


@pytest.mark.parametrize("include, exclude", [
    ({"colour": ["Blue"]}, {}),
    ({"colour": ["Blue", "Green"]}, {}),
    ({"gender": ["Women"]}, {"colour": ["Red"]}),
    ({}, {"product_type": ["Dresses"]}),
    ({"gender": ["Men", "Women"], "colour": ["Red", "Blue"]}, {"product_type": ["Tshirts"]}),
])
def test_filters_never_leak_a_non_matching_product(indexed, include, exclude):
    by_id = {p[0]: {"colour": p[2], "gender": p[3], "product_type": p[4]} for p in POINTS}
    expected = {pid for pid, attrs in by_id.items() if POINTS[int(pid) - 1][1]
                and all(attrs[k] in v for k, v in include.items())
                and not any(attrs[k] in v for k, v in exclude.items())}
    for query in QUERIES:
        results = run(indexed, text=query, filters=Filters.of(include, exclude), limit=50)
        assert set(ids(results)) == expected


def test_filter_keeps_vector_order(indexed):
    assert ids(run(indexed, text="red", filters=Filters.of({"colour": ["Blue"]}))) == ["3", "4"]


def test_unknown_filter_field_lists_the_index_fields(indexed):
    with pytest.raises(UnknownFilterField, match="this index's filter fields: gender, category, sub_category"):
        run(indexed, text="red", filters=Filters.of({"size": ["M"]}))
    with pytest.raises(UnknownFilterField, match="this index's filter fields: gender"):
        facets(indexed, Filters.of(exclude={"size": ["M"]}))
    with pytest.raises(UnknownFilterField, match="not a field name"):
        Filters.of({"Size!": ["M"]})


def test_facets_count_every_value_under_the_other_filters(indexed):
    counts = facets(indexed, Filters.of({"gender": ["Women"]}))
    assert counts["colour"] == [("Green", 2), ("Red", 2)]
    assert counts["gender"] == [("Women", 4), ("Men", 2), ("Unisex", 1)]  # own field's filter is not applied
    assert counts["product_type"] == [("Dresses", 4)]
    assert facets(indexed)["colour"] == [("Blue", 2), ("Green", 2), ("Red", 2), ("Black", 1)]


def test_weight_one_is_text_search_and_weight_zero_is_image_search(indexed):
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    as_text = run(indexed, text="red", limit=6)
    as_image = run(indexed, image=blue, limit=6)
    assert ids(run(indexed, text="red", image=blue, weight=1.0, limit=6)) == ids(as_text)
    assert ids(run(indexed, text="red", image=blue, weight=0.0, limit=6)) == ids(as_image)
    assert [r.score for r in run(indexed, text="red", image=blue, weight=1.0, limit=6)] == [r.score for r in as_text]
    assert ids(run(indexed, text="red", image=blue, weight=0.5, limit=2)) == ["3", "2"]


def test_rrf_hybrid_fuses_both_modalities_by_rank(indexed):
    upload = Image.new("RGB", (8, 8), (153, 204, 0))  # image ranks 3,2,4,1; text "red" ranks 1,2,3,4
    results = run(indexed, text="red", image=upload, fusion="rrf", filters=Filters.of({"colour": ["Red", "Blue"]}))
    # Qdrant's RRF with k=60 and 0-based ranks: 3 = 1/60+1/62, 2 = 2/61, 1 = 1/60+1/63, 4 = 1/62+1/63.
    assert ids(results) == ["3", "2", "1", "4"]
    assert [round(r.score, 5) for r in results] == [round(1 / 60 + 1 / 62, 5), round(2 / 61, 5),
                                                     round(1 / 60 + 1 / 63, 5), round(1 / 62 + 1 / 63, 5)]


def test_rrf_applies_the_filter_inside_every_prefetch(indexed):
    # Each prefetch keeps only 2 candidates: filtering after fusion would leave nothing green.
    query = Fused(((Nearest(unit(QUERIES["red"]), "image"), 2), (Nearest(unit(QUERIES["blue"]), "image"), 2)))
    hits = indexed.query(query, Filters.of({"colour": ["Green"]}), limit=10)
    assert sorted(h.payload["product_id"] for h in hits) == ["5", "6"]


def test_text_vectors_reach_text_only_products(indexed):
    assert "7" not in ids(run(indexed, text="black cap", limit=10))
    fused = run(indexed, text="black cap", use_text_vectors=True, limit=10)
    assert ids(fused)[0] == "6"  # first in both lists (a weak 0.1 image match; second in the text list)
    assert "7" in ids(fused)     # the text-only product is reachable through its text vector


def test_product_is_its_own_nearest_neighbour_unless_excluded(indexed):
    upload = Image.new("RGB", (8, 8), (153, 204, 0))  # the same vector as product 3
    assert ids(run(indexed, image=upload, limit=1)) == ["3"]
    assert ids(run(indexed, like="3", limit=3)) == ["2", "4", "1"]


def test_like_reuses_the_stored_vector_without_the_model(indexed):
    assert ids(search(indexed, SearchRequest(like="1", limit=2), embedder=None)) == ["2", "3"]


def test_feedback_moves_results_toward_positives(indexed):
    before = ids(run(indexed, text="red", limit=6))
    after = ids(run(indexed, text="red", positives=("5",), limit=6))
    assert before[:3] == ["1", "2", "3"] and before.index("6") >= 3
    assert after[:4] == ["1", "6", "2", "3"]  # 6 looks like the liked 5, so it climbs above 2 and 3
    assert "5" not in after  # judged products are not shown again


def test_negatives_only_feedback_ranks_away_from_dislikes(indexed):
    results = ids(search(indexed, SearchRequest(negatives=("1",), limit=6), embedder=None))
    assert "1" not in results and results.index("2") == len(results) - 1


def test_mmr_returns_more_distinct_results(store):
    store.ensure("hand-made", 4)
    rng = np.random.default_rng(0)
    copies = [unit((1, *rng.normal(0, 0.02, 3))) for _ in range(6)]
    others = [unit(v) for v in ((0.8, 0.6, 0, 0), (0.8, 0, 0.6, 0), (0.8, 0, 0, 0.6))]
    store.upsert([StoredPoint(point_id(str(i)), {"image": v, "text": v}, {"product_id": str(i), "colour": "c"})
                  for i, v in enumerate(copies + others)])
    by_id = {str(i): v for i, v in enumerate(copies + others)}

    def spread(results):
        vs = [by_id[r.product_id] for r in results]
        return np.mean([float(a @ b) for a, b in itertools.combinations(vs, 2)])

    plain = store_search(store, diverse=False)
    diverse = store_search(store, diverse=True)
    assert set(ids(plain)) <= {"0", "1", "2", "3", "4", "5"}
    assert len({p for p in ids(diverse) if int(p) >= 6}) >= 1
    assert spread(diverse) < spread(plain)


def store_search(store, diverse):
    return search(store, SearchRequest(text="red", limit=4, diverse=diverse), HandEmbedder())


def test_planted_duplicates_come_out_as_one_group(indexed):
    groups = near_duplicates(indexed, threshold=0.95)
    assert [g.product_ids for g in groups] == [["5", "6"]]
    assert groups[0].pairs[0][:2] == ("5", "6") and round(groups[0].pairs[0][2], 3) == 0.995
    # 1 and 2 are 0.949 apart: grouped only once the threshold allows it.
    assert [g.product_ids for g in near_duplicates(indexed, threshold=0.94)] == [["1", "2"], ["5", "6"]]


@pytest.mark.parametrize("kwargs, error, message", [
    ({}, BadQuery, "nothing to search for"),
    ({"text": "red", "weight": 1.5}, BadQuery, "weight must be between 0 and 1"),
    ({"text": "red", "diverse": True, "diversity": 1.5}, BadQuery, "diversity must be between 0 and 1"),
    ({"text": "red", "limit": 0}, BadQuery, "limit must be between 1 and 500"),
    ({"text": "red", "limit": 501}, BadQuery, "limit must be between 1 and 500"),
    ({"like": "404"}, UnknownProduct, "unknown product id"),
    ({"text": "red", "positives": ("404",)}, UnknownProduct, "404"),
])
def test_bad_requests_are_clear_errors(indexed, kwargs, error, message):
    with pytest.raises(error, match=message):
        run(indexed, **kwargs)


def test_facet_counts_match_a_brute_force_tally_after_updates_and_deletes(store):
    rng = np.random.default_rng(3)
    store.ensure("hand-made", 4)
    colours, genders = ["Red", "Blue", "Green", "Black"], ["Men", "Women", "Unisex"]
    rows = {str(i): {"colour": str(rng.choice(colours)), "gender": str(rng.choice(genders))} for i in range(300)}

    def write(pids):
        store.upsert([StoredPoint(point_id(p), {"image": unit(rng.normal(size=4))}, {"product_id": p, **rows[p]})
                      for p in pids])

    write(list(rows))
    for p in list(rows)[:50]:
        rows[p] = {"colour": "Red", "gender": "Women"}
    write(list(rows)[:50])
    gone = list(rows)[100:130]
    store.delete([point_id(p) for p in gone])
    for p in gone:
        del rows[p]
    flt = Filters.of({"gender": ["Women", "Unisex"]}, {"colour": ["Black"]})
    expected = {}
    for attrs in rows.values():
        if attrs["gender"] in ("Women", "Unisex") and attrs["colour"] != "Black":
            expected[attrs["colour"]] = expected.get(attrs["colour"], 0) + 1
    assert dict(facets(store, flt, ["colour"])["colour"]) == expected


# ---- options that must do what they say (issue 9, defect 8) ---------------------------------------

def test_diversity_is_a_setting_from_plain_order_to_most_varied(store):
    store.ensure("hand-made", 4)
    rng = np.random.default_rng(0)
    copies = [unit((1, *rng.normal(0, 0.02, 3))) for _ in range(6)]          # ids 0-5: near-copies of the query
    others = [unit(v) for v in ((0.8, 0.6, 0, 0), (0.8, 0, 0.6, 0), (0.8, 0, 0, 0.6))]  # 6-8: 0.8 away, distinct
    store.upsert([StoredPoint(point_id(str(i)), {"image": v, "text": v}, {"product_id": str(i), "colour": "c"})
                  for i, v in enumerate(copies + others)])
    plain = ids(run(store, text="red", limit=4))
    assert ids(run(store, text="red", limit=4, diverse=True, diversity=0.0)) == plain  # relevance only
    most = ids(run(store, text="red", limit=4, diverse=True, diversity=1.0))
    # Diversity only: the best match first, then each pick as unlike the picked ones as possible.
    assert most[0] == plain[0] and sorted(most[1:]) == ["6", "7", "8"]


def test_feedback_keeps_rrf_fusion_in_hybrid_search(indexed):
    upload = Image.new("RGB", (8, 8), (153, 204, 0))  # product 3's vector
    results = run(indexed, text="red", image=upload, fusion="rrf", positives=("5",))
    # Each list goes toward its query and the liked 5 (best score: the closest of the two):
    #   text "red" + 5:  1 (1.0), 6 (0.995), 2 (0.949), 3 (0.6), 4 (0)
    #   photo of 3 + 5:  3 (1.0), 6 (0.995), 2 (0.822), 4 (0.8), 1 (0.6)
    # RRF (k=60, 0-based): 6 = 2/61, 3 = 1/63+1/60, 1 = 1/60+1/64, 2 = 2/62, 4 = 1/64+1/63.
    assert ids(results) == ["6", "3", "1", "2", "4"]
    assert [r.rank for r in results] == [1, 2, 3, 4, 5]


def test_feedback_keeps_matching_product_texts(indexed):
    without = ids(run(indexed, text="black cap", positives=("1",), limit=10))
    fused = run(indexed, text="black cap", use_text_vectors=True, positives=("1",), limit=10)
    assert "7" not in without          # 7 has no photo: only its text vector can find it
    assert "7" in ids(fused) and [r.rank for r in fused] == list(range(1, len(fused) + 1))


def test_feedback_results_show_their_similarity_to_the_query_not_the_recommend_score(indexed):
    results = run(indexed, text="red", negatives=("2",), limit=10)
    # Cosine similarity of each product's photo vector to "red" (1, 0, 0, 0); 2 was judged, 7 has no photo.
    assert {r.product_id: round(r.similarity, 3) for r in results} == {"1": 1.0, "3": 0.6, "4": 0.0, "5": 0.0,
                                                                      "6": 0.0}
    assert [r.rank for r in results] == [1, 2, 3, 4, 5]


def test_fused_lists_are_shown_by_rank_not_by_their_rrf_score(indexed):
    upload = Image.new("RGB", (8, 8), (153, 204, 0))
    flt = Filters.of({"colour": ["Red", "Blue"]})
    results = run(indexed, text="red", image=upload, fusion="rrf", filters=flt)
    assert [(r.rank, r.similarity) for r in results] == [(1, None), (2, None), (3, None), (4, None)]
    assert [r.rank for r in run(indexed, text="red", image=upload, fusion="rrf", filters=flt, offset=1)] == [2, 3, 4]
    plain = run(indexed, text="red", limit=3)
    assert [(r.rank, r.similarity) for r in plain] == [(None, r.score) for r in plain]


def test_minimum_similarity_in_rrf_applies_to_each_list_before_fusion(indexed):
    upload = Image.new("RGB", (8, 8), (153, 204, 0))
    # At 0.7, "red" keeps 1 (1.0) and 2 (0.949); the photo of 3 keeps 3 (1.0), 2 (0.822) and 4 (0.8).
    results = ids(run(indexed, text="red", image=upload, fusion="rrf", threshold=0.7))
    assert results[0] == "2" and sorted(results[1:3]) == ["1", "3"] and results[3:] == ["4"]  # 1 and 3 tie


@pytest.mark.parametrize("kwargs, note", [
    ({"text": "red", "diverse": True, "use_text_vectors": True, "match": "meaning"},
     "“also match product texts” ranks two lists"),  # by words and meaning, MMR re-ranks the fused list
    ({"text": "red", "like": "3", "diverse": True, "fusion": "rrf"}, "Choose weighted fusion"),
    ({"text": "red", "diverse": True, "positives": ("5",)}, "Reset the feedback"),
])
def test_diverse_says_why_it_is_off_and_the_search_runs_without_it(indexed, kwargs, note):
    request = SearchRequest(**kwargs)
    assert len(request.notes()) == 1 and note in request.notes()[0]
    assert ids(search(indexed, request, HandEmbedder())) == ids(run(indexed, **dict(kwargs, diverse=False)))


def test_diverse_alone_has_no_note():
    assert SearchRequest(text="red", diverse=True).notes() == []
