"""The server backend: a Qdrant server or cluster through qdrant-client."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace

from core.common.config import redact_url, scrub
from core.common.errors import StoreError
from core.common.filters import Filters
from core.common.fields import LOOKUP_KEYS, PRODUCT_ID, TERMS
from core.index.store.base import (KEYWORD, MULTI_VECTOR_NAMES, RRF_K, SPARSE_VECTOR_NAMES, VECTOR_NAMES, Diverse,
                                   Fused, Hit, Nearest, Ordered, ProductStore, Recommend, Sparse, StoredPoint,
                                   dense_threshold, is_rows, point_vectors, query_vector, record_hit, scored_hit,
                                   sparse_parts)
from core.index.store.tuning import Overrides, Tuning
from core.index.store.writes import WRITES_IN_FLIGHT, WriteFailed, Writes

SYNC_KEY = "lens_sync"  # a payload key no product has: the final wait deletes it from no point (see flush)
DELETE_CHUNK = 1000  # point ids per delete request: a prune of many products is several bounded requests


class ServerStore(ProductStore):
    """A Qdrant server or cluster through qdrant-client (":memory:" stands in for a server in tests).

    Writes (upsert, overwrite_payload, delete) go out with wait=false through a bounded pipeline
    (core.index.store.writes): the
    server answers once an operation is in its write-ahead log, so an indexing run embeds the next batch
    while the server applies the last. flush() (called by publish() and update_meta()) waits until every
    write is applied. A read first waits until the server has answered this store's writes (at most
    `in_flight` requests); it sees them applied after flush(), as any wait=false client does. A read never
    raises a write's failure: one store is shared by every session of the app (app/resources.py), and the
    failure belongs to the writer, whose next write or flush() raises it (Writes).

    Nothing is lost or claimed too early if the process stops. The indexer's only record of what is written
    is each point's own payload (fingerprint, payload hash), and it travels in the same request as the
    point's vectors, which Qdrant applies to a point as one operation: a stored fingerprint always describes
    the vectors stored with it. A request the server acknowledged is in its write-ahead log and is applied
    even if this process (or the server) stops before flush(). A request it did not acknowledge is applied
    whole or not at all; a product whose write never landed keeps its old fingerprint (or none), so the next
    run writes it again. Metadata (last_indexed) is written only after flush(), so it never claims a run
    finished whose writes are still unapplied. What a stop can leave is a catalogue only partly re-indexed,
    which the next run completes.
    """

    def __init__(self, client, collection: str = "products", label: str = "server", *, url: str = "",
                 api_key: str = "", timeout: int = 30, overrides: Overrides | None = None,
                 in_flight: int = WRITES_IN_FLIGHT):
        self.client = client
        self.overrides = overrides or Overrides()
        self.collection = collection
        self.backend = label  # shown to users: the URL with its credentials redacted
        self.timeout = timeout
        self._url, self._api_key = url, api_key
        self._writes = Writes(in_flight)
        self._dim: int | None = None  # the collection's vector size, to refuse what the server would drop (0:
        # looked up and unknown; None: not looked up since the collection was made or dropped)

    @classmethod
    def connect(cls, url: str, api_key: str = "", collection: str = "products", timeout: int = 30,
                overrides: Overrides | None = None) -> "ServerStore":
        from qdrant_client import QdrantClient

        if url == ":memory:":  # in-process: no network to overlap, and not safe to call from several threads
            return cls(QdrantClient(location=":memory:"), collection, "server (:memory:)", overrides=overrides,
                       in_flight=0)
        try:
            # check_compatibility=False: the client's check warns from a background thread at a random moment
            # (even after our own error line); an unreachable server fails the first request with a StoreError.
            client = QdrantClient(url=url, api_key=api_key or None, timeout=timeout, check_compatibility=False)
        except Exception as exc:
            raise StoreError(f"cannot use QDRANT_URL {redact_url(url)}: {scrub(str(exc), url, api_key)}") from exc
        return cls(client, collection, redact_url(url), url=url, api_key=api_key, timeout=timeout,
                   overrides=overrides)

    def explain(self, exc: Exception) -> str:  # engine_neutral, as the base's
        """One line about a client exception, with the URL's password and the API key scrubbed out."""
        if isinstance(exc, WriteFailed):
            return scrub(f"{exc.what} failed: {_describe(exc.cause, self.timeout)}{exc.more}", self._url,
                         self._api_key)
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
        self._dim = int(meta.get("dim", 0)) or _vector_size(info)
        self._seen_meta(meta)
        return meta

    def _not_ours(self, consequence: str = "") -> str:
        return (f"collection {self.collection!r} on {self.backend} was not made by Catalog Lens{consequence}; "
                "set LENS_COLLECTION to another name")

    def update_meta(self, **changes) -> None:
        self.flush()  # metadata (last_indexed) never claims writes the server has not applied
        meta = self.meta() or {}
        meta.update(changes)
        self.client.update_collection(self.collection, metadata=meta)
        self._seen_meta(meta)

    def list_collections(self) -> list[str]:
        """The server's collections (on a shared cluster, other applications' too)."""
        try:
            return sorted(c.name for c in self.client.get_collections().collections)
        except Exception as exc:
            raise StoreError(f"cannot list the collections on {self.backend}: {self.explain(exc)}") from exc

    def _create(self, dim: int, meta: dict, tuning: Tuning, indexes: list[tuple[str, str]]) -> dict | None:
        """Create the collection, unless another process (a worker of a --part run) created it since meta()
        saw none: then its metadata, which ensure() checks as any existing index's. Nothing is dropped here: a
        collection that exists now is someone's (--recreate drops ours first, in ensure())."""
        self._writes.wait()  # an earlier write (to a collection that is gone) must not land in the new one
        try:
            self.client.create_collection(self.collection, **collection_config(dim, tuning), metadata=meta)
        except Exception:  # HTTP 409 "already exists" from a server; ValueError from ":memory:"
            if not self.client.collection_exists(self.collection):
                raise
            return self.meta()  # another worker's (a collection without our metadata is refused by name)
        self._dim = dim
        self._create_indexes(indexes)

    def _create_indexes(self, indexes: list[tuple[str, str]]) -> None:
        from qdrant_client import models

        for key, kind in indexes:  # a number gets a range index: range filters and order_by need it on a server
            self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD
                                             if kind == KEYWORD else models.PayloadSchemaType.FLOAT)

    def _add_photo_vectors(self, dim: int) -> None:
        from qdrant_client import models

        self.flush()  # the writes before it land first
        for name in MULTI_VECTOR_NAMES:
            try:
                self.client.create_vector_name(self.collection, name, models.DenseVectorNameConfig(
                    dense=models.DenseVectorConfig(size=dim, distance=models.Distance.COSINE,
                                                   multivector_config=_max_sim())))
            except Exception:  # another worker of a --part run added it since meta() said it was missing
                vectors = self.client.get_collection(self.collection).config.params.vectors
                if not (isinstance(vectors, dict) and name in vectors):
                    raise

    def _add_keyword_vectors(self) -> None:
        from qdrant_client import models

        self.flush()  # the writes before it land first
        for name in SPARSE_VECTOR_NAMES:
            try:
                self.client.create_vector_name(self.collection, name, models.SparseVectorNameConfig(
                    sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)))
            except Exception:  # another worker of a --part run added it since meta() said it was missing
                sparse = self.client.get_collection(self.collection).config.params.sparse_vectors
                if not (sparse and name in sparse):
                    raise

    def lacking_keyword_vectors(self) -> int:
        from qdrant_client import models

        self._writes.wait()
        lacking = models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=TERMS)),
                                      models.IsEmptyCondition(is_empty=models.PayloadField(key=LOOKUP_KEYS))],
                                must_not=[models.HasVectorCondition(has_vector=n) for n in SPARSE_VECTOR_NAMES])
        return self.client.count(self.collection, count_filter=lacking, exact=True).count

    def lacking_photo_vectors(self) -> int:
        from qdrant_client import models

        self._writes.wait()
        lacking = models.Filter(must=[models.HasVectorCondition(has_vector=VECTOR_NAMES[0])],
                                must_not=[models.HasVectorCondition(has_vector=n) for n in MULTI_VECTOR_NAMES])
        return self.client.count(self.collection, count_filter=lacking, exact=True).count

    def drop(self) -> None:
        """Delete our own collection; one without our metadata may be someone's data on a shared cluster."""
        self._writes.wait()  # no write of ours may land in the collection made next
        if not self.client.collection_exists(self.collection):
            return
        if "model" not in (self.client.get_collection(self.collection).config.metadata or {}):
            raise StoreError(self._not_ours(", so --recreate will not delete it"))
        self.client.delete_collection(self.collection)
        self._dim = None
        self._seen_meta(None)
        self._writes.forget()  # what was written, and what failed to be, went with the collection

    def upsert(self, points: list[StoredPoint]) -> None:
        from qdrant_client import models

        if not points:
            return
        self._check_sizes(points)
        body = [models.PointStruct(id=p.id, vector=_vectors(p.vectors), payload=p.payload) for p in points]
        self._writes.send(f"upsert of {len(points)} point(s)", [p.id for p in points],
                          lambda: self.client.upsert(self.collection, points=body, wait=False))
        self.note_hero_only(points)

    def update_vectors(self, vectors: dict[str, dict]) -> None:
        from qdrant_client import models

        self._check_sizes([StoredPoint(point, named, {}) for point, named in vectors.items()])
        body = [models.PointVectors(id=point, vector=named) for point, named in
                ((point, _vectors(v)) for point, v in vectors.items()) if named]
        if body:
            self._writes.send(f"vector update of {len(body)} point(s)", [p.id for p in body],
                              lambda: self.client.update_vectors(self.collection, points=body, wait=False))

    def overwrite_payload(self, point: str, payload: dict) -> None:
        self._writes.send("payload overwrite", [point], lambda: self.client.overwrite_payload(
            self.collection, payload=payload, points=[point], wait=False))

    def set_payload(self, payloads: dict[str, dict]) -> None:
        from qdrant_client import models

        if not payloads:
            return
        operations = [models.SetPayloadOperation(set_payload=models.SetPayload(payload=keys, points=[point]))
                      for point, keys in payloads.items()]
        self._writes.send(f"payload update of {len(operations)} point(s)", list(payloads),
                          lambda: self.client.batch_update_points(self.collection, operations, wait=False))

    def delete(self, ids: list[str]) -> None:
        from qdrant_client import models

        ids = list(ids)
        for start in range(0, len(ids), DELETE_CHUNK):
            chunk = ids[start:start + DELETE_CHUNK]
            selector = models.PointIdsList(points=chunk)
            self._writes.send(f"delete of {len(chunk)} point(s)", chunk, lambda s=selector: self.client.delete(
                self.collection, points_selector=s, wait=False))

    @property
    def writes_in_flight(self) -> int:
        """Write requests sent and not answered yet: never more than the bound (tests and benchmarks read it)."""
        return self._writes.in_flight

    def _check_sizes(self, points: list[StoredPoint]) -> None:
        """Refuse vectors of the wrong size here: with wait=false Qdrant acknowledges them and then drops the
        points without an error to anyone (qdrant/qdrant#2557), where wait=true answered HTTP 400."""
        if self._dim is None:  # once: meta() sets it (0 when the size is unknown)
            self.meta()
        names = (*VECTOR_NAMES, *MULTI_VECTOR_NAMES, *SPARSE_VECTOR_NAMES)
        for p in points:
            for name, vector in p.vectors.items():
                if name in SPARSE_VECTOR_NAMES:  # no size: any indices; as many values as indices
                    sparse_parts(vector)
                    continue
                rows = vector if name in MULTI_VECTOR_NAMES and is_rows(vector) else [vector]
                sizes = {len(row) for row in rows}
                if name not in names or (self._dim and sizes - {self._dim}):
                    raise StoreError(f"product point {p.id} has a {'/'.join(map(str, sorted(sizes)))}-d {name!r} "
                                     f"vector; the index holds {self._dim}-d vectors named {', '.join(names)}")

    def flush(self) -> None:
        """Wait for every write request, then until the server has applied all of them, on every shard.

        Qdrant answers a wait=false write once it is in the shard's write-ahead log, and each shard applies its
        log in order, one operation after another. So one wait=true operation that reaches every shard, sent
        after every earlier request was acknowledged, returns only once all of them are applied. A write by
        point id reaches one shard; an operation selecting by filter reaches them all. The one sent deletes
        payload key SYNC_KEY from points whose product_id is "" (none: the catalogue readers refuse an empty
        id, and the keyword index answers without a scan), so it changes nothing even if one matched. With
        replicas it returns, as any wait=true write does, once LENS_WRITE_CONSISTENCY replicas of each shard
        have applied it; a read at LENS_READ_CONSISTENCY=majority then sees every write. Afterwards the collection's status is checked: an operation that failed while being applied marks it
        red on the server, and that must not pass as a finished run either.
        """
        from qdrant_client import models

        with self._writes.lock:
            self._writes.drain()  # raises a failed write: the final wait never confirms a run that lost one
            if not self._writes.unapplied:
                return
            self.client.delete_payload(self.collection, keys=[SYNC_KEY], wait=True, points=models.Filter(
                must=[models.FieldCondition(key=PRODUCT_ID, match=models.MatchValue(value=""))]))
            info = self.client.get_collection(self.collection)
            if info.status == models.CollectionStatus.RED:
                problem = getattr(info.optimizer_status, "error", None) or "no reason given"
                raise StoreError(f"the Qdrant server at {self.backend} reports collection {self.collection!r} "
                                 f"failed ({scrub(str(problem), self._url, self._api_key)}); some writes may not "
                                 "be applied. Fix the server (its log says more) and index again: products "
                                 "written already are skipped")
            self._writes.unapplied = False

    @property
    def _consistency(self):
        """How many replicas a read asks (LENS_READ_CONSISTENCY); count has no such parameter in Qdrant's API."""
        return read_consistency(self.search_tuning)

    def count(self, filters=None) -> int:
        self._writes.wait()
        return self.client.count(self.collection, count_filter=_server_filter(filters), exact=True).count

    def _scroll_page(self, filters, payload_keys, with_vectors, page, offset):
        if offset is None:  # before the first page only, as any read: a scroll is one read
            self._writes.wait()
        return self.client.scroll(
            self.collection, scroll_filter=_server_filter(filters), limit=page, offset=offset,
            with_payload=payload_keys or True, with_vectors=with_vectors, consistency=self._consistency)

    def retrieve(self, ids, with_vectors=False) -> list[Hit]:
        self._writes.wait()
        records = self.client.retrieve(self.collection, list(ids), with_payload=True, with_vectors=with_vectors,
                                       consistency=self._consistency)
        return [record_hit(r) for r in records]

    def query(self, query, filters=None, limit=10, offset=0, threshold=None) -> list[Hit]:
        answerable, query = self._answerable(query)
        if not answerable:
            return []
        self._writes.wait()
        r = _server_request(query, _server_filter(filters), limit, offset, threshold, True,
                            search_params(self.search_tuning))
        response = self.client.query_points(
            self.collection, query=r.query, using=r.using, prefetch=r.prefetch, query_filter=r.filter,
            search_params=r.params, limit=r.limit, offset=r.offset, score_threshold=r.score_threshold,
            with_payload=r.with_payload, consistency=self._consistency)
        return [scored_hit(p) for p in response.points]

    def query_batch(self, queries, filters=None, limit=10, threshold=None, payload_keys=None,
                    hnsw_ef=None) -> list[list[Hit]]:
        queries = list(queries)
        if not queries:
            return []
        self._writes.wait()
        tuning = self.search_tuning if hnsw_ef is None else replace(self.search_tuning, hnsw_ef=hnsw_ef)
        flt, params = _server_filter(filters), search_params(tuning)
        checked = [self._answerable(q) for q in queries]
        requests = [_server_request(q, flt, limit, 0, threshold, list(payload_keys) if payload_keys else True,
                                    params) for ok, q in checked if ok]
        answers = self.client.query_batch_points(self.collection, requests=requests,
                                                 consistency=self._consistency) if requests else []
        found = iter(answers)
        return [[scored_hit(p) for p in next(found).points] if ok else [] for ok, _ in checked]

    def facet(self, key, filters=None, limit=100) -> list[tuple[str, int]]:
        self._writes.wait()
        response = self.client.facet(self.collection, key=key, facet_filter=_server_filter(filters),
                                     limit=limit, exact=True, consistency=self._consistency)
        return [(str(h.value), int(h.count)) for h in response.hits]

    def close(self) -> None:
        """Wait for the write requests on the wire (acknowledged writes are safe in the server's log), then
        close the connection. A write that failed and was not raised yet is raised, not dropped with the
        connection; but while another exception is on its way out (close() in an except or finally block), it
        is logged instead, so it never replaces the error that ended the run."""
        failing = sys.exc_info()[1] is not None
        try:
            self._writes.drain()
        except WriteFailed as exc:
            if not failing:
                raise
            logging.getLogger(__name__).warning("also, a write to the index failed: %s", self.explain(exc))
        finally:
            self._writes.shutdown()
            self.client.close()


