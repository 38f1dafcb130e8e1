"""Server writes on the wire: wait=false batches, never more than the bound in flight, never two on one point at
once, a final wait that reaches every shard before the run is recorded, and failures that surface."""

from __future__ import annotations

import threading

import pytest

from core.common.errors import StoreError
from core.index.store import ServerStore, StoredPoint, point_id
from core.index.store.writes import WRITES_IN_FLIGHT
from tests.conftest import PRODUCTS, write_catalog
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, OUR_META, FakeQdrant

# the stand-in speaks plain HTTP on loopback, so qdrant-client's "insecure connection" warning is expected here
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

BARRIER = ("POST points/payload/delete", "true")


@pytest.fixture
def fake():
    with FakeQdrant() as server:
        yield server


def _store(fake: FakeQdrant, in_flight: int = WRITES_IN_FLIGHT) -> ServerStore:
    url = f"http://127.0.0.1:{fake.port}"
    return ServerStore.connect(url, API_KEY) if in_flight == WRITES_IN_FLIGHT else ServerStore(
        ServerStore.connect(url, API_KEY).client, label=url, in_flight=in_flight)


def _batch(start: int, n: int = 2) -> list[StoredPoint]:
    # with its photos rows, as the indexer writes it (a hero-only point costs a metadata check: store.note_hero_only)
    return [StoredPoint(point_id(str(i)), {"image": [1.0, 0, 0, float(i)], "text": [0, 1.0, 0, 0],
                                           "photos": [[1.0, 0, 0, float(i)]]},
                        {"product_id": str(i)}) for i in range(start, start + n)]


def test_an_indexing_run_writes_with_wait_false_and_ends_with_one_wait_before_it_is_recorded(fake, embedder, tmp_path):
    from core.index.indexer import index_catalog

    catalog = write_catalog(tmp_path / "cat")
    store = _store(fake)
    report = index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=2)
    store.close()
    assert report.indexed == len(PRODUCTS) == 6
    assert fake.writes() == [("PUT points", "false")] * 3 + [BARRIER]
    barrier = next(r for r in fake.requests if "/points/payload/delete" in r.path)
    # it selects by filter (so it reaches every shard), on the keyword-indexed product id no product can have
    assert barrier.body == {"keys": ["lens_sync"], "filter": {"must": [{"key": "product_id", "match": {"value": ""}}]}}
    # the run is recorded (last_indexed) only after the wait, and nothing is written after it
    calls = fake.calls()
    recorded = max(i for i, c in enumerate(calls) if c == ("PATCH", COLLECTION))
    assert calls.index(("POST", f"{COLLECTION}/points/payload/delete")) < recorded
    assert fake.collections["products"]["metadata"]["last_indexed"] is not None
    assert sorted(p["payload"]["product_id"] for p in fake.collections["products"]["points"].values()) == \
        sorted(r[0] for r in PRODUCTS)


def test_payload_rewrites_and_prune_deletes_also_go_out_with_wait_false(fake, embedder, tmp_path):
    from core.index.indexer import index_catalog

    store = _store(fake)
    prices = {r[0]: ["10"] for r in PRODUCTS}
    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values=prices)
    index_catalog(catalog, catalog.parent / "images", embedder, store)
    fake.requests.clear()
    # a new price for product 1 (payload only: not part of its text) and product 6 gone (pruned)
    write_catalog(tmp_path / "cat", [r for r in PRODUCTS if r[0] != "6"], extra_header=["Price"],
                  extra_values=dict(prices, **{"1": ["12.5"]}), images=False)
    report = index_catalog(catalog, catalog.parent / "images", embedder, store, prune=True)
    store.close()
    assert (report.updated, report.pruned, report.indexed) == (1, 1, 0)
    # two requests on different points may be on the wire together, so they may arrive in either order
    assert sorted(fake.writes()[:-1]) == [("POST points/delete", "false"), ("PUT points/payload", "false")]
    assert fake.writes()[-1] == BARRIER
    stored = fake.collections["products"]["points"]
    assert stored[point_id("1")]["payload"]["price"] == 12.5
    assert point_id("6") not in stored


