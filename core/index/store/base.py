"""Backend-neutral store shapes: query types, hits, points, the ProductStore interface (with what both engines
share: paging, payload-index planning) and the wrapping of engine errors."""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence, Union

from core.index.compat import require_same_model
from core.common.errors import LensError, NotIndexed, StoreError
from core.common.fields import LOOKUP_KEYS, PHOTO_VECTORS, PRODUCT_ID, STANDARD_FILTERS, STATUS, TERMS, Schema
from core.common.filters import Filters
from core.index.store.tuning import Overrides, Tuning, tuning_for

VECTOR_NAMES = ("image", "text")        # one vector per product: the hero photo's and the text's
MULTI_VECTOR_NAMES = (PHOTO_VECTORS,)   # several rows per product, compared by MaxSim: every matched photo
# Metadata flags: the collection has the photos multivector (an index made before issue 21 gets it on its next
# run), and every product with a photo has its rows (set at the end of each run), so searches may use it.
HAS_PHOTO_VECTORS, MULTI_PHOTO = "photo_vectors", "multi_photo"
# The keyword index (issue 22): a sparse vector per product, BM25 term weights with the engine's IDF modifier
# (core.index.keywords makes them). Metadata flags: the collection has the sparse vector (an older index gets it
# added on its next run), and every product has its keyword vector (set at the end of each run; until then a
# search says the keyword index is incomplete).
# IDF = ln(1 + (N - n + 0.5) / (n + 0.5)), N the points with a keyword vector, n those holding the term, counted by
# the engine at query time. A deleted (or rewritten) product still counts in both until the segment holding it is
# vacuumed (the optimizer's deleted_threshold, 20% by default): Qdrant keeps posting lists immutable and counts
# the indexed vectors so that N and n stay consistent (qdrant/qdrant#6739); qdrant-edge 0.9.0 does the same, while
# qdrant-client's local mode counts the live products at once (tests/test_keyword_store.py pins both).
KEYWORD_VECTORS = "keywords"
SPARSE_VECTOR_NAMES = (KEYWORD_VECTORS,)
HAS_KEYWORD_VECTORS, KEYWORDS_COMPLETE = "keyword_vectors", "keywords_complete"
KEYWORD, NUMBER = "keyword", "number"  # the kinds of payload index a store makes (filters and facets; ranges, order)
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
class Sparse:
    """Nearest by dot product in a sparse space: a keyword query (BM25: weight 1 per query term, times the engine's
    IDF of each term). `indices` and `values` as core.index.keywords.query_weights gives them."""

    indices: tuple
    values: tuple
    using: str = KEYWORD_VECTORS


@dataclass(frozen=True)
class Fused:
    """Reciprocal rank fusion of several prefetches, each (query, limit); a branch may be Sparse (keywords).

    diverse: when set, the fused list's top `diverse.candidates` are re-ranked by maximal marginal relevance around
    `diverse.vector` in `diverse.using`, inside the engine (the fusion is a nested prefetch, the final query MMR), so
    a diverse text search stays one request. Its `diversity` is MMR's, as for a Diverse query."""

    branches: tuple
    diverse: Diverse | None = None


@dataclass(frozen=True)
class Ordered:
    """No vector: products ordered by a number field (products without the field are left out, as in Qdrant)."""

    key: str
    descending: bool = False


Query = Union[Nearest, Recommend, Diverse, Sparse, Fused, Ordered]


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


def is_rows(vector) -> bool:
    """Whether a vector is a matrix (a list of rows, as a multivector), not one vector."""
    return len(vector) > 0 and hasattr(vector[0], "__len__")


def query_vector(vector, using: str) -> list:
    """A query's vector as both engines take it: for a multivector, a one-row matrix (MaxSim of one row is its
    best cosine over the product's photos; qdrant-client's local mode refuses a flat vector there); several rows
    would SUM each row's best match, so a product with several photos as the query is one query per photo
    (core.search.query.best_pair_hits)."""
    if using in MULTI_VECTOR_NAMES:
        return [list(map(float, row)) for row in (vector if is_rows(vector) else [vector])]
    return list(map(float, vector))


