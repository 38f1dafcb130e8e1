"""The server backend: a Qdrant server or cluster through qdrant-client."""

from __future__ import annotations

from typing import Iterator

from core.config import redact_url, scrub
from core.errors import StoreError
from core.filters import Filters
from core.fields import PRODUCT_ID, STANDARD_FILTERS, Schema
from core.store.base import (RRF_K, VECTOR_NAMES, Diverse, Fused, Hit, Nearest, Ordered, ProductStore, Recommend,
                             StoredPoint, backend_errors, named_vectors)
from core.store.tuning import Overrides, Tuning


@backend_errors
class ServerStore(ProductStore):
    """A Qdrant server or cluster through qdrant-client (":memory:" stands in for a server in tests)."""

    def __init__(self, client, collection: str = "products", label: str = "server", *, url: str = "",
                 api_key: str = "", timeout: int = 30, overrides: Overrides | None = None):
        self.client = client
        self.overrides = overrides or Overrides()
        self.collection = collection
        self.backend = label  # shown to users: the URL with its credentials redacted
        self.timeout = timeout
        self._url, self._api_key = url, api_key

    @classmethod
    def connect(cls, url: str, api_key: str = "", collection: str = "products", timeout: int = 30,
                overrides: Overrides | None = None) -> "ServerStore":
        from qdrant_client import QdrantClient

        if url == ":memory:":
            return cls(QdrantClient(location=":memory:"), collection, "server (:memory:)", overrides=overrides)
        try:
            # check_compatibility=False: the client's check warns from a background thread at a random moment
            # (even after our own error line); an unreachable server fails the first request with a StoreError.
            client = QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False)
        except Exception as exc:
            raise StoreError(f"cannot use QDRANT_URL {redact_url(url)}: {scrub(str(exc), url, api_key)}") from exc
        return cls(client, collection, redact_url(url), url=url, api_key=api_key, timeout=timeout,
                   overrides=overrides)

    def explain(self, exc: Exception) -> str:
        """One line about a client exception, with the URL's password and the API key scrubbed out."""
        return scrub(_describe(exc, self.timeout), self._url, self._api_key)

    def meta(self) -> dict | None:
        try:
            if not self.client.collection_exists(self.collection):
                return None
            info = self.client.get_collection(self.collection)
        except Exception as exc:
            raise StoreError(f"cannot reach the Qdrant server at {self.backend}: {self.explain(exc)}") from exc
        meta = dict(info.config.metadata or {})
        if "model" not in meta:
            raise StoreError(self._not_ours())
        return meta

    def _not_ours(self, consequence: str = "") -> str:
        return (f"collection {self.collection!r} on {self.backend} was not made by Catalog Lens{consequence}; "
                "set LENS_COLLECTION to another name")

    def update_meta(self, **changes) -> None:
        meta = self.meta() or {}
        meta.update(changes)
        self.client.update_collection(self.collection, metadata=meta)

    def _create(self, dim: int, meta: dict, tuning: Tuning) -> None:
        from qdrant_client import models

        self._drop()
        self.client.create_collection(self.collection, **collection_config(dim, tuning), metadata=meta)
        for key in [PRODUCT_ID, *STANDARD_FILTERS]:
            self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)

    def _index_fields(self, schema: Schema) -> None:
        from qdrant_client import models

        known = Schema.from_meta(self.meta())
        for key in schema.keyword:
            if key not in known.keyword:
                self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)
        for key in schema.number:  # a range index: range filters and order_by need it on a server
            if key not in known.number:
                self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.FLOAT)

    def _drop(self) -> None:
        """Delete our own collection; one without our metadata may be someone's data on a shared cluster."""
        if not self.client.collection_exists(self.collection):
            return
        if "model" not in (self.client.get_collection(self.collection).config.metadata or {}):
            raise StoreError(self._not_ours(", so --recreate will not delete it"))
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

    @property
    def _consistency(self):
        """How many replicas a read asks (LENS_READ_CONSISTENCY); count has no such parameter in Qdrant's API."""
        return read_consistency(self.search_tuning)

    def count(self, filters=None) -> int:
        return self.client.count(self.collection, count_filter=_server_filter(filters), exact=True).count

    def scroll(self, filters=None, payload_keys=None, with_vectors=False, page=1000) -> Iterator[Hit]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, scroll_filter=_server_filter(filters), limit=page, offset=offset,
                with_payload=payload_keys or True, with_vectors=with_vectors, consistency=self._consistency)
            for r in records:
                yield Hit(str(r.id), 0.0, r.payload or {}, named_vectors(r.vector))
            if offset is None:
                return

    def retrieve(self, ids, with_vectors=False) -> list[Hit]:
        records = self.client.retrieve(self.collection, list(ids), with_payload=True, with_vectors=with_vectors,
                                       consistency=self._consistency)
        return [Hit(str(r.id), 0.0, r.payload or {}, named_vectors(r.vector)) for r in records]

    def query(self, query, filters=None, limit=10, offset=0, threshold=None) -> list[Hit]:
        from qdrant_client import models

        flt = _server_filter(filters)
        params = search_params(self.search_tuning)
        if isinstance(query, Fused):
            prefetch = []
            for q, n in query.branches:
                body, using = _server_query(q)
                prefetch.append(models.Prefetch(query=body, using=using, filter=flt, limit=n,
                                                score_threshold=threshold, params=params))
            response = self.client.query_points(
                self.collection, prefetch=prefetch, query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                query_filter=flt, limit=limit, offset=offset, with_payload=True, consistency=self._consistency)
        else:
            body, using = _server_query(query)
            response = self.client.query_points(
                self.collection, query=body, using=using, query_filter=flt, limit=limit, offset=offset,
                score_threshold=threshold, with_payload=True, search_params=params, consistency=self._consistency)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def facet(self, key, filters=None, limit=100) -> list[tuple[str, int]]:
        response = self.client.facet(self.collection, key=key, facet_filter=_server_filter(filters),
                                     limit=limit, exact=True, consistency=self._consistency)
        return [(str(h.value), int(h.count)) for h in response.hits]

    def close(self) -> None:
        self.client.close()


