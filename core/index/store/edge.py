"""The embedded backend: the real Qdrant engine in-process (qdrant-edge), one shard under the data dir."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

from core.common.errors import IndexBusy, NotIndexed, StoreError
from core.common.files import atomic_write, copy_tree_sparse
from core.common.filters import Filters
from core.common.locks import FileLock, LockBusy
from core.common.fields import LOOKUP_KEYS, TERMS
from core.index.store.base import (KEYWORD, MULTI_VECTOR_NAMES, RRF_K, SPARSE_VECTOR_NAMES, VECTOR_NAMES, Diverse,
                                   Fused, Hit, Nearest, Ordered, ProductStore, Recommend, Sparse, StoredPoint,
                                   dense_threshold, point_vectors, query_vector, record_hit, scored_hit, sparse_parts)
from core.index.store.tuning import Overrides, Tuning


SNAPSHOT_WAIT_S = 60  # a read-only command waits this long for another reader of the same snapshot


class EdgeStore(ProductStore):
    """The real Qdrant engine in-process: an EdgeShard under data_dir/collection/.

    One process at a time: an OS lock (data_dir/.<collection>.lock) is taken before the engine touches any
    file and held until close(). The engine's own lock comes too late: a refused load has already rewritten
    the holder's journal files. After each indexing run the holder publishes a copy of the shard
    (collection/snapshots/), which read-only commands in other processes open instead of the live files.
    """

    backend = "embedded"

    def __init__(self, data_dir: Path, collection: str = "products", overrides: Overrides | None = None):
        self.data_dir = Path(data_dir)
        self.overrides = overrides or Overrides()
        self.collection = collection
        self.root = self.data_dir / collection
        self.shard_dir = self.root / "shard"
        self.meta_file = self.root / "lens.json"
        self.snapshots = self.root / "snapshots"
        self.read_only = False  # True for a snapshot_reader's copy
        self.note = ""  # what a read-only command should tell the user about where its data came from
        self._owner = FileLock(self.data_dir / f".{collection}.lock")
        self._shard = None
        self._marked_dirty = False
        self._lock = threading.RLock()  # one shard object shared by every Streamlit session

    # ---- the process lock and the live shard ----

    def acquire(self) -> None:
        """Take the data dir's lock for this store's lifetime, or refuse at once (IndexBusy) with who holds it; a lock
        file that cannot be opened (a read-only or full data dir) is a StoreError naming that cause."""
        if self.read_only or self._owner.held:
            return
        try:
            self._owner.acquire(timeout=0)
        except LockBusy as exc:
            raise IndexBusy(f"the index at {self.root} is open in another process ({exc.holder or 'unknown'}): "
                            "stop it (or index from the app's Catalog page), or use a Qdrant server "
                            "(QDRANT_URL). Read-only commands (stats, search, facets, duplicates) still work: "
                            "they read the copy the other process published.") from None

    @property
    def shard(self):
        with self._lock:
            if self._shard is None:
                if not self.meta_file.exists():
                    raise NotIndexed("there is no index yet: run `python -m core index --catalog <csv>` first")
                from qdrant_edge import EdgeShard

                self.acquire()
                try:
                    self._shard = EdgeShard.load(str(self.shard_dir))
                except Exception as exc:
                    raise StoreError(f"cannot open the embedded index at {self.shard_dir}: {exc}; "
                                     "rebuild it with --recreate") from exc
                if not self.read_only and not self._snapshot_current():
                    self.publish()
            return self._shard

    def meta(self) -> dict | None:
        try:
            meta = json.loads(self.meta_file.read_text())
        except FileNotFoundError:
            self._seen_meta(None)
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(f"index metadata {self.meta_file} is unreadable ({exc}); re-index with --recreate") from exc
        self._seen_meta(meta)
        return meta

    def update_meta(self, **changes) -> None:
        self._writable()
        with self._lock:
            self.acquire()
            meta = self.meta() or {}
            meta.update(changes)
            atomic_write(self.meta_file, json.dumps(meta, indent=2))
            self._seen_meta(meta)

    def list_collections(self) -> list[str]:
        """The folders of the data dir: one per collection (a lock file beside each is not a folder)."""
        if not self.data_dir.is_dir():
            return []
        return sorted(p.name for p in self.data_dir.iterdir() if p.is_dir())

    def _create(self, dim: int, meta: dict, tuning: Tuning, indexes: list[tuple[str, str]]) -> None:
        from qdrant_edge import EdgeShard

        self._writable()
        with self._lock:
            self.acquire()  # before any file is touched: two first runs on a fresh data dir must not both create
            self._close_shard()
            if self.shard_dir.exists():
                shutil.rmtree(self.shard_dir)
            self.shard_dir.mkdir(parents=True)
            shard = EdgeShard.create(str(self.shard_dir), edge_config(dim, tuning))
            for operation in _index_operations(indexes):
                shard.update(operation)
            shard.flush()
            self._shard = shard
            self._marked_dirty = False  # fresh metadata has no dirty flag yet
            # Metadata last: a crash before this point leaves no half-made index that looks valid.
            atomic_write(self.meta_file, json.dumps(meta, indent=2))

    def drop(self) -> None:
        self._writable()
        with self._lock:
            self.acquire()  # holding the lock proves no other process has the shard open
            self._close_shard()
            shutil.rmtree(self.root, ignore_errors=True)  # the lock file lives outside root, so it stays held
            self._seen_meta(None)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError("this is a read-only copy of the index (another process has it open); "
                             "stop that process to change the index")

    def _changing(self) -> None:
        """Before a write: mark the published copy out of date, once per run of writes (the flag is remembered
        here, so a run of per-product payload rewrites reads the metadata file once, not once per product)."""
        self._writable()
        if self._marked_dirty:
            return
        if not (self.meta() or {}).get("dirty"):
            self.update_meta(dirty=True)
        self._marked_dirty = True

    # ---- snapshots: what other processes read while this one holds the index ----

    def _current_snapshot(self) -> str:
        try:
            return (self.snapshots / "current").read_text().strip()
        except OSError:
            return ""

    def _snapshot_current(self) -> bool:
        meta = self.meta() or {}
        name = self._current_snapshot()
        return bool(name) and not meta.get("dirty") and meta.get("snapshot") == name \
            and (self.snapshots / name / "shard").is_dir()

    def publish(self) -> None:
        """Build the vector indexes that are due, then copy the flushed shard and its metadata to a new
        snapshot, make it current, drop unread old ones.

        Building first means every indexing run (which ends here) leaves HNSW and int8 vectors for each
        segment past the indexing threshold, in the live shard and in the copy. When nothing was written since
        the current copy, only its metadata is refreshed (an unchanged re-index must not copy the whole index).
        """
        self._writable()
        with self._lock:
            shard = self.shard
            self.optimize()
            if self._snapshot_current():
                current = self.snapshots / self._current_snapshot()
                atomic_write(current / "lens.json", json.dumps(dict(self.meta() or {}, published=time.time()), indent=2))
                self._drop_old_snapshots(keep=current.name)
                return
            shard.flush()
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
            staging = self.snapshots / f".{name}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            copy_tree_sparse(self.shard_dir, staging / "shard")
            meta = dict(self.meta() or {}, snapshot=name, dirty=False, published=time.time())
            self._marked_dirty = False
            atomic_write(staging / "lens.json", json.dumps(meta, indent=2))
            os.replace(staging, self.snapshots / name)
            atomic_write(self.meta_file, json.dumps(meta, indent=2))
            atomic_write(self.snapshots / "current", name)
            self._drop_old_snapshots(keep=name)

    def _drop_old_snapshots(self, keep: str) -> None:
        """Delete every snapshot but `keep`, except one another process is reading (it goes next time)."""
        for old in self.snapshots.iterdir():
            if old.is_dir() and old.name != keep:
                reader = FileLock(old / ".reader.lock")
                try:
                    reader.acquire(timeout=0)
                except (LockBusy, OSError):
                    continue
                try:
                    shutil.rmtree(old, ignore_errors=True)
                finally:
                    reader.release()

    @classmethod
    def snapshot_reader(cls, data_dir: Path, collection: str = "products",
                        overrides: Overrides | None = None) -> "EdgeStore":
        """A read-only store over the latest published snapshot; a second reader waits for the first."""
        store = cls(data_dir, collection, overrides)
        for _attempt in range(3):
            name = store._current_snapshot()
            if not name:
                break
            folder = store.snapshots / name
            reader = FileLock(folder / ".reader.lock")
            if not folder.is_dir():
                continue
            try:
                reader.acquire(timeout=SNAPSHOT_WAIT_S)
            except LockBusy:
                raise StoreError(f"the index's published copy {folder} is busy with another read-only command; "
                                 "try again") from None
            if not (folder / "shard").is_dir():  # replaced and removed between reading its name and locking it
                reader.release()
                continue
            store.root, store.shard_dir, store.meta_file = folder, folder / "shard", folder / "lens.json"
            store.read_only, store._owner = True, reader
            published = (store.meta() or {}).get("published")
            store.note = ("the index is open in another process: read its copy published "
                          + (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(published)) if published else "earlier"))
            return store
        raise StoreError(f"the index at {store.root} is open in another process, which has not published a "
                         "readable copy yet; wait for it to finish indexing, or stop it")

    def _add_photo_vectors(self, dim: int) -> None:
        from qdrant_edge import Distance, MultiVectorComparator, MultiVectorConfig, UpdateOperation

        with self._lock:
            self._changing()
            for name in MULTI_VECTOR_NAMES:
                self.shard.update(UpdateOperation.create_dense_vector(
                    name, dim, Distance.Cosine, MultiVectorConfig(MultiVectorComparator.MaxSim)))
            self.shard.flush()

    def lacking_photo_vectors(self) -> int:
        from qdrant_edge import CountRequest, Filter, HasVectorCondition

        lacking = Filter(must=[HasVectorCondition(VECTOR_NAMES[0])],
                         must_not=[HasVectorCondition(name) for name in MULTI_VECTOR_NAMES])
        with self._lock:
            return self.shard.count(CountRequest(exact=True, filter=lacking))

    def _add_keyword_vectors(self) -> None:
        from qdrant_edge import Modifier, UpdateOperation

        with self._lock:
            self._changing()
            for name in SPARSE_VECTOR_NAMES:
                self.shard.update(UpdateOperation.create_sparse_vector(name, Modifier.Idf))
            self.shard.flush()

    def lacking_keyword_vectors(self) -> int:
        from qdrant_edge import CountRequest, Filter, HasVectorCondition, IsEmptyCondition

        lacking = Filter(must=[IsEmptyCondition(TERMS), IsEmptyCondition(LOOKUP_KEYS)],
                         must_not=[HasVectorCondition(name) for name in SPARSE_VECTOR_NAMES])
        with self._lock:
            return self.shard.count(CountRequest(exact=True, filter=lacking))

    def _create_indexes(self, indexes: list[tuple[str, str]]) -> None:
        with self._lock:
            self._changing()
            for operation in _index_operations(indexes):  # creating an index that exists is harmless here (checked)
                self.shard.update(operation)
            self.shard.flush()

    def upsert(self, points: list[StoredPoint]) -> None:
        from qdrant_edge import Point, UpdateOperation

        if not points:
            return
        with self._lock:
            self._changing()
            self.shard.update(UpdateOperation.upsert_points(
                [Point(p.id, _vectors(p.vectors), p.payload) for p in points]))
            self.shard.flush()
        self.note_hero_only(points)

    def update_vectors(self, vectors: dict[str, dict]) -> None:
        from qdrant_edge import PointVectors, UpdateOperation

        body = [PointVectors(point, named) for point, named in
                ((point, _vectors(v)) for point, v in vectors.items()) if named]
        if not body:
            return
        with self._lock:
            self._changing()
            self.shard.update(UpdateOperation.update_vectors(body))
            self.shard.flush()

    def overwrite_payload(self, point: str, payload: dict) -> None:
        from qdrant_edge import UpdateOperation

        with self._lock:
            self._changing()
            self.shard.update(UpdateOperation.overwrite_payload([point], payload))
            self.shard.flush()

    def set_payload(self, payloads: dict[str, dict]) -> None:
        from qdrant_edge import UpdateOperation

        if not payloads:
            return
        with self._lock:
            self._changing()
            for point, keys in payloads.items():
                self.shard.update(UpdateOperation.set_payload([point], keys))
            self.shard.flush()

    def delete(self, ids: list[str]) -> None:
        from qdrant_edge import UpdateOperation

        if ids:
            with self._lock:
                self._changing()
                self.shard.update(UpdateOperation.delete_points(list(ids)))
                self.shard.flush()

    def count(self, filters: Filters | None = None) -> int:
        from qdrant_edge import CountRequest

        with self._lock:
            return self.shard.count(CountRequest(exact=True, filter=_edge_filter(filters)))

    def _scroll_page(self, filters, payload_keys, with_vectors, page, offset):
        from qdrant_edge import PayloadSelector, ScrollRequest

        with_payload = PayloadSelector.Include(payload_keys) if payload_keys else True
        with self._lock:  # a page at a time: other sessions' reads and writes go between pages
            return self.shard.scroll(ScrollRequest(offset=offset, limit=page, filter=_edge_filter(filters),
                                                   with_payload=with_payload, with_vector=with_vectors))

    def retrieve(self, ids: list[str], with_vectors: bool = False) -> list[Hit]:
        with self._lock:
            records = self.shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [record_hit(r) for r in records]

    def query(self, query, filters=None, limit=10, offset=0, threshold=None) -> list[Hit]:
        answerable, query = self._answerable(query)
        if not answerable:
            return []
        request = _edge_request(query, _edge_filter(filters), limit, offset, threshold, True,
                                edge_search_params(self.search_tuning))
        with self._lock:
            points = self.shard.query(request)
        return [scored_hit(p) for p in points]

    def query_batch(self, queries, filters=None, limit=10, threshold=None, payload_keys=None,
                    hnsw_ef=None) -> list[list[Hit]]:
        from qdrant_edge import PayloadSelector, QueryBatchRequest

        queries = list(queries)
        if not queries:
            return []
        tuning = self.search_tuning if hnsw_ef is None else replace(self.search_tuning, hnsw_ef=hnsw_ef)
        flt, params = _edge_filter(filters), edge_search_params(tuning)
        with_payload = PayloadSelector.Include(list(payload_keys)) if payload_keys else True
        checked = [self._answerable(q) for q in queries]
        requests = [_edge_request(q, flt, limit, 0, threshold, with_payload, params) for ok, q in checked if ok]
        answers = []
        if requests:
            with self._lock:
                answers = self.shard.query_batch(QueryBatchRequest(requests))
        found = iter(answers)
        return [[scored_hit(p) for p in next(found)] if ok else [] for ok, _ in checked]

    def facet(self, key, filters=None, limit=100) -> list[tuple[str, int]]:
        from qdrant_edge import FacetRequest

        with self._lock:
            # exact=False reads the keyword index's value counts: 3-100x faster, and on this engine equal to the
            # exact counts for keyword fields, including after updates, deletes and optimisation (checked at
            # 50,000 points; tests/test_search.py pins the counts against a brute-force tally).
            response = self.shard.facet(FacetRequest(key=key, limit=limit, exact=False, filter=_edge_filter(filters)))
        return [(str(h.value), int(h.count)) for h in response.hits]

    def optimize(self) -> bool:
        """Build HNSW and int8 vectors for every segment past the indexing threshold; True when it built any.

        Incremental: only segments that grew past the threshold are built. It costs microseconds when nothing
        is due, so call it freely at the end of an indexing run (publish() calls it as well). Queries from
        other sessions wait while it builds. A read-only copy is never changed.
        """
        if self.read_only:
            return False
        with self._lock:
            built = bool(self.shard.optimize())
            if built:  # the files changed: the published copy is out of date
                self.update_meta(dirty=True)
                self._marked_dirty = True
            return built

    def close(self) -> None:
        """Flush and close the shard, then release the process lock, even when the engine fails to close."""
        with self._lock:
            try:
                self._close_shard()
            finally:
                self._owner.release()

    def _close_shard(self) -> None:
        if self._shard is not None:
            shard, self._shard = self._shard, None
            try:
                if not self.read_only:
                    shard.flush()
            finally:
                shard.close()


def _vectors(vectors: dict) -> dict:
    """A point's vectors as the engine takes them (base.point_vectors with its SparseVector)."""
    from qdrant_edge import SparseVector

    return point_vectors(vectors, SparseVector)