def dense_threshold(query, threshold: float | None) -> float | None:
    """A query's (or Fused branch's) score threshold: none for a Sparse one, whose BM25 score is no similarity
    (ProductStore.query)."""
    return None if isinstance(query, Sparse) else threshold


def point_vectors(vectors: dict, sparse) -> dict:
    """A point's vectors as the engines take them: float lists, a multivector as rows, a sparse vector (any object
    with .indices and .values, as core.index.keywords.KeywordDocument) as `sparse(indices, values)`, the engine's
    own type. An empty multivector is left out, as a point without a photo has no 'image'; so is an empty sparse
    vector (a product without a word): the engines count an empty one differently in the IDF's N (the embedded
    engine leaves it out, qdrant-client's local mode counts it), and left out, N is the products with a word on both."""
    out = {}
    for name, vector in vectors.items():
        if name in SPARSE_VECTOR_NAMES:
            indices, values = sparse_parts(vector)
            if indices:
                out[name] = sparse(indices, values)
        elif name in MULTI_VECTOR_NAMES:
            if len(vector):
                out[name] = [list(map(float, row)) for row in vector]
        else:
            out[name] = list(map(float, vector))
    return out


def sparse_parts(vector) -> tuple[list[int], list[float]]:
    """A sparse vector's (indices, values) as int and float lists; a clear error when they differ in length."""
    indices, values = [int(i) for i in vector.indices], [float(v) for v in vector.values]
    if len(indices) != len(values):
        raise StoreError(f"a sparse vector has {len(indices)} indices and {len(values)} values")
    return indices, values


def standard_indexes() -> list[tuple[str, str]]:
    """The payload indexes every new collection gets: product ids, the six standard filters, status, and the
    keyword index's terms and lookup keys, as keywords.

    status is indexed whether or not the catalogue has one: every default view excludes drafts and archived
    products (Filters.visible), and without an index the embedded engine checks that condition point by point,
    ~28 ms a query at 20,000 products against ~1 ms with it (measured while building issue 22)."""
    return [(key, KEYWORD) for key in (PRODUCT_ID, *STANDARD_FILTERS, STATUS)] + keyword_indexes()


def keyword_indexes() -> list[tuple[str, str]]:
    """The keyword index's payload indexes: a product's stems ("holds every query word" is an exact filter) and its
    exact-lookup keys (SKU, handle, id)."""
    return [(TERMS, KEYWORD), (LOOKUP_KEYS, KEYWORD)]


def missing_indexes(known: Schema, wanted: Schema) -> list[tuple[str, str]]:
    """(key, kind) for each field of `wanted` that `known` has no index for: keywords first, then numbers."""
    return [(key, KEYWORD) for key in wanted.keyword if key not in known.keyword] + \
        [(key, NUMBER) for key in wanted.number if key not in known.number]


def record_hit(record) -> Hit:
    """A scrolled or retrieved record (either engine's: id, payload, vector) as a Hit."""
    return Hit(str(record.id), 0.0, record.payload or {}, named_vectors(record.vector))


def scored_hit(point) -> Hit:
    """A query's scored point (either engine's: id, score, payload) as a Hit."""
    return Hit(str(point.id), float(point.score), point.payload or {})


def named_vectors(vector) -> dict:
    """A record's vectors as {name: vector}; {} when none were asked for."""
    return dict(vector) if isinstance(vector, dict) else {}


def engine_neutral(fn):
    """Mark a public method that never calls the engine, so it is not wrapped (explain builds the wrapper's own
    message: wrapping it would turn its failure into a call to itself). Overrides inherit the mark."""
    fn.engine_neutral = True
    return fn