def collection_config(dim: int, tuning: Tuning) -> dict:
    """create_collection's settings: both named vectors, cluster layout, HNSW, int8 and indexing threshold."""
    from qdrant_client import models

    quantization = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
        type=models.ScalarType.INT8, quantile=tuning.quantile, always_ram=tuning.quantized_in_ram)) \
        if tuning.quantize else None
    return dict(
        vectors_config={n: models.VectorParams(size=dim, distance=models.Distance.COSINE,
                                               on_disk=True if tuning.originals_on_disk else None)
                        for n in VECTOR_NAMES},
        shard_number=tuning.shards, replication_factor=tuning.replicas,
        write_consistency_factor=tuning.write_consistency,
        hnsw_config=models.HnswConfigDiff(m=tuning.m, ef_construct=tuning.ef_construct,
                                          full_scan_threshold=tuning.full_scan_kb),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=tuning.index_kb(dim)),
        quantization_config=quantization)


def search_params(tuning: Tuning):
    """Every query's search parameters: hnsw_ef, and int8 candidates always rescored with oversampling."""
    from qdrant_client import models

    return models.SearchParams(hnsw_ef=tuning.hnsw_ef, quantization=models.QuantizationSearchParams(
        rescore=tuning.rescore, oversampling=tuning.oversampling))


def read_consistency(tuning: Tuning):
    """LENS_READ_CONSISTENCY as qdrant-client takes it: a replica count, or majority / quorum / all."""
    from qdrant_client import models

    value = tuning.read_consistency
    return int(value) if value.isdigit() else models.ReadConsistencyType(value)


def _describe(exc: Exception, timeout: int) -> str:
    """A client exception as one line that says what to check: a timeout, a refused connection, an HTTP status."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
    if isinstance(cause, httpx.TimeoutException):
        return f"no answer within {timeout} s; check that the server is up, or raise QDRANT_TIMEOUT"
    if isinstance(cause, httpx.TransportError):
        return f"cannot connect ({cause or type(cause).__name__}); check QDRANT_URL and that the server is running"
    if isinstance(exc, UnexpectedResponse):
        if exc.status_code in (401, 403):
            return f"the server refused the request (HTTP {exc.status_code}); check QDRANT_API_KEY"
        try:
            detail = exc.structured()["status"]["error"]
        except Exception:
            detail = exc.content[:200].decode("utf-8", "replace")
        return " ".join(f"HTTP {exc.status_code} {exc.reason_phrase}: {detail}".split())
    return " ".join(str(exc).split()) or type(exc).__name__


def _server_filter(filters: Filters | None):
    from qdrant_client import models

    if not filters:
        return None
    must = [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in filters.include.items()]
    must += [models.FieldCondition(key=k, range=models.Range(gte=low, lte=high)) for k, (low, high) in filters.ranges.items()]
    must += [models.IsEmptyCondition(is_empty=models.PayloadField(key=k)) for k in filters.lacking]
    must_not = [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in filters.exclude.items()]
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=list(filters.exclude_ids)))
    return models.Filter(must=must or None, must_not=must_not or None)


def _server_query(query):
    from qdrant_client import models

    if query is None:  # no vector, no order: the engine's own order (stable between pages)
        return None, None
    if isinstance(query, Ordered):
        return models.OrderByQuery(order_by=models.OrderBy(
            key=query.key, direction=models.Direction.DESC if query.descending else models.Direction.ASC)), None
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
