"""Near-duplicate groups: exact members and order on hand-made vectors, equal to brute force on planted
catalogues (both backends, filters, transitive groups, crowded groups), paging, and the background search."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from core.search import duplicates
from core.search.duplicates import DuplicateSearch, near_duplicates, page_of
from core.common.errors import BadQuery, LensError
from core.common.filters import Filters
from core.index.store import StoredPoint, point_id

#          id    image vector
POINTS = [("a1", (1, 0, 0, 0)), ("a2", (1, 0, 0, 0)), ("a3", (0.999, 0.0447, 0, 0)),   # a group of three
          ("b1", (0, 1, 0, 0)), ("b2", (0, 0.9995, 0.0316, 0)),                         # a pair
          ("c1", (0, 0, 1, 0)), ("d1", (0, 0, 0, 1))]                                    # on their own


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def indexed(store):
    store.ensure("hand-made", 4)
    store.upsert([StoredPoint(point_id(pid), {"image": unit(v), "text": unit(v)},
                              {"product_id": pid, "title": pid, "image_path": f"/img/{pid}.jpg"}) for pid, v in POINTS])
    return store


def test_groups_come_largest_first_with_their_closest_pair_first(indexed):
    groups = near_duplicates(indexed, threshold=0.99)
    assert [g.product_ids for g in groups] == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert [(a, b, round(s, 3)) for a, b, s in groups[0].pairs] == [("a1", "a2", 1.0), ("a1", "a3", 0.999),
                                                                    ("a2", "a3", 0.999)]
    assert groups[0].closest_first() == ["a1", "a2", "a3"]
    assert groups[1].closest_first() == ["b1", "b2"]


# ---- equal to brute force on a planted catalogue ----------------------------------------------------------

DIM = 32


def planted_catalogue(seed: int = 7):
    """300 products: planted groups of 2-6 at several tightnesses, chains (a~b, b~c, a!~c) and noise.

    Returns ({product id: unit vector}, {product id: colour}). The colour splits some groups, for filters.
    """
    rng = np.random.default_rng(seed)
    vectors: dict[str, np.ndarray] = {}

    def orthogonal(c):
        v = rng.standard_normal(DIM)
        v -= v.dot(c) * c
        return v / np.linalg.norm(v)

    for g in range(40):  # groups of 2..6, each member at a fixed angle from a centre: cos 0.999, 0.99 or 0.97
        c = unit(rng.standard_normal(DIM))
        cos = (0.999, 0.99, 0.97)[g % 3]
        for m in range(2 + g % 5):
            vectors[f"g{g:02d}m{m}"] = unit(cos * c + np.sqrt(1 - cos ** 2) * orthogonal(c))
    for k in range(10):  # chains of 3 along a great circle: neighbours at cos 0.96, the ends at cos 0.843
        a, step = unit(rng.standard_normal(DIM)), np.arccos(0.96)
        b = orthogonal(a)
        for m in range(3):
            vectors[f"chain{k}-{m}"] = unit(np.cos(m * step) * a + np.sin(m * step) * b)
    while len(vectors) < 300:
        vectors[f"noise{len(vectors):03d}"] = unit(rng.standard_normal(DIM))
    colours = {pid: ("Red" if i % 3 else "Blue") for i, pid in enumerate(sorted(vectors))}
    return vectors, colours


def brute_force(vectors: dict, threshold: float, keep=lambda pid: True):
    """The old definition, written out: every pair at or above the threshold, grouped transitively."""
    ids = sorted(pid for pid in vectors if keep(pid))
    matrix = np.array([vectors[pid] for pid in ids])
    sims = matrix @ matrix.T
    assert not np.any(np.abs(sims - threshold) < 1e-4), "a pair sits on the threshold: the test would be flaky"
    pairs = {(ids[i], ids[j]): float(sims[i, j]) for i in range(len(ids)) for j in range(i + 1, len(ids))
             if sims[i, j] >= threshold}
    group_of = {pid: {pid} for pid in ids}
    for a, b in pairs:
        if group_of[a] is not group_of[b]:
            merged = group_of[a] | group_of[b]
            for pid in merged:
                group_of[pid] = merged
    groups = {tuple(sorted(g)) for g in group_of.values() if len(g) > 1}
    return sorted(groups, key=lambda g: (-len(g), g)), pairs


def as_found(groups):
    return [tuple(g.product_ids) for g in groups], {(a, b): s for g in groups for a, b, s in g.pairs}


@pytest.fixture
def planted(store):
    vectors, colours = planted_catalogue()
    store.ensure("planted", DIM)
    store.upsert([StoredPoint(point_id(pid), {"image": v, "text": v}, {"product_id": pid, "base_colour": colours[pid]})
                  for pid, v in vectors.items()])
    return store, vectors, colours


def assert_same(found_groups, found_pairs, groups, pairs):
    assert found_groups == groups
    assert found_pairs.keys() == pairs.keys()
    assert all(abs(found_pairs[p] - pairs[p]) < 1e-5 for p in pairs)


# The two ways pairs are found: matrix products up to EXACT_UP_TO products, the engine's neighbours beyond.
PATHS = pytest.mark.parametrize("exact_up_to", [duplicates.EXACT_UP_TO, 0], ids=["matrix", "engine"])


@PATHS
@pytest.mark.parametrize("threshold", [0.9, 0.95, 0.97, 0.995])
def test_groups_and_pairs_equal_brute_force_on_a_planted_catalogue(planted, threshold, exact_up_to):
    store, vectors, _ = planted
    groups, pairs = brute_force(vectors, threshold)
    assert len(groups) >= 14  # the planted groups really are found at every threshold (not a vacuous check)
    assert_same(*as_found(near_duplicates(store, threshold, exact_up_to=exact_up_to)), groups, pairs)


@PATHS
def test_a_chain_is_one_group_though_its_ends_are_not_a_pair(planted, exact_up_to):
    store, vectors, _ = planted
    found = {tuple(g.product_ids): g for g in near_duplicates(store, 0.95, exact_up_to=exact_up_to)}
    chain = found[("chain0-0", "chain0-1", "chain0-2")]
    assert [(a, b) for a, b, _ in chain.pairs] == [("chain0-0", "chain0-1"), ("chain0-1", "chain0-2")] or \
        [(a, b) for a, b, _ in chain.pairs] == [("chain0-1", "chain0-2"), ("chain0-0", "chain0-1")]
    assert float(vectors["chain0-0"] @ vectors["chain0-2"]) < 0.95


@PATHS
def test_filters_find_the_groups_brute_force_finds_among_the_kept_products(planted, exact_up_to):
    store, vectors, colours = planted
    groups, pairs = brute_force(vectors, 0.95, keep=lambda pid: colours[pid] == "Red")
    found = as_found(near_duplicates(store, 0.95, Filters.of(include={"base_colour": ["Red"]}),
                                     exact_up_to=exact_up_to))
    assert_same(*found, groups, pairs)
    assert all(colours[pid] == "Red" for g in found[0] for pid in g)


@PATHS
def test_excluded_products_neither_appear_nor_link_a_group(planted, exact_up_to):
    store, vectors, _ = planted
    gone = {"chain3-1", "g05m0"}  # the chain's middle: without it its ends are two strangers
    groups, pairs = brute_force(vectors, 0.95, keep=lambda pid: pid not in gone)
    found = as_found(near_duplicates(store, 0.95, Filters.of(exclude_ids=[point_id(p) for p in gone]),
                                     exact_up_to=exact_up_to))
    assert_same(*found, groups, pairs)
    assert not any(pid.startswith("chain3") for g in found[0] for pid in g)


@pytest.mark.parametrize("neighbours", [1, 2, 3])
def test_a_product_with_more_near_duplicates_than_first_asked_for_still_gets_them_all(planted, neighbours):
    store, vectors, _ = planted  # groups of up to 6: five near-duplicates each, many more than 1, 2 or 3
    groups, pairs = brute_force(vectors, 0.95)
    assert_same(*as_found(near_duplicates(store, 0.95, neighbours=neighbours, batch=7, exact_up_to=0)), groups, pairs)


def test_a_catalogue_past_the_matrix_limit_goes_to_the_engine_and_finds_the_same_pairs(planted, monkeypatch):
    store, vectors, _ = planted
    asked = []
    real = duplicates._nearest
    monkeypatch.setattr(duplicates, "_nearest", lambda *a, **k: asked.append(1) or real(*a, **k))
    groups, pairs = brute_force(vectors, 0.95)
    assert_same(*as_found(near_duplicates(store, 0.95, exact_up_to=299)), groups, pairs)  # 300 products: past it
    assert asked
    asked.clear()
    assert_same(*as_found(near_duplicates(store, 0.95, exact_up_to=300)), groups, pairs)  # at it: matrix products
    assert not asked


@PATHS
def test_too_many_pairs_is_a_clear_error_not_a_flood(planted, monkeypatch, exact_up_to):
    store, _, _ = planted
    monkeypatch.setattr(duplicates, "MAX_DUPLICATE_PAIRS", 50)
    with pytest.raises(BadQuery, match="more than 50 pairs are at or above 0.95"):
        near_duplicates(store, 0.95, exact_up_to=exact_up_to)


@PATHS
def test_products_without_a_photo_are_left_out(store, exact_up_to):
    store.ensure("hand-made", 4)
    store.upsert([StoredPoint(point_id("p1"), {"image": unit((1, 0, 0, 0))}, {"product_id": "p1"}),
                  StoredPoint(point_id("p2"), {"image": unit((1, 0, 0, 0))}, {"product_id": "p2"}),
                  StoredPoint(point_id("t1"), {"text": unit((1, 0, 0, 0))}, {"product_id": "t1"})])
    assert [g.product_ids for g in near_duplicates(store, 0.99, exact_up_to=exact_up_to)] == [["p1", "p2"]]


@pytest.mark.parametrize("page, expected", [(1, [0, 1, 2]), (2, [3, 4, 5]), (3, [6]), (9, [6]), (0, [0, 1, 2])])
def test_page_of_gives_each_page_and_clamps_past_the_ends(page, expected):
    assert page_of(list(range(7)), page, 3) == (expected, 3)


def test_page_of_an_empty_list_is_one_empty_page():
    assert page_of([], 1, 5) == ([], 1)


class _BlockingStore:
    """A store whose scroll waits for a signal: shows whether the search really runs off the caller's thread."""

    def __init__(self, store):
        self._store, self.release, self.thread = store, threading.Event(), None

    def __getattr__(self, name):
        return getattr(self._store, name)

    def scroll(self, *args, **kwargs):
        self.thread = threading.current_thread()
        self.release.wait(10)
        return self._store.scroll(*args, **kwargs)