def edge_config(dim: int, tuning: Tuning):
    """The engine's configuration for a new shard: the named vectors (image, text, the photos multivector), the
    sparse keyword vector (BM25 weights; the engine's IDF modifier), HNSW, int8, memory, indexing threshold."""
    from qdrant_edge import (Distance, EdgeConfig, EdgeOptimizersConfig, EdgeSparseVectorParams, EdgeVectorParams,
                             HnswIndexConfig, Memory, Modifier, MultiVectorComparator, MultiVectorConfig,
                             ScalarQuantizationConfig, ScalarType)

    originals = Memory.Cold if tuning.originals_on_disk else None  # None: the engine's default, Cached
    quantization = ScalarQuantizationConfig(
        type=ScalarType.Int8, quantile=tuning.quantile,
        memory=Memory.Pinned if tuning.quantized_in_ram else Memory.Cached) if tuning.quantize else None
    # The photos multivector shares the collection's HNSW and int8 settings: qdrant-edge-py 0.9.0 builds both for
    # it (README, "Every photo of a product"), and every query rescores, so its scores are exact MaxSim.
    multi = MultiVectorConfig(MultiVectorComparator.MaxSim)
    vectors = {name: EdgeVectorParams(size=dim, distance=Distance.Cosine, memory=originals) for name in VECTOR_NAMES}
    vectors.update({name: EdgeVectorParams(size=dim, distance=Distance.Cosine, memory=originals,
                                           multivector_config=multi) for name in MULTI_VECTOR_NAMES})
    return EdgeConfig(
        vectors=vectors,
        sparse_vectors={name: EdgeSparseVectorParams(modifier=Modifier.Idf) for name in SPARSE_VECTOR_NAMES},
        hnsw_config=HnswIndexConfig(m=tuning.m, ef_construct=tuning.ef_construct,
                                    full_scan_threshold=tuning.full_scan_kb),
        quantization_config=quantization,
        optimizers=EdgeOptimizersConfig(indexing_threshold=tuning.index_kb(dim)))


