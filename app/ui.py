"""Widgets shared by pages: first-run notice, indexing with progress, filter sidebar, result cards."""

from __future__ import annotations

import logging
import time

import pandas as pd
import streamlit as st

from app import resources
from core.catalog import FILTER_FIELDS
from core.config import Settings
from core.errors import LensError
from core.filters import Filters
from core.safe_text import md
from core.search import Result, facets
from core.store import ProductStore

FIELD_LABELS = {"gender": "Gender", "category": "Category", "sub_category": "Sub-category",
                "product_type": "Product type", "colour": "Colour", "usage": "Usage"}
SIDEBAR_FIELDS = FILTER_FIELDS


def require_index(config: Settings, store: ProductStore, key: str) -> dict | None:
    """Index metadata, or a first-run notice with the one-click sample index (then None)."""
    try:
        meta = store.meta()
    except LensError as exc:
        st.error(f"The index cannot be opened: {md(exc)}")
        return None
    if meta is None:
        st.info("There is no index yet. Index the bundled sample catalogue (320 products) to try Catalog Lens, "
                "or index your own catalogue on the **Catalog** page.")
        if st.button("Index the sample catalogue", key=f"{key}-sample", type="primary"):
            from core.sample import SAMPLE_IMAGES, ensure_sample

            if run_indexing(ensure_sample(), SAMPLE_IMAGES, config, store) is not None:
                st.rerun()
    return meta


def run_indexing(csv_path, images_dir, config: Settings, store: ProductStore, recreate=False, prune=False):
    """Index with a progress bar driven by the indexer's callback; show the summary. None on failure."""
    from core.indexer import index_catalog

    lock = resources.indexing_lock(str(config.data_dir))
    if not lock.acquire(blocking=False):
        st.warning("Indexing is already running (in this or another browser tab); wait for it to finish.")
        return None
    try:
        embedder = resources.embedder(config.model, config.device)
        bar = st.progress(0.0, text="Embedding products…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Embedded {done} of {total} changed products")

        report = index_catalog(csv_path, images_dir, embedder, store, batch_size=config.batch_size,
                               recreate=recreate, prune=prune, max_pixels=config.max_pixels, progress=progress)
    except LensError as exc:
        st.error(md(exc))
        return None
    except Exception as exc:  # a bug or an engine failure: a message and the server log, never a page traceback
        logging.getLogger(__name__).exception("indexing failed")
        st.error(md(f"Indexing stopped by an unexpected error ({type(exc).__name__}: {exc}). Everything embedded "
                    "before it is saved: run it again to resume. The details are in the server's log."))
        return None
    finally:
        lock.release()
    st.session_state["last_report"] = report.as_dict()
    return report


def show_report(report: dict) -> None:
    """Counts, then every failed or text-only row with its reason."""
    cols = st.columns(6)
    for col, (label, value) in zip(cols, [("Rows", report["total"]), ("Indexed", report["indexed"]),
                                          ("Updated", report["updated"]), ("Unchanged", report["unchanged"]),
                                          ("Text only", report["text_only"]), ("Failed", report["failed_rows"])]):
        col.metric(label, value)
    for warning in report["warnings"]:  # they quote CSV values (headers, ids)
        st.warning(md(warning))
    if report["failed"]:
        st.dataframe(pd.DataFrame(report["failed"]), hide_index=True, width="stretch")


def filter_sidebar(store: ProductStore) -> dict[str, list[str]]:
    """Multiselects with live facet counts ("Red (41)"), shared by Search and Explore; returns the selection.

    Streamlit forgets a widget's state on pages that do not draw it, so the selection also lives in a plain
    session key ("filters") that each page seeds its widgets from.
    """
    persisted = st.session_state.setdefault("filters", {})
    for name in SIDEBAR_FIELDS:
        st.session_state.setdefault(f"f_{name}", list(persisted.get(name, [])))
    selected = {n: list(st.session_state[f"f_{n}"]) for n in SIDEBAR_FIELDS if st.session_state[f"f_{n}"]}
    st.sidebar.header("Filters")
    try:
        counts = facets(store, Filters.of(selected), SIDEBAR_FIELDS)
    except LensError as exc:
        st.sidebar.error(md(exc))
        return selected
    chosen = {}
    for name in SIDEBAR_FIELDS:
        count_of = dict(counts[name])
        options = [v for v, _ in counts[name]] + [v for v in st.session_state[f"f_{name}"] if v not in count_of]
        chosen[name] = st.sidebar.multiselect(
            FIELD_LABELS[name], options, key=f"f_{name}",
            format_func=lambda v, c=count_of: f"{v} ({c.get(v, 0)})")
    st.session_state["filters"] = {k: v for k, v in chosen.items() if v}
    return st.session_state["filters"]


def attributes_line(payload: dict) -> str:
    return " · ".join(str(payload[k]) for k in ("colour", "gender", "product_type", "usage") if payload.get(k))


