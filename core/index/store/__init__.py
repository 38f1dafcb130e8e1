"""Vector store: one small interface over the embedded Qdrant engine (qdrant-edge) and a Qdrant server (qdrant-client).

base: the query shapes, Hit, and ProductStore with what both engines share (paging, payload-index planning, error
wrapping); edge and server: each engine's own calls; writes: the server's bounded pipeline of wait=false writes;
tuning: the scale settings both engines are made with.
"""

from core.common.errors import IndexBusy
from core.index.store.base import (HAS_KEYWORD_VECTORS, ID_NAMESPACE, KEYWORD_VECTORS, KEYWORDS_COMPLETE,
                                   MULTI_VECTOR_NAMES, RRF_K, SPARSE_VECTOR_NAMES, VECTOR_NAMES, Diverse, Fused, Hit,
                                   Nearest, Ordered, ProductStore, Query, Recommend, Sparse, StoredPoint, point_id)
from core.index.store.edge import EdgeStore
from core.index.store.server import ServerStore
from core.index.store.tuning import Overrides, Tuning, tuning_for

__all__ = ["HAS_KEYWORD_VECTORS", "ID_NAMESPACE", "KEYWORD_VECTORS", "KEYWORDS_COMPLETE", "MULTI_VECTOR_NAMES", "RRF_K",
           "SPARSE_VECTOR_NAMES", "VECTOR_NAMES", "Diverse", "EdgeStore", "Fused", "Hit", "Nearest", "Ordered",
           "Overrides", "ProductStore", "Query", "Recommend", "ServerStore", "Sparse", "StoredPoint", "Tuning",
           "open_store", "point_id", "tuning_for"]


def open_store(settings, read_only: bool = False, collection: str | None = None) -> ProductStore:
    """The server store when QDRANT_URL is set, else the embedded shard under LENS_DATA_DIR.

    collection: another collection of the same store (a reference catalogue's, core.insights.reference); default
    LENS_COLLECTION. read_only (the CLI's stats, search, facets, duplicates, map): when another process holds the embedded
    index, read the copy it published after its last indexing run instead of refusing.
    """
    overrides = Overrides.from_settings(settings)
    collection = collection or settings.collection
    if settings.qdrant_url:
        return ServerStore.connect(settings.qdrant_url, settings.qdrant_api_key, collection,
                                   settings.qdrant_timeout, overrides=overrides)
    store = EdgeStore(settings.data_dir, collection, overrides=overrides)
    if read_only and store.meta() is not None:
        try:
            store.acquire()
        except IndexBusy:  # only a busy index has a published copy to read; any other failure is reported as itself
            return EdgeStore.snapshot_reader(settings.data_dir, collection, overrides=overrides)
    return store