@pytest.mark.parametrize("bound", [1, 3])
def test_never_more_write_requests_in_flight_than_the_bound(fake, bound):
    fake.add_collection("products", OUR_META)
    fake.write_delay = 0.1  # each upsert takes a while, so the next ones are sent while it is answered
    store = _store(fake, in_flight=bound)
    waiting = []
    for start in range(0, 16, 2):
        store.upsert(_batch(start))
        waiting.append(store.writes_in_flight)
    store.flush()
    store.close()
    assert waiting == [min(n, bound) for n in range(1, 9)]  # the caller waits for the oldest past the bound
    assert fake.most_at_once == bound  # the requests overlap, and never more than the bound
    assert fake.writes() == [("PUT points", "false")] * 8 + [BARRIER]
    assert len(fake.collections["products"]["points"]) == 16


def test_two_writes_to_one_point_are_never_in_flight_together(fake):
    fake.add_collection("products", OUR_META)
    fake.write_delay = 0.2  # the upsert is slow; a delete sent beside it would be applied first
    store = _store(fake)
    store.upsert(_batch(0))
    store.delete([point_id("1")])
    store.flush()
    store.close()
    assert fake.writes() == [("PUT points", "false"), ("POST points/delete", "false"), BARRIER]
    assert list(fake.collections["products"]["points"]) == [point_id("0")]


def test_a_failed_wait_false_write_is_raised_by_the_next_call_not_swallowed(fake):
    fake.add_collection("products", OUR_META)
    fake.fail_writes_after = 1
    store = _store(fake)
    store.upsert(_batch(0))
    store.upsert(_batch(2))  # refused by the server; the caller has moved on
    with pytest.raises(StoreError) as err:
        store.flush()
    assert str(err.value) == (f"http://127.0.0.1:{fake.port} store failed (flush): upsert of 2 point(s) failed: "
                              "HTTP 500 Internal Server Error: Service internal error: No space left on device")
    assert BARRIER not in fake.writes()  # no wait is sent to confirm a run that lost a batch
    store.close()


def test_an_interrupted_run_claims_nothing_and_the_next_run_writes_exactly_the_rest(fake, embedder, tmp_path):
    from core.index.indexer import index_catalog

    catalog = write_catalog(tmp_path / "cat")
    store = _store(fake)
    fake.fail_writes_after = 1  # the server takes the first batch of two, then fails
    with pytest.raises(StoreError, match="upsert of 2 point"):
        index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=2)
    store.close()
    assert len(fake.collections["products"]["points"]) == 2
    assert fake.collections["products"]["metadata"]["last_indexed"] is None  # the run is not recorded
    fake.fail_writes_after = None
    store = _store(fake)
    rerun = index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=2)
    store.close()
    assert (rerun.indexed, rerun.unchanged) == (4, 2)  # each product's fingerprint came with its own vectors


def test_a_collection_the_server_reports_red_fails_the_final_wait(fake):
    fake.add_collection("products", OUR_META)
    store = _store(fake)
    store.upsert(_batch(0))
    fake.status = ("red", "Service internal error: failed to apply operation 3")
    with pytest.raises(StoreError) as err:
        store.flush()
    assert str(err.value).startswith(
        f"the Qdrant server at http://127.0.0.1:{fake.port} reports collection 'products' failed (Service "
        "internal error: failed to apply operation 3); some writes may not be applied.")
    store.close()


def test_vectors_of_the_wrong_size_are_refused_before_the_server_could_drop_them(fake):
    fake.add_collection("products", OUR_META)  # 4-d
    store = _store(fake)
    with pytest.raises(StoreError, match=r"has a 3-d 'image' vector; the index holds 4-d vectors"):
        store.upsert([StoredPoint(point_id("x"), {"image": [1.0, 0, 0]}, {"product_id": "x"})])
    store.close()
    assert fake.writes() == []


def test_a_flush_with_nothing_written_sends_nothing(fake):
    fake.add_collection("products", OUR_META)
    store = _store(fake)
    store.upsert(_batch(0))
    store.flush()
    fake.requests.clear()
    store.flush()
    store.publish()
    store.close()
    assert fake.calls() == []


def _failed_second_upsert(fake: FakeQdrant) -> ServerStore:
    """A store whose second upsert the server refused, and that has been answered (nobody has raised it yet)."""
    fake.add_collection("products", OUR_META)
    fake.fail_writes_after, fake.fail_writes_upto = 1, 2  # the second write only: what follows would succeed
    store = _store(fake)
    store.upsert(_batch(0))
    assert store.count() == 2  # a read waits for it: the next write cannot overtake it on the way
    store.upsert(_batch(2))  # refused by the server; the caller has moved on
    return store


