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
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from core.ingest.catalog import FILTER_FIELDS
from core.common.config import Settings
from core.common.errors import ModelMismatch, StoreError
from core.index.store import StoredPoint, open_store, point_id
from tests.conftest import PRODUCTS, write_catalog

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "key-7f3a9c51e2"  # distinctive, so any leak is found by a plain substring search
PASSWORD = "hunter2-b8d4"
OUR_META = {"model": "m", "dim": 4, "created": 1.0, "last_indexed": None}
# qdrant-client's own message for its start-up version check (a thread that may print after our error line)
VERSION_WARNINGS = ("Unable to check client-server compatibility", "is incompatible with server version")

# the stand-in speaks plain HTTP on loopback, so qdrant-client's "insecure connection" warning is expected here
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@dataclass
class Request:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: object


class FakeQdrant:
    """Just enough of Qdrant's REST API for Catalog Lens, in memory; records every request with its headers.

    It checks the api-key header as a real server does, answers in Qdrant's envelope ({"result", "status",
    "time"}) and refuses what it does not implement (filters) with a 400 instead of answering wrongly.
    """

    def __init__(self, api_key: str = API_KEY):
        self.api_key = api_key
        self.collections: dict[str, dict] = {}
        self.requests: list[Request] = []
        self.fail_with: tuple[int, str] | None = None  # answer every points request with this error
        self.write_delay = 0.0  # seconds each upsert takes, so overlapping requests can be seen
        self.fail_writes_after: int | None = None  # answer point writes after this many with HTTP 500
        self.fail_writes_upto: int | None = None  # ...up to this many (then the server has recovered: disk freed)
        self.status: tuple[str, str | None] = ("green", None)  # the collection's status and optimizer error
        self.most_at_once = 0  # the most requests it was answering at one time
        self._answering = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def add_collection(self, name: str, metadata: dict | None, dim: int = 4) -> None:
        """A collection made by someone else (metadata=None) or by us, as if it were already on the server."""
        self.collections[name] = {"vectors": {n: {"size": dim, "distance": "Cosine"} for n in ("image", "text")},
                                  "metadata": metadata, "indexes": {}, "points": {}}

    def __enter__(self) -> "FakeQdrant":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # ---- the REST API ----

    def answer(self, request: Request) -> tuple[int, object]:
        with self._lock:
            self._answering += 1
            self.most_at_once = max(self.most_at_once, self._answering)
        try:
            if self.write_delay and request.method == "PUT" and request.path.endswith("/points"):
                time.sleep(self.write_delay)
            return self._answer(request)
        finally:
            with self._lock:
                self._answering -= 1

    def writes(self) -> list[tuple[str, str]]:
        """("PUT points", "false"): method, path after the collection and wait flag of each point write, in the
        order they arrived."""
        return [(f"{r.method} points{r.path.split('/points', 1)[1]}", r.query["wait"][0]) for r in self.requests
                if "/points" in r.path and "wait" in r.query]

    def _answer(self, request: Request) -> tuple[int, object]:
        with self._lock:
            self.requests.append(request)
            if request.headers.get("api-key") != self.api_key:
                return 401, {"status": {"error": "Must provide an API key or an Authorization bearer token"}}
            parts = [p for p in request.path.split("/") if p]
            if parts == [] and request.method == "GET":
                return 200, {"title": "qdrant - vector search engine", "version": "1.20.0"}
            if len(parts) < 2 or parts[0] != "collections":
                return 404, {"status": {"error": f"no route {request.method} {request.path}"}}
            name, rest = parts[1], parts[2:]
            if request.method == "GET" and rest == ["exists"]:
                return _ok({"exists": name in self.collections})
            if request.method == "PUT" and rest == []:
                if name in self.collections:
                    return 409, {"status": {"error": f"Wrong input: Collection `{name}` already exists!"}}
                self.collections[name] = {"vectors": request.body["vectors"], "metadata": request.body.get("metadata"),
                                          "indexes": {}, "points": {}}
                return _ok(True)
            if name not in self.collections:
                return 404, {"status": {"error": f"Not found: Collection `{name}` doesn't exist!"}}
            col = self.collections[name]
            if request.method == "GET" and rest == []:
                return _ok(_collection_info(col, *self.status))
            if request.method == "DELETE" and rest == []:
                del self.collections[name]
                return _ok(True)
            if request.method == "PATCH" and rest == []:
                col["metadata"] = {**(col["metadata"] or {}), **(request.body.get("metadata") or {})}
                return _ok(True)
            if request.method == "PUT" and rest == ["index"]:
                col["indexes"][request.body["field_name"]] = request.body["field_schema"]
                return _ok({"operation_id": len(self.requests), "status": "completed"})
            if rest[:1] == ["points"] and self.fail_with:
                return self.fail_with[0], {"status": {"error": self.fail_with[1]}}
            if "wait" in request.query and self.fail_writes_after is not None \
                    and self.fail_writes_after < len(self.writes()) <= (self.fail_writes_upto or len(self.writes())):
                return 500, {"status": {"error": "Service internal error: No space left on device"}}
            done = _ok({"operation_id": len(self.requests),
                        "status": "acknowledged" if request.query.get("wait") == ["false"] else "completed"})
            if request.method == "POST" and rest == ["points", "payload", "delete"]:
                chosen = _matching(col["points"], request.body.get("filter"), request.body.get("points"))
                if chosen is None:
                    return 400, {"status": {"error": f"the stand-in does not evaluate {request.body['filter']}"}}
                for point in chosen:
                    for key in request.body["keys"]:
                        point["payload"].pop(key, None)
                return done
            if request.body and isinstance(request.body, dict) and request.body.get("filter"):
                return 400, {"status": {"error": "the stand-in does not evaluate filters"}}
            if request.method == "PUT" and rest == ["points"]:
                for p in request.body["points"]:
                    col["points"][str(p["id"])] = {"vector": p["vector"], "payload": p.get("payload") or {}}
                return done
            if request.method == "PUT" and rest == ["points", "payload"]:
                for i in request.body["points"]:
                    if str(i) in col["points"]:
                        col["points"][str(i)]["payload"] = dict(request.body["payload"])
                return done
            if request.method == "POST" and rest == ["points", "count"]:
                return _ok({"count": len(col["points"])})
            if request.method == "POST" and rest == ["points", "scroll"]:
                ids = sorted(col["points"])
                start = ids.index(request.body["offset"]) if request.body.get("offset") else 0
                page = ids[start:start + request.body["limit"]]
                following = ids[start + request.body["limit"]:]
                return _ok({"points": [_record(i, col["points"][i], request.body) for i in page],
                            "next_page_offset": following[0] if following else None})
            if request.method == "POST" and rest == ["points"]:
                return _ok([_record(str(i), col["points"][str(i)], request.body)
                            for i in request.body["ids"] if str(i) in col["points"]])
            if request.method == "POST" and rest == ["points", "delete"]:
                for i in request.body["points"]:
                    col["points"].pop(str(i), None)
                return done
            return 404, {"status": {"error": f"no route {request.method} {request.path}"}}


