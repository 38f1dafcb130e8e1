"""The server backend over real HTTP: qdrant-client talking to a recording stand-in for Qdrant's REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from core.ingest.catalog import FILTER_FIELDS
from core.common.config import Settings
from core.common.errors import ModelMismatch, StoreError
from core.index.store import StoredPoint, open_store, point_id
from tests.conftest import PRODUCTS, write_catalog
from tests.helpers.fake_qdrant import API_KEY, COLLECTION, FakeQdrant, OUR_META

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "hunter2-b8d4"
# qdrant-client's own message for its start-up version check (a thread that may print after our error line)
VERSION_WARNINGS = ("Unable to check client-server compatibility", "is incompatible with server version")

# the stand-in speaks plain HTTP on loopback, so qdrant-client's "insecure connection" warning is expected here
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture
def fake():
    with FakeQdrant() as server:
        yield server


def _env(port: int, **extra) -> dict:
    return {"QDRANT_URL": f"http://admin:{PASSWORD}@127.0.0.1:{port}", "QDRANT_API_KEY": API_KEY, **extra}


def _open(port: int, **extra):
    return open_store(Settings.from_env(_env(port, **extra)))


def _points(n: int) -> list[StoredPoint]:
    # with its photos rows, as the indexer writes it (a hero-only point would clear multi_photo: a metadata write)
    return [StoredPoint(point_id(str(i)), {"image": [1.0, 0, 0, float(i)], "text": [0, 1.0, 0, 0],
                                           "photos": [[1.0, 0, 0, float(i)]]}, {"product_id": str(i)}) for i in range(n)]


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "LENS_"))}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens here now: connections are refused
    return port


def _creation() -> list[tuple[str, str]]:
    # product_id, the filters, status, and the keyword index's terms and lookup_keys
    return [("PUT", COLLECTION)] + [("PUT", f"{COLLECTION}/index")] * (1 + len(FILTER_FIELDS) + 1 + 2)


# ---- the HTTP conversation ----

def test_every_request_carries_the_api_key_and_nothing_probes_the_version(fake):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = _open(fake.port)
        store.ensure("m", 4)
        store.upsert(_points(3))
        assert store.count() == 3
        store.close()
        for thread in threading.enumerate():  # qdrant-client's version check, if it were on, runs in a thread
            if "_check_compatibility" in thread.name:  # named "Thread-N (_check_compatibility)" by threading
                thread.join(10)
    assert fake.calls() == [("GET", f"{COLLECTION}/exists")] + _creation() + [
        ("PUT", f"{COLLECTION}/points"), ("POST", f"{COLLECTION}/points/count")]
    assert [r.headers.get("api-key") for r in fake.requests] == [API_KEY] * len(fake.requests)
    # the URL's user and password are only redacted: qdrant-client does not send them (the README says so)
    assert [r for r in fake.requests if "authorization" in r.headers] == []
    assert fake.collections["products"]["metadata"]["model"] == "m"
    assert sorted(fake.collections["products"]["indexes"]) == sorted(["product_id", *FILTER_FIELDS, "status",
                                                                      "terms", "lookup_keys"])
    assert [str(w.message) for w in caught if any(v in str(w.message) for v in VERSION_WARNINGS)] == []


def test_a_wrong_api_key_is_a_clear_error(fake):
    store = open_store(Settings.from_env({**_env(fake.port), "QDRANT_API_KEY": "not-the-key"}))
    with pytest.raises(StoreError) as err:
        store.meta()
    assert str(err.value) == (f"cannot reach the Qdrant server at http://admin:***@127.0.0.1:{fake.port}: "
                              "the server refused the request (HTTP 401); check QDRANT_API_KEY")


def test_cli_stats_over_http_shows_the_redacted_url_and_never_the_credentials(fake):
    fake.add_collection("products", OUR_META)
    store = _open(fake.port)
    store.upsert(_points(2))
    store.close()
    fake.requests.clear()
    result = _cli(_env(fake.port), "stats", "--json")
    assert (result.returncode, result.stderr.count("error:")) == (0, 0), result.stderr
    assert json.loads(result.stdout) == {"count": 2, "model": "m", "dim": 4, "last_indexed": None,
                                         "runtime": None, "runtimes": [], "runtime_note": "",  # made by no run
                                         "backend": f"http://admin:***@127.0.0.1:{fake.port}"}
    assert PASSWORD not in result.stdout + result.stderr and API_KEY not in result.stdout + result.stderr
    assert [v for v in VERSION_WARNINGS if v in result.stderr] == []
    assert fake.calls()[-1] == ("POST", f"{COLLECTION}/points/count")
    assert {r.headers.get("api-key") for r in fake.requests} == {API_KEY}


# ---- a server that is not there, or does not answer ----

def test_a_server_that_never_answers_fails_after_qdrant_timeout_not_30s():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # the kernel accepts connections; nobody ever reads or answers
    port = silent.getsockname()[1]
    try:
        store = _open(port, QDRANT_TIMEOUT="1")
        started = time.monotonic()
        with pytest.raises(StoreError) as err:
            store.meta()
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert str(err.value) == (f"cannot reach the Qdrant server at http://admin:***@127.0.0.1:{port}: "
                              "no answer within 1 s; check that the server is up, or raise QDRANT_TIMEOUT")
    assert 0.9 < elapsed < 5


def test_an_unreachable_server_is_a_store_error_naming_the_redacted_url():
    port = _closed_port()
    store = _open(port)
    with pytest.raises(StoreError) as err:
        store.count()
    assert str(err.value).startswith(f"http://admin:***@127.0.0.1:{port} store failed (count): cannot connect (")
    assert str(err.value).endswith("); check QDRANT_URL and that the server is running")


def test_cli_against_a_closed_port_exits_2_with_one_error_line_and_no_secrets():
    port = _closed_port()
    result = _cli(_env(port), "stats", "--json")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert (result.returncode, result.stdout, len(errors)) == (2, "", 1), result.stderr
    assert errors[0].startswith(f"error: cannot reach the Qdrant server at http://admin:***@127.0.0.1:{port}: "
                                "cannot connect (")
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr and API_KEY not in result.stderr


# ---- collections Catalog Lens did not make ----

def test_a_foreign_collection_is_refused_by_name(fake):
    fake.add_collection("products", metadata=None)
    with pytest.raises(StoreError) as err:
        _open(fake.port).ensure("m", 4)
    assert str(err.value) == (f"collection 'products' on http://admin:***@127.0.0.1:{fake.port} was not made by "
                              "Catalog Lens; set LENS_COLLECTION to another name")
    assert [m for m, _ in fake.calls()] == ["GET", "GET"]


def test_recreate_refuses_a_foreign_collection_and_sends_no_delete(fake):
    fake.add_collection("products", metadata={"owner": "search-team"})
    with pytest.raises(StoreError) as err:
        _open(fake.port).ensure("m", 4, recreate=True)
    assert str(err.value) == (f"collection 'products' on http://admin:***@127.0.0.1:{fake.port} was not made by "
                              "Catalog Lens, so --recreate will not delete it; set LENS_COLLECTION to another name")
    assert "DELETE" not in [m for m, _ in fake.calls()]
    assert fake.collections["products"]["metadata"] == {"owner": "search-team"}


def test_recreate_of_our_own_collection_deletes_it_then_creates_it_empty(fake):
    fake.add_collection("products", OUR_META)
    store = _open(fake.port)
    store.upsert(_points(3))
    store.flush()  # the write goes out with wait=false, from another thread: let it arrive before the clear
    fake.requests.clear()
    meta = store.ensure("m", 4, recreate=True)
    assert fake.calls() == [("GET", f"{COLLECTION}/exists"), ("GET", COLLECTION), ("DELETE", COLLECTION),
                            ("GET", f"{COLLECTION}/exists")] + _creation()
    assert (meta["model"], store.count(), fake.collections["products"]["metadata"]["created"]) == (
        "m", 0, meta["created"])


# ---- what the server says never leaks a credential ----

def test_an_error_that_echoes_the_api_key_is_scrubbed(fake):
    fake.add_collection("products", OUR_META)
    fake.fail_with = (500, f"Service internal error: request with api-key {API_KEY} from admin:{PASSWORD} failed")
    with pytest.raises(StoreError) as err:
        _open(fake.port).count()
    assert str(err.value) == (f"http://admin:***@127.0.0.1:{fake.port} store failed (count): HTTP 500 Internal "
                              "Server Error: Service internal error: request with api-key *** from admin:*** failed")


# ---- the indexing path end to end ----

def test_indexing_over_http_writes_every_product_and_a_rerun_changes_nothing(fake, embedder, tmp_path):
    from core.index.indexer import index_catalog

    catalog = write_catalog(tmp_path / "cat")
    store = _open(fake.port)
    first = index_catalog(catalog, catalog.parent / "images", embedder, store)
    second = index_catalog(catalog, catalog.parent / "images", embedder, store)
    store.close()
    assert (first.indexed, first.unchanged, second.indexed, second.unchanged) == (6, 0, 0, 6)
    stored = fake.collections["products"]
    assert sorted(p["payload"]["product_id"] for p in stored["points"].values()) == sorted(r[0] for r in PRODUCTS)
    assert stored["metadata"]["last_indexed"] is not None and stored["metadata"]["model"] == embedder.name
    assert {r.headers.get("api-key") for r in fake.requests} == {API_KEY}


# ---- workers of a --part run, all starting on a server with no collection ----

def _another_worker_creates_it_first(store, fake: FakeQdrant, metadata: dict) -> None:
    """Between this store's meta() (no collection yet) and its create, another worker creates the collection and
    writes a point to it."""
    first_look = store.meta

    def meta():
        meta = first_look()
        if meta is None and "products" not in fake.collections:
            fake.add_collection("products", metadata)
            fake.collections["products"]["points"]["p0"] = {"vector": {}, "payload": {"product_id": "0"}}
        return meta

    store.meta = meta


def test_a_worker_that_loses_the_race_to_create_the_collection_uses_the_winners(fake):
    store = _open(fake.port)
    # the winner is a worker of this version: its collection has the photos multivector (issue 21) and the keyword
    # vector (issue 22) already
    winners = {**OUR_META, "created": 2.0, "photo_vectors": True, "multi_photo": True, "keyword_vectors": True,
               "keywords_complete": True}
    _another_worker_creates_it_first(store, fake, winners)
    meta = store.ensure("m", 4)
    assert meta == winners
    assert fake.calls() == [("GET", f"{COLLECTION}/exists"), ("PUT", COLLECTION),  # 409: it exists
                            ("GET", f"{COLLECTION}/exists"), ("GET", f"{COLLECTION}/exists"), ("GET", COLLECTION)]
    assert "DELETE" not in [m for m, _ in fake.calls()]
    assert list(fake.collections["products"]["points"]) == ["p0"]  # what the other worker wrote is still there
    store.close()


def test_a_collection_another_worker_made_for_another_model_is_a_model_mismatch(fake):
    store = _open(fake.port)
    _another_worker_creates_it_first(store, fake, {**OUR_META, "model": "other", "dim": 8})
    with pytest.raises(ModelMismatch, match="the index was built with model 'other' \\(8 dims\\), not 'm' \\(4 dims\\)"):
        store.ensure("m", 4)
    assert fake.collections["products"]["metadata"]["model"] == "other"
    store.close()


def test_the_race_on_memory_too_keeps_the_first_workers_collection():
    from core.index.store import ServerStore

    store, other = ServerStore.connect(":memory:"), None
    first_look = store.meta

    def meta():  # the other worker's store shares the in-process engine, as two clients share a server
        nonlocal other
        meta = first_look()
        if meta is None and other is None:
            other = ServerStore(store.client, label="server (:memory:)", in_flight=0)
            other.ensure("m", 4)
            other.upsert(_points(1))
        return meta

    store.meta = meta
    assert store.ensure("m", 4)["created"] == other.meta()["created"]
    assert store.count() == 1
    store.close()


def test_recreate_with_a_shard_is_refused_before_the_model_loads_or_anything_is_dropped(fake, tmp_path):
    fake.add_collection("products", OUR_META)
    catalog = write_catalog(tmp_path / "c")
    result = _cli(_env(fake.port, LENS_DATA_DIR=str(tmp_path / "d"), LENS_MODEL=str(tmp_path / "none")),
                  "index", "--catalog", str(catalog), "--shard", "1/4", "--recreate")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        "error: --recreate cannot run with --part: a worker that starts late would drop what the others wrote; "
        "delete the collection (or run `index --recreate` without --part) before starting the workers: the first to "
        "start creates it, the others use it")
    assert fake.calls() == []


def test_a_collection_made_before_issue_21_gets_the_photos_multivector_in_place(fake):
    fake.add_collection("products", dict(OUR_META))
    store = _open(fake.port)
    meta = store.ensure("m", 4)
    assert ("PUT", f"{COLLECTION}/vectors/photos") in fake.calls()
    assert "DELETE" not in [m for m, _ in fake.calls()]  # nothing recreated, nothing copied
    assert fake.collections["products"]["vectors"]["photos"] == {"size": 4, "distance": "Cosine",
                                                                 "multivector_config": {"comparator": "max_sim"}}
    assert (meta["photo_vectors"], meta["multi_photo"]) == (True, False)  # searches stay on "image" until a run
    store.close()