def collection_config(dim: int, tuning: Tuning) -> dict:
    """create_collection's settings: the named vectors (image, text, the photos multivector), the sparse keyword
    vector (BM25 weights; the engine's IDF modifier), cluster layout, HNSW, int8 and indexing threshold."""
    from qdrant_client import models

    quantization = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
        type=models.ScalarType.INT8, quantile=tuning.quantile, always_ram=tuning.quantized_in_ram)) \
        if tuning.quantize else None
    on_disk = True if tuning.originals_on_disk else None
    vectors = {n: models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=on_disk) for n in VECTOR_NAMES}
    vectors.update({n: models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=on_disk,
                                           multivector_config=_max_sim()) for n in MULTI_VECTOR_NAMES})
    return dict(
        vectors_config=vectors,
        sparse_vectors_config={n: models.SparseVectorParams(modifier=models.Modifier.IDF)
                               for n in SPARSE_VECTOR_NAMES},
        shard_number=tuning.shards, replication_factor=tuning.replicas,
        write_consistency_factor=tuning.write_consistency,
        hnsw_config=models.HnswConfigDiff(m=tuning.m, ef_construct=tuning.ef_construct,
                                          full_scan_threshold=tuning.full_scan_kb),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=tuning.index_kb(dim)),
        quantization_config=quantization)


