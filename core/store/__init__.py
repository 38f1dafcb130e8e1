"""Vector store: one small interface over the embedded Qdrant engine (qdrant-edge) and a Qdrant server (qdrant-client)."""

from core.store.base import (ID_NAMESPACE, RRF_K, VECTOR_NAMES, Diverse, Fused, Hit, Nearest, Ordered, ProductStore,
                             Query, Recommend, StoredPoint, point_id)
from core.errors import StoreError
from core.store.edge import EdgeStore
from core.store.server import ServerStore
from core.store.tuning import Overrides, Tuning, tuning_for

__all__ = ["ID_NAMESPACE", "RRF_K", "VECTOR_NAMES", "Diverse", "EdgeStore", "Fused", "Hit", "Nearest",
           "Ordered", "ProductStore", "Query", "Recommend", "Overrides", "ServerStore", "StoredPoint", "Tuning", "open_store", "point_id", "tuning_for"]


def open_store(settings, read_only: bool = False) -> ProductStore:
    """The server store when QDRANT_URL is set, else the embedded shard under LENS_DATA_DIR.

    read_only (the CLI's stats, search, facets, duplicates, map): when another process holds the embedded
    index, read the copy it published after its last indexing run instead of refusing.
    """
    overrides = Overrides.from_settings(settings)
    if settings.qdrant_url:
        return ServerStore.connect(settings.qdrant_url, settings.qdrant_api_key, settings.collection,
                                   settings.qdrant_timeout, overrides=overrides)
    store = EdgeStore(settings.data_dir, settings.collection, overrides=overrides)
    if read_only and store.meta() is not None:
        try:
            store.acquire()
        except StoreError:
            return EdgeStore.snapshot_reader(settings.data_dir, settings.collection, overrides=overrides)
    return store