@pytest.mark.parametrize("writer_call", ["flush", "publish", "update_meta", "upsert"])
def test_a_reader_in_another_session_never_takes_the_writers_failure(fake, writer_call):
    store = _failed_second_upsert(fake)
    # another session's Search rerun on the shared store (app/resources.py): it waits for the writes, no more
    seen = {}
    reader = threading.Thread(target=lambda: seen.update(count=store.count(), hits=len(list(store.scroll()))))
    reader.start()
    reader.join(10)
    assert seen == {"count": 2, "hits": 2}
    assert store.retrieve([point_id("0")])[0].payload == {"product_id": "0"}  # a read in the writer's own thread
    call = {"flush": store.flush, "publish": store.publish, "upsert": lambda: store.upsert(_batch(4)),
            "update_meta": lambda: store.update_meta(last_indexed=123.0)}[writer_call]
    with pytest.raises(StoreError, match=r"upsert of 2 point\(s\) failed: HTTP 500"):
        call()
    assert fake.collections["products"]["metadata"]["last_indexed"] is None  # the run is never recorded
    assert BARRIER not in fake.writes()
    assert sorted(fake.collections["products"]["points"]) == sorted([point_id("0"), point_id("1")])
    store.close()


def test_an_indexing_run_fails_even_when_a_search_read_the_store_before_its_final_wait(fake, embedder, tmp_path,
                                                                                        monkeypatch):
    from core.index.indexer import index_catalog

    catalog = write_catalog(tmp_path / "cat")
    store = _store(fake)
    fake.fail_writes_after, fake.fail_writes_upto = 1, 2  # the server refuses the second batch of two, only
    flush = ServerStore.flush

    def search_then_flush(self):  # a Search rerun in another session reads just before the run's final wait
        reader = threading.Thread(target=self.count)
        reader.start()
        reader.join(10)
        return flush(self)

    monkeypatch.setattr(ServerStore, "flush", search_then_flush)
    with pytest.raises(StoreError, match=r"upsert of 2 point\(s\) failed"):
        index_catalog(catalog, catalog.parent / "images", embedder, store, batch_size=2)
    store.close()
    assert fake.collections["products"]["metadata"]["last_indexed"] is None


def test_close_never_hides_the_error_already_on_its_way_out(fake, caplog):
    store = _failed_second_upsert(fake)
    with pytest.raises(RuntimeError, match="the embedder crashed"):
        try:
            raise RuntimeError("the embedder crashed")
        finally:
            store.close()
    assert "upsert of 2 point(s) failed" in caplog.text  # the write failure is logged, not lost


def test_close_raises_a_write_failure_nobody_has_seen(fake):
    store = _failed_second_upsert(fake)
    with pytest.raises(StoreError, match=r"\(close\): upsert of 2 point\(s\) failed"):
        store.close()


def test_a_large_delete_goes_out_in_requests_of_at_most_a_thousand_ids(fake):
    fake.add_collection("products", OUR_META)
    store = _store(fake)
    ids = [point_id(str(i)) for i in range(2500)]
    store.delete(ids)
    store.flush()
    store.close()
    deletes = [r.body["points"] for r in fake.requests if r.path.endswith("/points/delete")]
    # requests on different points may be on the wire together, so they may arrive in any order
    assert sorted(len(d) for d in deletes) == [500, 1000, 1000]
    assert sorted(i for d in deletes for i in d) == sorted(ids)


def test_the_vector_size_is_looked_up_once_when_the_metadata_has_none(fake):
    fake.add_collection("products", {"model": "m", "created": 1.0, "last_indexed": None})  # no "dim"
    store = _store(fake)
    for start in range(0, 8, 2):
        store.upsert(_batch(start))
    with pytest.raises(StoreError, match=r"has a 3-d 'image' vector; the index holds 4-d vectors"):
        store.upsert([StoredPoint(point_id("x"), {"image": [1.0, 0, 0]}, {"product_id": "x"})])
    store.flush()
    store.close()
    assert fake.calls().count(("GET", COLLECTION)) == 2  # the size once, the status after the final wait
    assert len(fake.collections["products"]["points"]) == 8
