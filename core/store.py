"""Vector store: one small interface over the embedded Qdrant engine (qdrant-edge) and a Qdrant server (qdrant-client)."""

from __future__ import annotations

import functools
import json
import shutil
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence, Union

from core.catalog import FILTER_FIELDS
from core.files import atomic_write
from core.errors import LensError, ModelMismatch, NotIndexed, StoreError
from core.filters import Filters

VECTOR_NAMES = ("image", "text")
ID_NAMESPACE = uuid.UUID("6b0f4f63-5c8b-4f0e-9a53-4c0d1c3a7e11")
RRF_K = 60  # the usual RRF constant; set explicitly so both backends fuse identically


def point_id(product_id: str) -> str:
    """Stable point id for a product id, so re-indexing overwrites instead of duplicating."""
    return str(uuid.uuid5(ID_NAMESPACE, str(product_id)))


# ---- backend-neutral query shapes ------------------------------------------------------------

@dataclass(frozen=True)
class Nearest:
    """Nearest neighbours of one vector in one named vector space."""

    vector: Sequence[float]
    using: str = "image"


@dataclass(frozen=True)
class Recommend:
    """Qdrant's recommend query: closer to the positives, away from the negatives (best-score strategy)."""

    positives: tuple
    negatives: tuple
    using: str = "image"


@dataclass(frozen=True)
class Diverse:
    """Maximal marginal relevance around a vector; diversity 0 = plain relevance, 1 = most diverse."""

    vector: Sequence[float]
    using: str = "image"
    diversity: float = 0.5
    candidates: int = 100


@dataclass(frozen=True)
class Fused:
    """Reciprocal rank fusion of several prefetches, each (query, limit)."""

    branches: tuple


Query = Union[Nearest, Recommend, Diverse, Fused]


@dataclass
class Hit:
    """One stored point as returned by a query, scroll or retrieve."""

    id: str
    score: float
    payload: dict
    vectors: dict = field(default_factory=dict)


@dataclass
class StoredPoint:
    """A point to write: id, named vectors (a product may lack 'image'), payload."""

    id: str
    vectors: dict
    payload: dict


class ProductStore(ABC):
    """Shared behaviour; subclasses translate to their engine's API."""

    backend: str = ""

    def ensure(self, model: str, dim: int, recreate: bool = False) -> dict:
        """Open or create the collection for this model; a different model is a clear error."""
        if recreate:
            self._drop()  # without reading the old metadata: it may be what is broken
        meta = self.meta()
        if meta is None:
            meta = {"model": model, "dim": int(dim), "created": time.time(), "last_indexed": None}
            self._create(int(dim), meta)
            return meta
        if meta.get("model") != model or int(meta.get("dim", -1)) != int(dim):
            raise ModelMismatch(
                f"the index was built with model {meta.get('model')!r} ({meta.get('dim')} dims), "
                f"not {model!r} ({dim} dims). Use that model (LENS_MODEL), or re-index with --recreate."
            )
        return meta

    def require_meta(self) -> dict:
        """Metadata of an existing index, or NotIndexed."""
        meta = self.meta()
        if meta is None:
            raise NotIndexed("there is no index yet: run `python -m core index --catalog <csv>` first")
        return meta

    def fingerprints(self) -> dict[str, tuple[str, str, str]]:
        """product_id -> (point id, fingerprint, payload hash) for every stored product."""
        return {h.payload.get("product_id"): (h.id, h.payload.get("fingerprint", ""), h.payload.get("payload_hash", ""))
                for h in self.scroll(payload_keys=["product_id", "fingerprint", "payload_hash"])}

    @abstractmethod
    def meta(self) -> dict | None: ...
    @abstractmethod
    def update_meta(self, **changes) -> None: ...
    @abstractmethod
    def _create(self, dim: int, meta: dict) -> None: ...
    @abstractmethod
    def _drop(self) -> None: ...
    @abstractmethod
    def upsert(self, points: list[StoredPoint]) -> None: ...
    @abstractmethod
    def delete(self, ids: list[str]) -> None: ...
    @abstractmethod
    def overwrite_payload(self, point: str, payload: dict) -> None: ...
    @abstractmethod
    def count(self, filters: Filters | None = None) -> int: ...
    @abstractmethod
    def scroll(self, filters: Filters | None = None, payload_keys: list[str] | None = None,
               with_vectors: bool | list[str] = False, page: int = 1000) -> Iterator[Hit]: ...
    @abstractmethod
    def retrieve(self, ids: list[str], with_vectors: bool = False) -> list[Hit]: ...
    @abstractmethod
    def query(self, query: Query, filters: Filters | None = None, limit: int = 10, offset: int = 0,
              threshold: float | None = None) -> list[Hit]: ...
    @abstractmethod
    def facet(self, key: str, filters: Filters | None = None, limit: int = 100) -> list[tuple[str, int]]: ...

    def optimize(self) -> None:
        """Merge segments and build vector indexes now (embedded engine); a server does this on its own."""

    def close(self) -> None:
        """Release resources (the embedded shard's directory lock)."""