class ProductStore(ABC):
    """Shared behaviour; subclasses translate to their engine's API.

    Every public method of a subclass, its own or inherited, turns an engine or network exception into a
    StoreError naming the method (wrap_engine_errors, applied when the subclass is made), so no raw traceback
    reaches a user and a method added later is covered without being listed anywhere. Domain errors
    (LensError: StoreError, NotIndexed, ModelMismatch...) pass through unchanged.
    """

    backend: str = ""
    note: str = ""  # set when the data shown comes from somewhere a user should know about (a snapshot)
    read_only: bool = False  # a read-only copy (the embedded engine's published snapshot): writes are refused
    overrides: Overrides = Overrides()  # the user's scale settings (LENS_QUANTIZATION, LENS_HNSW_EF, LENS_SHARDS...)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        wrap_engine_errors(cls)

    @property
    def search_tuning(self) -> Tuning:
        """Query-time parameters (hnsw_ef, rescore, oversampling, read consistency): the same at every size."""
        return tuning_for(None, self.overrides)

    def ensure(self, model: str, dim: int, recreate: bool = False, expected_points: int | None = None,
               marks: dict | None = None) -> dict:
        """Open or create the collection for this model; a different model is a clear error. `marks` go into a
        new collection's first metadata, in the same write (a reference catalogue's owner: never a collection
        that exists unmarked because a process died between two writes).

        A new collection gets the scale settings for `expected_points` products (core.index.store.tuning; None when
        the caller does not know, which suits any size). An existing one keeps the settings it was made with,
        also when another process (a worker of a --part run) created it after meta() saw none.
        """
        if recreate:
            self.drop()  # without reading the old metadata: it may be what is broken
        meta = self.meta()
        if meta is None:
            tuning = tuning_for(expected_points, self.overrides)
            meta = {"model": model, "dim": int(dim), "created": time.time(), "last_indexed": None,
                    "tuning": tuning.as_meta(), HAS_PHOTO_VECTORS: True, MULTI_PHOTO: True,
                    HAS_KEYWORD_VECTORS: True, KEYWORDS_COMPLETE: True, **(marks or {})}
            theirs = self._create(int(dim), meta, tuning, standard_indexes())
            if theirs is None:
                self._seen_meta(meta)  # made here, never read back
                return meta
            meta = theirs  # checked below like any existing index: the other worker may use another model
        require_same_model(meta, model, dim)
        if not meta.get(HAS_PHOTO_VECTORS) and not self.read_only:
            # An index made before every photo was kept: the vector name is added in place (both engines can, so
            # nothing is copied); its products get their rows on this run, and searches use the hero's 'image'
            # vector until every product has them (multi_photo).
            self._add_photo_vectors(int(dim))
            self.update_meta(**{HAS_PHOTO_VECTORS: True, MULTI_PHOTO: False, "photo_vectors_added": time.time()})
            meta = self.meta() or meta
        if not meta.get(HAS_KEYWORD_VECTORS) and not self.read_only:
            # An index made before the keyword index (issue 22): the sparse vector and its two payload indexes are
            # added in place, its points keep theirs; the next run gives each product its keyword vector
            # (update_vectors, no photo embedded again), and searches say the keyword index is incomplete until
            # check_keywords finds none lacking.
            self._add_keyword_vectors()
            self._create_indexes(keyword_indexes() + [(STATUS, KEYWORD)])  # status: see standard_indexes
            self.update_meta(**{HAS_KEYWORD_VECTORS: True, KEYWORDS_COMPLETE: False,
                                "keyword_vectors_added": time.time()})
            meta = self.meta() or meta
        self._seen_meta(meta)
        return meta

    @property
    def multi_photo(self) -> bool:
        """True when every product with a photo has its photos multivector: searches may then match on "photos"
        (the best photo); until then on the hero's "image", so no search silently misses an older product.

        Remembered per store object (_seen_meta), so a photo query or an upsert costs no metadata read (two
        requests on a server): refreshed whenever this object reads or writes its metadata (meta(), update_meta(),
        so ensure(), check_multi_photo() at the end of an index run and note_hero_only()). Another process's
        change is seen by a new store object, or by this one's next meta() read (a page's require_meta, a reload)."""
        known = getattr(self, "_multi_photo", None)
        if known is None:
            self.meta()  # remembers the flag (_seen_meta)
            known = getattr(self, "_multi_photo", None)
        return bool(known)

    @property
    def keywords_complete(self) -> bool:
        """True when every product has its keyword vector (a new index; an older one once check_keywords finds none
        lacking): until then a keyword search misses the products indexed before, and search says so.

        Remembered per store object as multi_photo is, and refreshed the same way (meta(), update_meta())."""
        known = getattr(self, "_keywords_complete", None)
        if known is None:
            self.meta()  # remembers the flag (_seen_meta)
            known = getattr(self, "_keywords_complete", None)
        return bool(known)

    def _seen_meta(self, meta: dict | None) -> None:
        """Remember the flags read from, or written to, the metadata (multi_photo, keywords_complete, whether the
        collection has the keyword vector); None: forget (a drop)."""
        self._multi_photo = None if meta is None else bool(meta.get(MULTI_PHOTO))
        self._keywords_complete = None if meta is None else bool(meta.get(KEYWORDS_COMPLETE))
        self._keyword_vectors = None if meta is None else bool(meta.get(HAS_KEYWORD_VECTORS))

    def _answerable(self, query: Query | None) -> tuple[bool, Query | None]:
        """(whether the query can find anything here, the query as this collection can answer it).

        An index made before the keyword index has no sparse vector until its next run adds it (ensure()): a read
        before that (the app, a read-only command, a published copy) sees no product with words, so a Sparse query
        finds nothing and a Fused one fuses its other branches, where the engine would refuse the unknown vector.
        Costs no metadata read once this object has seen its metadata (as multi_photo)."""
        if not _uses_sparse(query):
            return True, query
        known = getattr(self, "_keyword_vectors", None)
        if known is None:
            self.meta()
            known = getattr(self, "_keyword_vectors", None)
        if known:
            return True, query
        if isinstance(query, Fused):
            branches = tuple((q, n) for q, n in query.branches if not isinstance(q, Sparse))
            return bool(branches), replace(query, branches=branches)
        return False, query

    def note_hero_only(self, points) -> None:
        """After a write: a point with a hero "image" vector and no "photos" rows (hand-made, or a writer that knows
        no photos) makes multi_photo untrue, so searches go back to "image" until check_multi_photo says otherwise;
        without this, a product written so would be silently missed by every photo search."""
        if any("image" in p.vectors and not len(p.vectors.get(PHOTO_VECTORS, ())) for p in points) \
                and self.multi_photo:
            self.update_meta(**{MULTI_PHOTO: False})

    def check_multi_photo(self) -> bool:
        """Count the products with a hero vector and no photos rows, and record in the metadata whether there are
        none (the end of each indexing run); returns the flag."""
        complete = bool((self.meta() or {}).get(HAS_PHOTO_VECTORS)) and self.lacking_photo_vectors() == 0
        self.update_meta(**{MULTI_PHOTO: complete})
        return complete

    def check_keywords(self) -> bool:
        """Count the products lacking their keyword vector, and record in the metadata whether there are none (the
        end of each indexing run); returns the flag."""
        complete = bool((self.meta() or {}).get(HAS_KEYWORD_VECTORS)) and self.lacking_keyword_vectors() == 0
        self.update_meta(**{KEYWORDS_COMPLETE: complete})
        return complete

    def acquire(self) -> None:
        """Own the index for writing now, or refuse at once (IndexBusy) while another process does: a run checks
        before it loads a model. A server has no owner: nothing to take."""

    def require_meta(self) -> dict:
        """Metadata of an existing index, or NotIndexed."""
        meta = self.meta()
        if meta is None:
            raise NotIndexed("there is no index yet: run `python -m core index --catalog <csv>` first")
        return meta

    def schema(self) -> Schema:
        """The index's fields by kind (keyword filters, numbers, flags), from its metadata."""
        return Schema.from_meta(self.require_meta())

    def add_fields(self, schema: Schema) -> Schema:
        """Payload indexes for a catalogue's fields (keyword, range, flag), kept in the metadata; returns the
        merged schema. Fields indexed before stay, so an incremental run with fewer columns loses no filter."""
        known = Schema.from_meta(self.meta())
        merged = known.merged(schema)
        new = missing_indexes(known, merged)
        if new:
            self._create_indexes(new)
        self.update_meta(schema=merged.as_meta())
        return merged

    def scroll(self, filters: Filters | None = None, payload_keys: list[str] | None = None,
               with_vectors: bool | list[str] = False, page: int = 1000) -> Iterator[Hit]:
        """Every stored point the filters keep, as Hits (score 0), a page of `page` records per engine call."""
        offset = None
        while True:
            records, offset = self._scroll_page(filters, payload_keys, with_vectors, page, offset)
            for record in records:
                yield record_hit(record)
            if offset is None:
                return

    def number_bounds(self, key: str, filters: Filters | None = None) -> tuple[float, float] | None:
        """(min, max) of a number field over the products the filters keep, or None when none has it."""
        low = self.query(Ordered(key), filters, limit=1)
        if not low:
            return None
        high = self.query(Ordered(key, descending=True), filters, limit=1)
        return float(low[0].payload[key]), float(high[0].payload[key])

    def fingerprints(self) -> dict[str, tuple[str, str, str]]:
        """product_id -> (point id, fingerprint, payload hash) for every stored product."""
        return {h.payload.get("product_id"): (h.id, h.payload.get("fingerprint", ""), h.payload.get("payload_hash", ""))
                for h in self.scroll(payload_keys=["product_id", "fingerprint", "payload_hash"])}

    @abstractmethod
    def meta(self) -> dict | None: ...
    @abstractmethod
    def update_meta(self, **changes) -> None: ...
    @abstractmethod
    def list_collections(self) -> list[str]:
        """The names of every collection this store's backend holds (this one's and its neighbours', such as
        reference catalogues'), sorted; nothing is opened or locked to list them."""
    @abstractmethod
    def drop(self) -> None:
        """Delete this collection, points and metadata (`index --recreate`, `reference remove`)."""
    @abstractmethod
    def _create(self, dim: int, meta: dict, tuning: Tuning, indexes: list[tuple[str, str]]) -> dict | None:
        """Create the collection with `meta` and these payload indexes ((key, KEYWORD or NUMBER)) and return
        None; or, when another process created it first, leave it be and return its metadata."""
    @abstractmethod
    def _add_photo_vectors(self, dim: int) -> None:
        """Add the photos multivector (MaxSim, cosine, `dim`) to an existing collection; its points keep theirs."""
    @abstractmethod
    def lacking_photo_vectors(self) -> int:
        """How many products have an 'image' vector and no 'photos' rows (made before the multivector existed)."""
    @abstractmethod
    def _add_keyword_vectors(self) -> None:
        """Add the sparse keyword vector (the engine's IDF modifier) to an existing collection; points keep theirs."""
    @abstractmethod
    def lacking_keyword_vectors(self) -> int:
        """How many products were written before the keyword index: no keyword vector and no keyword payload (terms,
        lookup keys). A product whose words are all stop words or punctuation has no vector (an empty one is left
        out) but has its lookup keys (its id at least), so it is not lacking."""
    @abstractmethod
    def _create_indexes(self, indexes: list[tuple[str, str]]) -> None:
        """Make these payload indexes ((key, KEYWORD or NUMBER)) on the existing collection."""
    @abstractmethod
    def _scroll_page(self, filters: Filters | None, payload_keys: list[str] | None, with_vectors: bool | list[str],
                     page: int, offset) -> tuple[list, object]:
        """One page of the engine's records (with id, payload, vector) from `offset` (None: the first page), and
        the offset of the next page (None: that was the last)."""
    @abstractmethod
    def upsert(self, points: list[StoredPoint]) -> None: ...
    @abstractmethod
    def delete(self, ids: list[str]) -> None: ...
    @abstractmethod
    def update_vectors(self, vectors: dict[str, dict]) -> None:
        """Set these named vectors on existing points (point id -> {name: vector}), keeping their other vectors and
        payload: an older index's products get their keyword vectors without their photos embedded again. An empty
        sparse vector is left out (as in upsert); a point left with nothing to set is skipped."""
    @abstractmethod
    def overwrite_payload(self, point: str, payload: dict) -> None: ...
    @abstractmethod
    def set_payload(self, payloads: dict[str, dict]) -> None:
        """Set these keys on each point (point id -> keys), leaving its other payload keys as they are; one write
        for them all, so filling in many products' keys does not cost a write each."""
    @abstractmethod
    def count(self, filters: Filters | None = None) -> int: ...
    @abstractmethod
    def retrieve(self, ids: list[str], with_vectors: bool = False) -> list[Hit]: ...
    @abstractmethod
    def query(self, query: Query | None, filters: Filters | None = None, limit: int = 10, offset: int = 0,
              threshold: float | None = None) -> list[Hit]:
        """The Hits of one query, best first, the filters applied (in each branch of a Fused query too).

        threshold: the lowest similarity a dense query (Nearest, Recommend, Diverse) or dense Fused branch keeps. A
        Sparse query or branch ignores it: a BM25 score is a sum of IDF-weighted term weights, unbounded and
        moving with the corpus, never a similarity in [-1, 1], so a CLIP threshold on it would drop keyword hits
        by chance. Nor is a Fused query's own RRF (or MMR, with diverse) stage thresholded: its branches are.
        """
    @abstractmethod
    def query_batch(self, queries: Sequence[Query], filters: Filters | None = None, limit: int = 10,
                    threshold: float | None = None, payload_keys: list[str] | None = None,
                    hnsw_ef: int | None = None) -> list[list[Hit]]:
        """One answer per query, each the Hits `query(q, filters, limit, threshold=threshold)` returns, from one
        engine call (the embedded engine plans a batch as one pass over its segments; a server gets one request).

        payload_keys: only these payload keys in each Hit (None: the whole payload, as `query`). hnsw_ef: the
        HNSW beam for this batch instead of the store's (None: the store's search parameters, as `query`);
        rescoring and read consistency are the store's either way.
        """
    @abstractmethod
    def facet(self, key: str, filters: Filters | None = None, limit: int = 100) -> list[tuple[str, int]]: ...

    @engine_neutral
    def explain(self, exc: Exception) -> str:
        """An engine exception as text safe to show (the server store scrubs credentials out of it)."""
        return str(exc)

    def optimize(self) -> bool:
        """Build the vector indexes that are due now; True when anything was built.

        Embedded engine: HNSW and int8 vectors for each segment past the indexing threshold, and only those,
        so adding 1% to a large index builds one small segment, not everything again. It costs microseconds
        when nothing is due, so an indexing run may call it at its end unconditionally (publish() calls it
        too). A server builds its indexes on its own: nothing to do.
        """
        return False

    def flush(self) -> None:
        """Return once every write made through this store is applied and readable, or raise the first write
        that failed. The embedded engine applies each write before it returns: nothing to do. A server store
        sends writes without waiting for them (core.index.store.server) and waits here."""

    def publish(self) -> None:
        """The end of an indexing run: every write applied (flush), and the contents readable by other
        processes (the embedded engine publishes a copy)."""
        self.flush()

    def close(self) -> None:
        """Release resources (the embedded shard's directory lock)."""


