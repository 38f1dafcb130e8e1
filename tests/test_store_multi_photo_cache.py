"""The multi_photo flag is remembered per store object (review of issue 21): on a Qdrant server a photo query and
an upsert cost no metadata requests; the flag follows what this store writes (a hero-only point, the end of an index
run), and another process's change is seen by a new store object."""

from __future__ import annotations

import pytest

from core.common.config import Settings
from core.index.store import StoredPoint, open_store, point_id
from core.search.query import photo_space, photo_spaces
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, FakeQdrant

# meta() asks whether the collection exists, then gets it; flush() gets it too (its shards), never the first
META_READS = {("GET", f"{COLLECTION}/exists")}


def server(fake):
    return open_store(Settings.from_env({"QDRANT_URL": f"http://127.0.0.1:{fake.port}",
                                         "QDRANT_API_KEY": API_KEY}))


def point(pid: str, photos: bool = True) -> StoredPoint:
    vectors = {"image": [1.0, 0, 0, 0], "text": [0, 1.0, 0, 0]}
    if photos:
        vectors["photos"] = [[1.0, 0, 0, 0], [0, 0, 1.0, 0]]
    return StoredPoint(point_id(pid), vectors, {"product_id": pid})


def meta_reads(fake) -> list:
    return [c for c in fake.calls() if c in META_READS]


def test_photo_queries_and_upserts_read_no_metadata_on_a_server():
    with FakeQdrant() as fake:
        store = server(fake)
        store.ensure("m", 4)
        fake.requests.clear()
        assert [photo_space(store) for _ in range(5)] == ["photos"] * 5
        assert photo_spaces(store) == ("image", "photos")
        store.upsert([point("a"), point("b")])
        store.upsert([point("c")])
        store.flush()
        assert meta_reads(fake) == []
        assert fake.writes() == [("PUT points", "false"), ("PUT points", "false"),
                                 ("POST points/payload/delete", "true")]  # the two upserts, then flush's sync
        store.close()


def test_the_flag_follows_this_stores_own_writes_and_a_new_store_sees_another_ones():
    with FakeQdrant() as fake:
        store = server(fake)
        store.ensure("m", 4)
        store.upsert([point("a")])
        fake.requests.clear()
        store.upsert([point("hero-only", photos=False)])  # a writer that knows no photos: back to "image" at once
        assert fake.calls().count(("PATCH", COLLECTION)) == 1
        fake.requests.clear()
        assert (photo_space(store), meta_reads(fake)) == ("image", [])
        store.upsert([point("d")])  # already off: no second metadata write
        store.flush()
        assert ("PATCH", COLLECTION) not in fake.calls()
        other = server(fake)  # another process: it reads the flag once, then remembers it
        fake.requests.clear()
        assert (other.multi_photo, other.multi_photo) == (False, False)
        assert fake.calls() == [("GET", f"{COLLECTION}/exists"), ("GET", COLLECTION)]  # one meta() read
        store.upsert([point("hero-only")])  # the product gets its photos rows
        assert store.check_multi_photo() is True  # the end of an index run
        fake.requests.clear()
        assert (photo_space(store), meta_reads(fake)) == ("photos", [])
        assert other.multi_photo is False  # remembered: a new store object (or its next meta read) sees the change
        assert other.meta()["multi_photo"] is True and other.multi_photo is True
        other.close()
        store.close()


@pytest.mark.parametrize("flag", [True, False])
def test_update_meta_and_drop_refresh_the_remembered_flag(store, flag):
    store.ensure("m", 4)
    assert store.multi_photo is True
    store.update_meta(multi_photo=flag)
    assert store.multi_photo is flag
    store.drop()
    assert store.multi_photo is False  # no index
    store.ensure("m", 4)
    assert store.multi_photo is True