def _backend_errors(cls):
    """Turn any engine or network exception into a StoreError, so no raw traceback reaches a user."""
    def wrap(fn):
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except LensError:
                raise
            except Exception as exc:
                raise StoreError(f"{self.backend} store failed ({fn.__name__}): {exc}") from exc
        return call

    def wrap_generator(fn):
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                yield from fn(self, *args, **kwargs)
            except LensError:
                raise
            except Exception as exc:
                raise StoreError(f"{self.backend} store failed ({fn.__name__}): {exc}") from exc
        return call

    for name in ("meta", "update_meta", "_create", "_drop", "upsert", "delete", "overwrite_payload", "count",
                 "retrieve", "query", "facet", "optimize"):
        if name in cls.__dict__:
            setattr(cls, name, wrap(cls.__dict__[name]))
    if "scroll" in cls.__dict__:
        cls.scroll = wrap_generator(cls.__dict__["scroll"])
    return cls


# ---- embedded: qdrant-edge ------------------------------------------------------------------

@_backend_errors
class EdgeStore(ProductStore):
    """The real Qdrant engine in-process: an EdgeShard under data_dir/collection/."""

    backend = "embedded"

    def __init__(self, data_dir: Path, collection: str = "products"):
        self.root = Path(data_dir) / collection
        self.shard_dir = self.root / "shard"
        self.meta_file = self.root / "lens.json"
        self._shard = None
        self._lock = threading.RLock()  # one shard object shared by every Streamlit session

    @property
    def shard(self):
        with self._lock:
            if self._shard is None:
                if not self.meta_file.exists():
                    raise NotIndexed("there is no index yet: run `python -m core index --catalog <csv>` first")
                from qdrant_edge import EdgeShard

                try:
                    self._shard = EdgeShard.load(str(self.shard_dir))
                except Exception as exc:
                    if "WouldBlock" in str(exc):
                        raise StoreError(f"the index at {self.shard_dir} is open in another process (the app or "
                                         "another command); stop it, or use a Qdrant server (QDRANT_URL)") from exc
                    raise StoreError(f"cannot open the embedded index at {self.shard_dir}: {exc}; "
                                     "rebuild it with --recreate") from exc
            return self._shard

    def meta(self) -> dict | None:
        try:
            return json.loads(self.meta_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(f"index metadata {self.meta_file} is unreadable ({exc}); re-index with --recreate") from exc

    def update_meta(self, **changes) -> None:
        with self._lock:
            meta = self.meta() or {}
            meta.update(changes)
            atomic_write(self.meta_file, json.dumps(meta, indent=2))

    def _create(self, dim: int, meta: dict) -> None:
        from qdrant_edge import Distance, EdgeConfig, EdgeShard, EdgeVectorParams, PayloadSchemaType, UpdateOperation

        with self._lock:
            self.close()
            if self.shard_dir.exists():
                shutil.rmtree(self.shard_dir)
            self.shard_dir.mkdir(parents=True)
            config = EdgeConfig(vectors={name: EdgeVectorParams(size=dim, distance=Distance.Cosine)
                                         for name in VECTOR_NAMES})
            shard = EdgeShard.create(str(self.shard_dir), config)
            for key in ["product_id", *FILTER_FIELDS]:
                shard.update(UpdateOperation.create_field_index(key, PayloadSchemaType.Keyword))
            shard.flush()
            self._shard = shard
            # Metadata last: a crash before this point leaves no half-made index that looks valid.
            atomic_write(self.meta_file, json.dumps(meta, indent=2))

    def _drop(self) -> None:
        from qdrant_edge import EdgeShard

        with self._lock:
            if self._shard is None and (self.shard_dir / "edge_config.json").exists():
                try:  # holding the shard proves no other process has it open
                    self._shard = EdgeShard.load(str(self.shard_dir))
                except Exception as exc:
                    if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                        raise StoreError(f"the index at {self.shard_dir} is open in another process (the app or "
                                         "another command); stop it before rebuilding") from exc
            self.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def upsert(self, points: list[StoredPoint]) -> None:
        from qdrant_edge import Point, UpdateOperation

        if not points:
            return
        with self._lock:
            self.shard.update(UpdateOperation.upsert_points(
                [Point(p.id, {k: list(map(float, v)) for k, v in p.vectors.items()}, p.payload) for p in points]))
            self.shard.flush()

    def overwrite_payload(self, point: str, payload: dict) -> None:
        from qdrant_edge import UpdateOperation

        with self._lock:
            self.shard.update(UpdateOperation.overwrite_payload([point], payload))
            self.shard.flush()

    def delete(self, ids: list[str]) -> None:
        from qdrant_edge import UpdateOperation

        if ids:
            with self._lock:
                self.shard.update(UpdateOperation.delete_points(list(ids)))
                self.shard.flush()

    def count(self, filters: Filters | None = None) -> int:
        from qdrant_edge import CountRequest

        with self._lock:
            return self.shard.count(CountRequest(exact=True, filter=_edge_filter(filters)))

    def scroll(self, filters=None, payload_keys=None, with_vectors=False, page=1000) -> Iterator[Hit]:
        from qdrant_edge import PayloadSelector, ScrollRequest

        with_payload = PayloadSelector.Include(payload_keys) if payload_keys else True
        offset = None
        while True:
            with self._lock:
                records, offset = self.shard.scroll(ScrollRequest(
                    offset=offset, limit=page, filter=_edge_filter(filters),
                    with_payload=with_payload, with_vector=with_vectors))
            for r in records:
                yield Hit(str(r.id), 0.0, r.payload or {}, _named(r.vector))
            if offset is None:
                return

    def retrieve(self, ids: list[str], with_vectors: bool = False) -> list[Hit]:
        with self._lock:
            records = self.shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [Hit(str(r.id), 0.0, r.payload or {}, _named(r.vector)) for r in records]

    def query(self, query, filters=None, limit=10, offset=0, threshold=None) -> list[Hit]:
        from qdrant_edge import Fusion, Prefetch, QueryRequest

        flt = _edge_filter(filters)
        if isinstance(query, Fused):
            request = QueryRequest(
                limit=limit, offset=offset, filter=flt, with_payload=True,
                prefetches=[Prefetch(limit=n, query=_edge_query(q), filter=flt, score_threshold=threshold)
                            for q, n in query.branches],
                query=Fusion.Rrf(k=RRF_K))
        else:
            request = QueryRequest(limit=limit, offset=offset, filter=flt, with_payload=True,
                                   query=_edge_query(query), score_threshold=threshold)
        with self._lock:
            points = self.shard.query(request)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in points]

    def facet(self, key, filters=None, limit=100) -> list[tuple[str, int]]:
        from qdrant_edge import FacetRequest

        with self._lock:
            # exact=False reads the keyword index's value counts: 3-100x faster, and on this engine equal to the
            # exact counts for keyword fields, including after updates, deletes and optimisation (checked at
            # 50,000 points; tests/test_search.py pins the counts against a brute-force tally).
            response = self.shard.facet(FacetRequest(key=key, limit=limit, exact=False, filter=_edge_filter(filters)))
        return [(str(h.value), int(h.count)) for h in response.hits]

    def optimize(self) -> None:
        with self._lock:
            self.shard.optimize()

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None