def _index_operations(indexes: list[tuple[str, str]]) -> list:
    """The engine's operations that make these payload indexes ((key, KEYWORD or NUMBER))."""
    from qdrant_edge import PayloadSchemaType, UpdateOperation

    return [UpdateOperation.create_field_index(
        key, PayloadSchemaType.Keyword if kind == KEYWORD else PayloadSchemaType.Float) for key, kind in indexes]


def edge_search_params(tuning: Tuning):
    """Search parameters for every query. Rescore and oversampling are always explicit: on qdrant-edge-py 0.9.0
    a query without them ranked by the int8 scores alone (tests/test_store_tuning.py shows the difference)."""
    from qdrant_edge import QuantizationSearchParams, SearchParams

    return SearchParams(hnsw_ef=tuning.hnsw_ef, quantization=QuantizationSearchParams(
        rescore=tuning.rescore, oversampling=tuning.oversampling))


def _edge_filter(filters: Filters | None):
    from qdrant_edge import (FieldCondition, Filter, HasIdCondition, IsEmptyCondition, MatchAny, MatchValue,
                             RangeFloat)

    if not filters:
        return None
    must = [FieldCondition(key=k, match=MatchAny(list(v))) for k, v in filters.include.items()]
    must += [FieldCondition(key=k, range=RangeFloat(gte=low, lte=high)) for k, (low, high) in filters.ranges.items()]
    must += [IsEmptyCondition(key=k) for k in filters.lacking]
    must += [FieldCondition(key=k, match=MatchValue(v)) for k, values in filters.every.items() for v in values]
    must_not = [FieldCondition(key=k, match=MatchAny(list(v))) for k, v in filters.exclude.items()]
    if filters.exclude_ids:
        must_not.append(HasIdCondition(set(filters.exclude_ids)))
    return Filter(must=must or None, must_not=must_not or None)