def product_grid(results: list[Result], config: Settings, actions, columns: int = 4, key: str = "grid",
                 show_scores: bool = True) -> None:
    """Thumbnail cards; actions(result, key) draws each card's buttons."""
    for start in range(0, len(results), columns):
        for col, result in zip(st.columns(columns), results[start:start + columns]):
            with col.container(border=True):
                thumb = resources.thumbnail_for(result.image_path, config)
                if thumb:
                    st.image(thumb, width="stretch")
                else:
                    st.caption("no photo")
                # Titles, attributes and ids are catalogue data: escaped, so `![t](url)` is text, not an image.
                st.markdown(f"**{md(result.title) or md(result.product_id)}**")
                score = f"{result.score:.3f} · " if show_scores and result.score is not None else ""
                st.caption(f"{score}{md(attributes_line(result.payload))} · {md('#' + result.product_id)}")
                actions(result, f"{key}-{result.product_id}")


def when(timestamp: float | None) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(timestamp)) if timestamp else "never"


def short_model_name(name: str) -> str:
    """'clip-ViT-B-32' stays; a local folder shows its last two parts."""
    from pathlib import Path

    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name


def board_picker(config: Settings) -> str | None:
    """Sidebar: the board that "Add to board" adds to, with a quick way to start one."""
    from core.boards import BoardError

    boards = resources.boards(str(config.data_dir))
    st.sidebar.header("Board")
    existing = boards.list()
    with st.sidebar.form("new-board", clear_on_submit=True, border=False):
        name = st.text_input("New board", placeholder="e.g. Summer dresses", key="new_board_name")
        if st.form_submit_button("Create board"):
            try:
                created = boards.create(name)
                st.session_state["active_board"] = created.id
                existing = boards.list()
            except BoardError as exc:
                st.error(md(exc))
    if not existing:
        return None
    names = {b.id: f"{b.name} ({len(b.items)})" for b in existing}
    if st.session_state.get("active_board") not in names:
        st.session_state["active_board"] = existing[0].id
    return st.sidebar.selectbox("Add results to", list(names), format_func=names.get, key="active_board")


def add_to_board(config: Settings, board_id: str, result: Result) -> None:
    """Button callback: keep the product, its attributes and its score now."""
    try:
        (added,) = add_products_to_board(config, board_id, [result])
        st.toast("Added to the board" if added else "Already on that board")
    except LensError as exc:
        st.toast(f"Could not add: {md(exc)}")


def result_actions(result: Result, key: str, board_id: str | None, config: Settings) -> None:
    from app import search_state

    a, b, c, d = st.columns(4, gap="small")
    a.button("", icon=":material/image_search:", key=f"{key}-like", help="More like this", on_click=search_state.more_like_this,
             args=(result.product_id,))
    b.button("", icon=":material/thumb_up:", key=f"{key}-up", help="More like this one", on_click=search_state.judge,
             args=(result.product_id, True))
    c.button("", icon=":material/thumb_down:", key=f"{key}-down", help="Less like this one", on_click=search_state.judge,
             args=(result.product_id, False))
    d.button("", icon=":material/bookmark_add:", key=f"{key}-board", help="Add to board" if board_id else "Create a board in the sidebar first",
             disabled=board_id is None, on_click=add_to_board, args=(config, board_id, result))


def device_label(config: Settings) -> str:
    """Where the model runs (loads it if needed); 'unavailable' when it cannot load."""
    try:
        embedder = resources.embedder(config.model, config.device)
    except LensError:
        return "unavailable"
    return f"{embedder.device}{' (fp16)' if embedder.device.startswith('cuda') else ''}"


MAX_UPLOAD_NAME_BYTES = 100  # leaves room for atomic_write's ".<name>.<pid>.<thread>.tmp" under 255 bytes


def upload_name(name: str, default: str = "upload.csv") -> str:
    """A browser-sent file name as a safe name for a file in the uploads folder.

    The name is the client's to choose: it may be empty, ".", "..", a path, or longer than a file system
    allows. Keep the last path part, replace anything but letters, digits, "_", "-", "." and spaces, strip
    leading dots (no hidden files, never "." or ".."), and cut it to MAX_UPLOAD_NAME_BYTES keeping the suffix.
    """
    import re

    base = re.split(r"[/\\]", name or "")[-1]
    safe = re.sub(r"[^\w. -]", "_", base).strip(" .")
    stem, dot, suffix = safe.rpartition(".")
    if not dot or not stem or len(suffix) > 10:
        stem, suffix = safe, ""
    suffix = f".{suffix}" if suffix else ""
    room = MAX_UPLOAD_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{stem}{suffix}" if stem else default


def saved_upload(uploaded, config: Settings):
    """Keep an uploaded CSV under the data dir so its rows can be re-read; returns its path."""
    from pathlib import Path

    from core.files import atomic_write

    path = Path(config.data_dir) / "uploads" / upload_name(uploaded.name)
    atomic_write(path, uploaded.getvalue())
    return path


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


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


def add_products_to_board(config: Settings, board_id: str, results: list[Result]) -> list[bool]:
    boards = resources.boards(str(config.data_dir))
    return [boards.add(board_id, r.product_id, r.title, r.score, r.payload) for r in results]


def require_navigation() -> None:
    """Run every page through streamlit_app.py's st.navigation, even on a server's very first request.

    Streamlit treats a folder named pages/ beside the entry point as its legacy page folder until the first
    st.navigation call: if a new server's first visitor opens /boards, it runs pages/boards.py on its own
    (no page config, file names in the sidebar). We clear that flag and rerun, so the entry point runs.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Only when this session has never been through the entry point: a rerun would drop a widget event.
    if PagesManager.uses_pages_directory and not st.session_state.get("entry_point_ran"):
        PagesManager.uses_pages_directory = False
        st.rerun()