def _named(vector) -> dict:
    return dict(vector) if isinstance(vector, dict) else {}


def _edge_filter(filters: Filters | None):
    from qdrant_edge import FieldCondition, Filter, HasIdCondition, MatchAny

    if not filters:
        return None
    must = [FieldCondition(key=k, match=MatchAny(list(v))) for k, v in filters.include.items()]
    must_not = [FieldCondition(key=k, match=MatchAny(list(v))) for k, v in filters.exclude.items()]
    if filters.exclude_ids:
        must_not.append(HasIdCondition(set(filters.exclude_ids)))
    return Filter(must=must or None, must_not=must_not or None)


def _edge_query(query):
    from qdrant_edge import Mmr, Query, RecommendQuery

    if isinstance(query, Nearest):
        return Query.Nearest(list(map(float, query.vector)), using=query.using)
    if isinstance(query, Recommend):
        return Query.RecommendBestScore(
            RecommendQuery([list(map(float, v)) for v in query.positives],
                           [list(map(float, v)) for v in query.negatives]), using=query.using)
    if isinstance(query, Diverse):
        # Edge's lambda is the weight of relevance: lambda = 1 - diversity, as on the server.
        return Mmr(list(map(float, query.vector)), lambda_=1.0 - query.diversity,
                   candidates_limit=query.candidates, using=query.using)
    raise TypeError(f"unsupported query {query!r}")