def test_search_runs_on_a_background_thread_and_returns_at_once(indexed):
    blocking = _BlockingStore(indexed)
    job = DuplicateSearch(blocking, 0.99, index_version=123.0)
    assert not job.done and job.groups is None  # the caller was not kept waiting
    blocking.release.set()
    assert job.wait(10)
    assert blocking.thread is not threading.main_thread()
    assert [g.product_ids for g in job.groups] == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert job.error is None and job.seconds is not None


def test_search_is_stale_once_the_index_version_changes(indexed):
    job = DuplicateSearch(indexed, 0.99, index_version=123.0)
    assert job.wait(10)
    assert not job.stale(123.0)
    assert job.stale(124.0) and job.stale(None)


def test_a_failing_search_keeps_a_readable_error_instead_of_raising(indexed):
    job = DuplicateSearch(indexed, 1.5, index_version=None)
    assert job.wait(10)
    assert job.groups is None and isinstance(job.error, LensError)
    assert "threshold must be between -1 and 1" in str(job.error)


def test_an_unexpected_failure_becomes_a_lens_error(indexed):
    class Broken:
        def require_meta(self):
            raise RuntimeError("disk on fire")

    job = DuplicateSearch(Broken(), 0.9, index_version=None)
    assert job.wait(10)
    assert isinstance(job.error, LensError) and "RuntimeError: disk on fire" in str(job.error)


