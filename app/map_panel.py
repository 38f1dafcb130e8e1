"""The map panel: whether the stored map is fresh, and the photos drawn on it."""

from __future__ import annotations

import streamlit as st

from app import resources
from core.config import Settings
from core.errors import LensError
from core.filters import Filters
from core.store import ProductStore


def map_status(store: ProductStore, catalog_map, meta: dict) -> str:
    """'missing', 'stale' or 'fresh', checked once per index change and map version (not on every rerun)."""
    if catalog_map is None:
        return "missing"
    try:
        count = store.count()
    except LensError:
        return "stale"
    return _map_status(str(id(store)), catalog_map.index_key, meta.get("last_indexed"), count, _store=store)


@st.cache_data(max_entries=64, show_spinner=False)
def _map_status(store_id: str, map_key: str, last_indexed, count: int, _store: ProductStore) -> str:
    """Cached per (map, last indexing run, product count): the digest reads every product's fingerprint."""
    from core.projection import index_key

    return "fresh" if index_key(_store)[0] == map_key else "stale"


def map_thumbnails(catalog_map, filters: dict, selection: list[str], config: Settings) -> dict[str, bytes]:
    """Photos to draw on the map: the selection, else the products passing the filters, at most 300."""
    from core.mapview import MAX_THUMBNAILS, filter_mask

    if selection:
        ids = selection[:MAX_THUMBNAILS]
    else:
        mask = filter_mask(catalog_map, Filters.of(filters))
        if mask.sum() > MAX_THUMBNAILS:
            st.caption(f"{int(mask.sum())} products pass the filters: narrow them to {MAX_THUMBNAILS} or fewer, "
                       "or select a region, to see photos on the map.")
            return {}
        ids = [p for p, keep in zip(catalog_map.product_ids, mask) if keep]
    paths = dict(zip(catalog_map.product_ids, catalog_map.attrs.get("image_path", [])))
    return {p: resources.thumbnail_for(paths.get(p, ""), config, px=64) for p in ids}