# ---- server: qdrant-client ------------------------------------------------------------------

@_backend_errors
class ServerStore(ProductStore):
    """A Qdrant server or cluster through qdrant-client (":memory:" stands in for a server in tests)."""

    def __init__(self, client, collection: str = "products", label: str = "server"):
        self.client = client
        self.collection = collection
        self.backend = label

    @classmethod
    def connect(cls, url: str, api_key: str = "", collection: str = "products") -> "ServerStore":
        from qdrant_client import QdrantClient

        if url == ":memory:":
            return cls(QdrantClient(location=":memory:"), collection, "server (:memory:)")
        try:
            client = QdrantClient(url=url, api_key=api_key or None, timeout=30)
        except Exception as exc:
            raise StoreError(f"cannot connect to the Qdrant server at {url}: {exc}") from exc
        return cls(client, collection, url)

    def meta(self) -> dict | None:
        try:
            if not self.client.collection_exists(self.collection):
                return None
            info = self.client.get_collection(self.collection)
        except Exception as exc:
            raise StoreError(f"cannot reach the Qdrant server ({self.backend}): {exc}") from exc
        meta = dict(info.config.metadata or {})
        if "model" not in meta:
            raise StoreError(f"collection {self.collection!r} was not made by Catalog Lens; "
                             "set LENS_COLLECTION to another name or re-index with --recreate")
        return meta

    def update_meta(self, **changes) -> None:
        meta = self.meta() or {}
        meta.update(changes)
        self.client.update_collection(self.collection, metadata=meta)

    def _create(self, dim: int, meta: dict) -> None:
        from qdrant_client import models

        if self.client.collection_exists(self.collection):
            self.client.delete_collection(self.collection)
        self.client.create_collection(
            self.collection,
            vectors_config={n: models.VectorParams(size=dim, distance=models.Distance.COSINE) for n in VECTOR_NAMES},
            metadata=meta)
        for key in ["product_id", *FILTER_FIELDS]:
            self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)

    def _drop(self) -> None:
        self.client.delete_collection(self.collection)

    def upsert(self, points: list[StoredPoint]) -> None:
        from qdrant_client import models

        if points:
            self.client.upsert(self.collection, wait=True, points=[
                models.PointStruct(id=p.id, vector={k: list(map(float, v)) for k, v in p.vectors.items()},
                                   payload=p.payload) for p in points])

    def overwrite_payload(self, point: str, payload: dict) -> None:
        self.client.overwrite_payload(self.collection, payload=payload, points=[point], wait=True)

    def delete(self, ids: list[str]) -> None:
        from qdrant_client import models

        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def count(self, filters=None) -> int:
        return self.client.count(self.collection, count_filter=_server_filter(filters), exact=True).count

    def scroll(self, filters=None, payload_keys=None, with_vectors=False, page=1000) -> Iterator[Hit]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, scroll_filter=_server_filter(filters), limit=page, offset=offset,
                with_payload=payload_keys or True, with_vectors=with_vectors)
            for r in records:
                yield Hit(str(r.id), 0.0, r.payload or {}, _named(r.vector))
            if offset is None:
                return

    def retrieve(self, ids, with_vectors=False) -> list[Hit]:
        records = self.client.retrieve(self.collection, list(ids), with_payload=True, with_vectors=with_vectors)
        return [Hit(str(r.id), 0.0, r.payload or {}, _named(r.vector)) for r in records]

    def query(self, query, filters=None, limit=10, offset=0, threshold=None) -> list[Hit]:
        from qdrant_client import models

        flt = _server_filter(filters)
        if isinstance(query, Fused):
            prefetch = []
            for q, n in query.branches:
                body, using = _server_query(q)
                prefetch.append(models.Prefetch(query=body, using=using, filter=flt, limit=n,
                                                score_threshold=threshold))
            response = self.client.query_points(
                self.collection, prefetch=prefetch, query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                query_filter=flt, limit=limit, offset=offset, with_payload=True)
        else:
            body, using = _server_query(query)
            response = self.client.query_points(
                self.collection, query=body, using=using, query_filter=flt, limit=limit, offset=offset,
                score_threshold=threshold, with_payload=True)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def facet(self, key, filters=None, limit=100) -> list[tuple[str, int]]:
        response = self.client.facet(self.collection, key=key, facet_filter=_server_filter(filters),
                                     limit=limit, exact=True)
        return [(str(h.value), int(h.count)) for h in response.hits]

    def close(self) -> None:
        self.client.close()