def _edge_request(query, flt, limit: int, offset: int, threshold: float | None, with_payload, params):
    """One QueryRequest: the same for a single query and for each query of a batch. The threshold is a dense
    similarity's: a Sparse query or branch (a BM25 score) never gets it (ProductStore.query)."""
    from qdrant_edge import Fusion, Prefetch, QueryRequest

    if isinstance(query, Fused):
        branches = [Prefetch(limit=n, query=_edge_query(q), filter=flt,
                             score_threshold=dense_threshold(q, threshold), params=params) for q, n in query.branches]
        if query.diverse is None:
            return QueryRequest(limit=limit, offset=offset, filter=flt, with_payload=with_payload,
                                prefetches=branches, query=Fusion.Rrf(k=RRF_K))
        fused = Prefetch(limit=query.diverse.candidates, prefetches=branches, query=Fusion.Rrf(k=RRF_K), filter=flt)
        return QueryRequest(limit=limit, offset=offset, filter=flt, with_payload=with_payload, prefetches=[fused],
                            query=_edge_query(query.diverse), params=params)
    return QueryRequest(limit=limit, offset=offset, filter=flt, with_payload=with_payload,
                        query=_edge_query(query), score_threshold=dense_threshold(query, threshold), params=params)



def _edge_query(query):
    from qdrant_edge import Direction, Mmr, OrderBy, Query, RecommendQuery, SparseVector

    if query is None:  # no vector, no order: the engine's own order (stable between pages)
        return None
    if isinstance(query, Ordered):
        return OrderBy(query.key, Direction.Desc if query.descending else Direction.Asc)
    if isinstance(query, Nearest):
        return Query.Nearest(query_vector(query.vector, query.using), using=query.using)
    if isinstance(query, Sparse):
        return Query.Nearest(SparseVector(*sparse_parts(query)), using=query.using)
    if isinstance(query, Recommend):
        return Query.RecommendBestScore(
            RecommendQuery([query_vector(v, query.using) for v in query.positives],
                           [query_vector(v, query.using) for v in query.negatives]), using=query.using)
    if isinstance(query, Diverse):
        # Edge's lambda is the weight of relevance: lambda = 1 - diversity, as on the server.
        return Mmr(query_vector(query.vector, query.using), lambda_=1.0 - query.diversity,
                   candidates_limit=query.candidates, using=query.using)
    raise TypeError(f"unsupported query {query!r}")
