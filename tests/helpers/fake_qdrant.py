"""A stand-in Qdrant server over HTTP that records every request, for the ServerStore tests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_KEY = "key-7f3a9c51e2"  # distinctive, so any leak is found by a plain substring search


OUR_META = {"model": "m", "dim": 4, "created": 1.0, "last_indexed": None}


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
                                  "sparse_vectors": {}, "metadata": metadata, "indexes": {}, "points": {}}

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
                                          "sparse_vectors": request.body.get("sparse_vectors") or {},
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
            if request.method == "PUT" and len(rest) == 2 and rest[0] == "vectors":  # create_vector_name
                if "sparse" in (request.body or {}):
                    col["sparse_vectors"][rest[1]] = request.body["sparse"]
                else:
                    col["vectors"][rest[1]] = (request.body or {}).get("dense") or {}
                return _ok({"operation_id": len(self.requests), "status": "completed"})
            if request.method == "POST" and rest == ["points", "count"] and (request.body or {}).get("filter"):
                chosen = _having_vectors(col["points"], request.body["filter"])
                if chosen is None:
                    return 400, {"status": {"error": "the stand-in does not evaluate filters"}}
                return _ok({"count": len(chosen)})
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
            if request.method == "PUT" and rest == ["points", "vectors"]:  # update_vectors: the others stay
                for p in request.body["points"]:
                    if str(p["id"]) in col["points"]:
                        col["points"][str(p["id"])]["vector"].update(p["vector"])
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


def _having_vectors(points: dict, flt: dict) -> list[dict] | None:
    """The stored points a filter of has_vector and is_empty conditions only (must / must_not) keeps; None for any
    other."""
    conditions = [*(flt.get("must") or []), *(flt.get("must_not") or [])]
    if set(flt) - {"must", "must_not"} or any(set(c) not in ({"has_vector"}, {"is_empty"}) for c in conditions):
        return None

    def holds(point: dict, c: dict) -> bool:
        if "is_empty" in c:
            return point["payload"].get(c["is_empty"]["key"]) in (None, [])
        return c["has_vector"] in point["vector"]

    return [p for p in points.values() if all(holds(p, c) for c in flt.get("must") or [])
            and not any(holds(p, c) for c in flt.get("must_not") or [])]


def _collection_info(col: dict, status: str = "green", optimizer_error: str | None = None) -> dict:
    """GET /collections/{name} as a single-node Qdrant answers it."""
    return {
        "status": status, "optimizer_status": {"error": optimizer_error} if optimizer_error else "ok",
        "indexed_vectors_count": 0,
        "points_count": len(col["points"]), "segments_count": 2,
        "config": {
            "params": {"vectors": col["vectors"], "sparse_vectors": col.get("sparse_vectors") or None,
                       "shard_number": 1, "replication_factor": 1,
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


COLLECTION = "/collections/products"