def _uses_sparse(query) -> bool:
    """Whether a query searches the keyword vector: a Sparse one, or a Fused one with a Sparse branch."""
    return isinstance(query, Sparse) or (isinstance(query, Fused)
                                         and any(isinstance(q, Sparse) for q, _ in query.branches))


def wrap_engine_errors(cls) -> None:
    """Wrap every public method of a store class (its own and inherited plain methods; not properties, class
    methods or ones marked engine_neutral) so that an engine or network exception becomes a StoreError. Methods
    wrapped already (in a parent class) are left as they are."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        fn = inspect.getattr_static(cls, name)
        if not inspect.isfunction(fn) or getattr(fn, "wraps_engine_errors", False):
            continue
        if getattr(fn, "engine_neutral", False) or getattr(getattr(ProductStore, name, None), "engine_neutral", False):
            continue
        setattr(cls, name, _wrapped(fn))


def _wrapped(fn):
    def as_store_error(self, exc: Exception) -> StoreError:
        return StoreError(f"{self.backend} store failed ({fn.__name__}): {self.explain(exc)}")

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                yield from fn(self, *args, **kwargs)
            except LensError:
                raise
            except Exception as exc:
                raise as_store_error(self, exc) from exc
    else:
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except LensError:
                raise
            except Exception as exc:
                raise as_store_error(self, exc) from exc
    call.wraps_engine_errors = True
    return call
