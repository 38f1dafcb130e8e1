"""Near-duplicate groups: exact members and order on hand-made vectors, paging, and the background search."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.duplicates import DuplicateSearch, near_duplicates, page_of
from core.errors import LensError
from core.store import StoredPoint, point_id

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