def _server_filter(filters: Filters | None):
    from qdrant_client import models

    if not filters:
        return None
    must = [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in filters.include.items()]
    must_not = [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in filters.exclude.items()]
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=list(filters.exclude_ids)))
    return models.Filter(must=must or None, must_not=must_not or None)


def _server_query(query):
    from qdrant_client import models

    if isinstance(query, Nearest):
        return list(map(float, query.vector)), query.using
    if isinstance(query, Recommend):
        return models.RecommendQuery(recommend=models.RecommendInput(
            positive=[list(map(float, v)) for v in query.positives],
            negative=[list(map(float, v)) for v in query.negatives],
            strategy=models.RecommendStrategy.BEST_SCORE)), query.using
    if isinstance(query, Diverse):
        return models.NearestQuery(nearest=list(map(float, query.vector)),
                                   mmr=models.Mmr(diversity=query.diversity,
                                                  candidates_limit=query.candidates)), query.using
    raise TypeError(f"unsupported query {query!r}")


# ---- opening ----------------------------------------------------------------------------------

def open_store(settings) -> ProductStore:
    """The server store when QDRANT_URL is set, else the embedded shard under LENS_DATA_DIR."""
    if settings.qdrant_url:
        return ServerStore.connect(settings.qdrant_url, settings.qdrant_api_key, settings.collection)
    return EdgeStore(settings.data_dir, settings.collection)
