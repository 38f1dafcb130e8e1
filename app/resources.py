"""Process-wide resources, loaded once and shared by every session: settings, model, store, boards, thumbnails."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import streamlit as st
from PIL import Image

from core.curation.boards import BoardStore
from core.common.config import Settings
from core.common.errors import ImageRejected
from core.ingest.images import open_image
from core.index.store import ProductStore, open_store

THUMBNAIL_PX = 256


def settings() -> Settings:
    """Environment variables first, then .streamlit/secrets.toml for the Qdrant server settings."""
    secrets = {}
    try:
        secrets = {k: str(st.secrets[k]) for k in ("QDRANT_URL", "QDRANT_API_KEY") if k in st.secrets}
    except Exception:  # no secrets file: environment and defaults only
        pass
    return Settings.from_env(secrets=secrets)


@st.cache_resource(show_spinner="Loading the CLIP model (once per server process; the first time on a CPU it is "
                                "also exported to ONNX and checked, about a minute)…")
def embedder(model: str, device: str, runtime: str, data_dir: str):
    """The CLIP model; on the GPU in fp16 when there is one, on a CPU through ONNX Runtime (LENS_RUNTIME).
    Raises ModelLoadError with what to do."""
    from core.models.embedder import load_embedder

    return load_embedder(model, device, runtime, Path(data_dir))


def store_key(config: Settings) -> str:
    """The key a cached result of one index is kept under: its server (or data dir) and collection, so two
    configurations never share an entry (the store itself is passed unhashed)."""
    return f"{config.qdrant_url or config.data_dir}|{config.collection}"


def embedder_for(config: Settings):
    """The CLIP model for these settings (see embedder)."""
    return embedder(config.model, config.device, config.runtime, str(config.data_dir))


def _close_store(store: ProductStore) -> None:
    try:
        store.close()
    except Exception:  # being dropped from the cache: nothing is waiting for the answer
        pass


@st.cache_resource(show_spinner=False, on_release=_close_store)
def store(config: Settings) -> ProductStore:
    """One store per configuration, held for the server's life (the embedded index's process lock with it);
    closed, and the lock released, when the cache lets it go. The shard serialises access with its own lock."""
    return open_store(config)


@st.cache_resource(show_spinner=False)
def boards(data_dir: str) -> BoardStore:
    return BoardStore(Path(data_dir) / "boards")


@st.cache_resource(show_spinner=False)
def indexing_lock(data_dir: str) -> threading.Lock:
    """One indexing run at a time per data dir, across every session of this server."""
    return threading.Lock()


@st.cache_data(max_entries=5000, show_spinner=False)
def thumbnail(path: str, mtime: float, max_pixels: int, px: int = THUMBNAIL_PX) -> bytes | None:
    """A product photo downscaled once to px (JPEG bytes); None when it cannot be read. mtime keys changes."""
    try:
        image = open_image(path, max_pixels, draft_size=px)
    except ImageRejected:
        return None
    image.thumbnail((px, px), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def thumbnail_for(path: str, config: Settings, px: int = THUMBNAIL_PX) -> bytes | None:
    """Cached thumbnail of a product photo; None when there is no readable photo."""
    try:
        mtime = Path(path).stat().st_mtime if path else 0.0
    except OSError:
        return None
    return thumbnail(path, mtime, config.max_pixels, px) if path else None


@st.cache_resource(show_spinner=False)
def photo_cache(config: Settings):
    """The indexer's photo cache for these settings (only its paths are used here: nothing is fetched)."""
    from core.ingest.fetch import fetcher_for

    return fetcher_for(config)


def photo_path(ref: str, config: Settings) -> str:
    """Where a product photo can be read: a URL's copy in the indexer's fetch cache (as the indexer records the hero's
    IMAGE_PATH), a local path as it is."""
    if ref.lower().startswith(("http://", "https://")):
        return str(photo_cache(config).path_for(ref))
    return ref


def photo_thumbnail(ref: str, config: Settings, px: int = THUMBNAIL_PX) -> bytes | None:
    """Cached thumbnail of any of a product's photos (a path or a URL fetched while indexing); None when unreadable."""
    return thumbnail_for(photo_path(ref, config), config, px)