def _ok(result) -> tuple[int, dict]:
    return 200, {"result": result, "status": "ok", "time": 0.0001}


def _matching(points: dict, flt: dict | None, ids: list | None) -> list[dict] | None:
    """The stored points a selector picks: by id, or by a filter of exact-value conditions (all it evaluates;
    None for any other filter)."""
    if flt is None:
        return [points[str(i)] for i in ids or [] if str(i) in points]
    if set(flt) - {"must"} or any(set(c) != {"key", "match"} or set(c["match"]) != {"value"} for c in flt["must"]):
        return None
    return [p for p in points.values()
            if all(p["payload"].get(c["key"]) == c["match"]["value"] for c in flt["must"])]


def _collection_info(col: dict, status: str = "green", optimizer_error: str | None = None) -> dict:
    """GET /collections/{name} as a single-node Qdrant answers it."""
    return {
        "status": status, "optimizer_status": {"error": optimizer_error} if optimizer_error else "ok",
        "indexed_vectors_count": 0,
        "points_count": len(col["points"]), "segments_count": 2,
        "config": {
            "params": {"vectors": col["vectors"], "shard_number": 1, "replication_factor": 1,
                       "write_consistency_factor": 1, "on_disk_payload": True},
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
            "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                 "default_segment_number": 0, "indexing_threshold": 10000, "flush_interval_sec": 5},
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "metadata": col["metadata"],
        },
        "payload_schema": {k: {"data_type": v, "points": len(col["points"])} for k, v in col["indexes"].items()},
    }


def _record(point: str, stored: dict, body: dict) -> dict:
    keys = body.get("with_payload", True)
    payload = stored["payload"] if keys is True else {k: v for k, v in stored["payload"].items() if k in (keys or [])}
    return {"id": point, "payload": payload, "vector": stored["vector"] if body.get("with_vector") else None}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = Request(self.command, url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()},
                          json.loads(raw) if raw else None)
        status, body = self.server.fake.answer(request)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def fake():
    with FakeQdrant() as server:
        yield server


def _env(port: int, **extra) -> dict:
    return {"QDRANT_URL": f"http://admin:{PASSWORD}@127.0.0.1:{port}", "QDRANT_API_KEY": API_KEY, **extra}


def _open(port: int, **extra):
    return open_store(Settings.from_env(_env(port, **extra)))


def _points(n: int) -> list[StoredPoint]:
    return [StoredPoint(point_id(str(i)), {"image": [1.0, 0, 0, float(i)], "text": [0, 1.0, 0, 0]},
                        {"product_id": str(i)}) for i in range(n)]


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


COLLECTION = "/collections/products"


def _creation() -> list[tuple[str, str]]:
    return [("PUT", COLLECTION)] + [("PUT", f"{COLLECTION}/index")] * (1 + len(FILTER_FIELDS))


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
    assert sorted(fake.collections["products"]["indexes"]) == sorted(["product_id", *FILTER_FIELDS])
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


# ---- workers of a sharded run, all starting on a server with no collection ----

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
    _another_worker_creates_it_first(store, fake, {**OUR_META, "created": 2.0})
    meta = store.ensure("m", 4)
    assert meta == {**OUR_META, "created": 2.0}
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