# ---- a catalogue where no product has a photo ----------------------------------------------------------

@PATHS
def test_a_catalogue_without_any_photo_has_no_groups_not_an_error(store, exact_up_to):
    store.ensure("hand-made", 4)  # a text-only feed, or one whose every photo failed
    store.upsert([StoredPoint(point_id(pid), {"text": unit((1, 0, 0, 0))}, {"product_id": pid})
                  for pid in ("t1", "t2")])
    assert near_duplicates(store, 0.9, exact_up_to=exact_up_to) == []
    job = DuplicateSearch(store, 0.9, index_version=None)
    assert job.wait(30) and job.error is None and job.groups == []


@PATHS
def test_filters_that_keep_no_photo_have_no_groups(indexed, exact_up_to):
    assert near_duplicates(indexed, 0.99, Filters.of(include={"product_id": ["nobody"]}),
                           exact_up_to=exact_up_to) == []


def test_the_cli_says_a_catalogue_without_photos_has_no_near_duplicates(settings, tmp_path, capsys):
    from core.cli import main
    from tests.conftest import write_catalog

    catalog = write_catalog(tmp_path / "c", images=False)  # every photo is missing: products are text only
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--threshold", "0.9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["duplicates", "--threshold", "0.9"]) == 0
    assert capsys.readouterr().out == "no near-duplicates at threshold 0.9\n"


class _ListStore:
    """Photos as the engine's scroll hands them over, a fresh list of Python floats each, made on demand."""

    def __init__(self, count: int, dim: int):
        self.count, self.dim = count, dim

    def require_meta(self):
        return {}

    def scroll(self, filters=None, payload_keys=None, with_vectors=False, page=1000):
        from core.index.store import Hit

        rng = np.random.default_rng(3)
        for n in range(self.count):
            yield Hit(str(n), 0.0, {"product_id": f"p{n:05d}"}, {"image": rng.standard_normal(self.dim).tolist()})


def test_the_photos_are_held_as_float32_rows_not_lists_of_python_floats():
    import tracemalloc

    count, dim = 3000, 512
    tracemalloc.start()
    try:
        assert len(duplicates.find_pairs(_ListStore(count, dim), 0.95)) == 0  # random directions: no pair
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Holding every photo as the engine's Python floats takes at least 24 bytes a float (37 MB here; 65 MB were
    # measured before); float32 rows, the matrix and one block of products stay far under that.
    assert peak < count * dim * 24