def _vectors(vectors: dict) -> dict:
    """A point's vectors as qdrant-client takes them (base.point_vectors with its SparseVector)."""
    from qdrant_client import models

    return point_vectors(vectors, lambda indices, values: models.SparseVector(indices=indices, values=values))


def _max_sim():
    """The photos multivector's comparison: a product scores by its best-matching photo (MaxSim)."""
    from qdrant_client import models

    return models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)


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


def _vector_size(info) -> int:
    """The size of the collection's named vectors (0 when it has none of ours), from get_collection."""
    vectors = info.config.params.vectors
    params = vectors.get(VECTOR_NAMES[0]) if isinstance(vectors, dict) else None
    return int(params.size) if params is not None else 0


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
    must += [models.FieldCondition(key=k, match=models.MatchValue(value=v))
             for k, values in filters.every.items() for v in values]
    must_not = [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in filters.exclude.items()]
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=list(filters.exclude_ids)))
    return models.Filter(must=must or None, must_not=must_not or None)


def _server_request(query, flt, limit: int, offset: int, threshold: float | None, with_payload, params):
    """One QueryRequest: the same for a single query (query_points) and each query of a batch. The threshold is a
    dense similarity's: a Sparse query or branch (a BM25 score) never gets it (ProductStore.query)."""
    from qdrant_client import models

    if isinstance(query, Fused):
        prefetch = []
        for q, n in query.branches:
            body, using = _server_query(q)
            prefetch.append(models.Prefetch(query=body, using=using, filter=flt, limit=n,
                                            score_threshold=dense_threshold(q, threshold), params=params))
        rrf = models.RrfQuery(rrf=models.Rrf(k=RRF_K))
        if query.diverse is None:
            return models.QueryRequest(prefetch=prefetch, query=rrf, filter=flt, limit=limit, offset=offset,
                                       with_payload=with_payload)
        fused = models.Prefetch(prefetch=prefetch, query=rrf, filter=flt, limit=query.diverse.candidates)
        body, using = _server_query(query.diverse)
        return models.QueryRequest(prefetch=[fused], query=body, using=using, filter=flt, limit=limit,
                                   offset=offset, with_payload=with_payload, params=params)
    body, using = _server_query(query)
    return models.QueryRequest(query=body, using=using, filter=flt, limit=limit, offset=offset,
                               score_threshold=dense_threshold(query, threshold), with_payload=with_payload,
                               params=params)



def _server_query(query):
    from qdrant_client import models

    if query is None:  # no vector, no order: the engine's own order (stable between pages)
        return None, None
    if isinstance(query, Ordered):
        return models.OrderByQuery(order_by=models.OrderBy(
            key=query.key, direction=models.Direction.DESC if query.descending else models.Direction.ASC)), None
    if isinstance(query, Nearest):
        return query_vector(query.vector, query.using), query.using
    if isinstance(query, Sparse):
        indices, values = sparse_parts(query)
        return models.SparseVector(indices=indices, values=values), query.using
    if isinstance(query, Recommend):
        return models.RecommendQuery(recommend=models.RecommendInput(
            positive=[query_vector(v, query.using) for v in query.positives],
            negative=[query_vector(v, query.using) for v in query.negatives],
            strategy=models.RecommendStrategy.BEST_SCORE)), query.using
    if isinstance(query, Diverse):
        return models.NearestQuery(nearest=query_vector(query.vector, query.using),
                                   mmr=models.Mmr(diversity=query.diversity,
                                                  candidates_limit=query.candidates)), query.using
    raise TypeError(f"unsupported query {query!r}")
