"""The map panel: the stored map (or the PCA preview while UMAP is fitted in the background), whether it is
fresh, computing it, the photos drawn on it, and the selection made on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app import references, resources
from app.references import SAME_FIELDS, SAVED_SAME, SAVED_THRESHOLD
from core.common.config import Settings
from core.common.errors import LensError
from core.common.filters import Filters
from core.common.safe_text import md
from core.index.store import ProductStore
from core.insights.gaps import MATCH_THRESHOLD
from core.map.figure import carry_selection, chart_key, selected_ids


def stored_map(config: Settings, kind: str, preview: bool = False):
    """The stored map for these vectors (with `preview`, the PCA map made while UMAP is fitted), read once per
    version of its file and shared (read-only) by every session: at a million products reading it is most of a
    first render."""
    from core.map.storage import map_paths, preview_path

    path = preview_path(config.data_dir, config.collection, kind) if preview else \
        map_paths(config.data_dir, config.collection, kind)[0]
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_map(str(config.data_dir), config.collection, kind, stat.st_mtime_ns, stat.st_size, preview)


@st.cache_resource(max_entries=4, show_spinner=False)
def _read_map(data_dir: str, collection: str, kind: str, mtime_ns: int, size: int, preview: bool = False):
    from core.map.storage import load_map

    return load_map(Path(data_dir), collection, kind, preview)


# ---- computing the map: UMAP in a process of its own (core.map.job), a PCA map meanwhile -------------------------

def fit_state(config: Settings, kind: str):
    """The background UMAP fit of this map (core.map.job.FitState), or None."""
    from core.map.job import fit_state as state

    return state(config.data_dir, config.collection, kind)


def current_map(config: Settings, store: ProductStore, meta: dict, kind: str):
    """(map to draw, the UMAP map's status, the background fit): a finished fit is laid out and stored first; while
    the UMAP map is missing or stale, a fresh PCA preview is drawn instead."""
    fit = fit_state(config, kind)
    if fit is not None and fit.state == "done":
        finish_fit(config, store, kind)
        fit = fit_state(config, kind)
    catalog_map = stored_map(config, kind)
    status = map_status(store, catalog_map, meta)
    if status != "fresh":
        preview = stored_map(config, kind, preview=True)
        if preview is not None and map_status(store, preview, meta) == "fresh":
            return preview, status, fit
    return catalog_map, status, fit


def finish_fit(config: Settings, store: ProductStore, kind: str) -> None:
    """Lay every product out in the layout the background process fitted, and store the UMAP map."""
    from core.map.job import finish

    bar = st.progress(0.0, text="Placing every product on the UMAP map…")
    try:
        finish(store, config.data_dir, config.collection, kind,
               progress=lambda stage, f: bar.progress(f, text=stage.capitalize() + "…"))
    except LensError as exc:
        st.error(md(f"The UMAP map could not be finished: {exc}"))
    bar.empty()


def compute(config: Settings, store: ProductStore, kind: str, refit: bool) -> bool:
    """Compute the map: at once when no UMAP fit is due (a stored layout places new products, a small catalogue
    is laid out by PCA); else a PCA map at once, stored, and UMAP fitted in a process of its own. False on an
    error, shown."""
    from core.map import build
    from core.map.job import starter

    bar = st.progress(0.0, text="Reading vectors…")
    start = starter(config.data_dir, config.collection, kind, config.numba_cache_dir, config.map_fit_gate)
    started = []
    try:
        build.compute_map(store, config.data_dir, config.collection, kind, refit=refit,
                          progress=lambda stage, f: bar.progress(f, text=stage.capitalize() + "…"),
                          numba_cache=config.numba_cache_dir,
                          start_fit=lambda sample: started.append(start(sample)) or started[-1])
    except LensError as exc:
        bar.empty()
        st.error(md(exc))
        return False
    if started == [False]:  # said after the page's rerun
        st.session_state[ALREADY_FITTING_KEY] = ALREADY_FITTING
    return True


ALREADY_FITTING_KEY = "map_already_fitting"
ALREADY_FITTING = ("A UMAP fit of this map is already running (or being finished by another session): this one "
                   "was not started again. The map switches to the UMAP layout when that fit is ready.")


def is_preview(catalog_map) -> bool:
    """Whether the map is the PCA preview drawn while UMAP is fitted."""
    from core.map.storage import PREVIEW

    return catalog_map is not None and catalog_map.method == PREVIEW


def fit_note(config: Settings, kind: str, catalog_map, fit) -> None:
    """What the background fit is doing (followed every second until it ends), or why it failed; and that the
    map drawn is the PCA preview."""
    if is_preview(catalog_map):
        st.caption("PCA map: a first look, drawn at once. Products are placed by the two directions along which "
                   "the catalogue differs most, so look-alike groups overlap more than on the UMAP map that "
                   "replaces it; groups are named by product type until then.")
    note = st.session_state.pop(ALREADY_FITTING_KEY, None)
    if note:
        st.info(note)
    if fit is not None and fit.state == "failed":
        st.error(md(f"The UMAP map could not be fitted: {fit.message}"))
    elif fit is not None and fit.running:
        _follow_fit(str(config.data_dir), config.collection, kind)


@st.fragment(run_every=1.0)
def _follow_fit(data_dir: str, collection: str, kind: str) -> None:
    """The fit's stage and time, read from its status file each second; when it ends, the whole page reruns to
    finish it and draw the UMAP map (or say why it failed)."""
    import time

    from core.map.job import fit_state as state

    fit = state(Path(data_dir), collection, kind)
    if fit is None or not fit.running:
        st.rerun()
    if fit.stuck():
        from core.map.job import stop

        st.warning(f"The UMAP fit looks stuck: its process has given no sign of life for "
                   f"{time.time() - max(fit.beat, fit.started):.0f} s (at: {md(fit.stage)}). Stop it to compute "
                   f"the map again; the PCA map stays usable.")
        if st.button("Stop the fit", key="map_fit_stop"):
            stop(Path(data_dir), collection, kind)
            st.rerun()
        return
    st.caption(f":material/hourglass_top: UMAP is laying out {fit.products:,} products in a background process: "
               f"{md(fit.stage)} · {time.time() - fit.started:.0f} s. The map switches to it when it is ready.")


def sample_note(catalog_map) -> None:
    """Say when the map draws a sample of its products as points (and that a lasso still takes all of them)."""
    from core.map.figure import MAX_POINTS

    if len(catalog_map.product_ids) > MAX_POINTS:
        st.caption(f"{len(catalog_map.product_ids):,} products: the shading shows where all of them are, and up to "
                   f"{MAX_POINTS:,} of them are drawn as points (search results and filtered products first). "
                   "A lasso or box selects from all of them.")


def map_status(store: ProductStore, catalog_map, meta: dict) -> str:
    """'missing', 'stale' or 'fresh', checked once per index change and map version (not on every rerun)."""
    if catalog_map is None:
        return "missing"
    try:
        count = store.count()
    except LensError:
        return "stale"
    if (catalog_map.store_version and not meta.get("indexing_since")
            and catalog_map.store_version == {"last_indexed": meta.get("last_indexed"), "count": count}):
        return "fresh"  # nothing indexed since the map was made: every indexing run ends by stamping last_indexed
    return _map_status(str(id(store)), catalog_map.index_key, meta.get("last_indexed"), count, _store=store)


@st.cache_data(max_entries=64, show_spinner=False)
def _map_status(store_id: str, map_key: str, last_indexed, count: int, _store: ProductStore) -> str:
    """Cached per (map, last indexing run, product count): the digest reads every product's fingerprint."""
    from core.map.storage import index_key

    return "fresh" if index_key(_store)[0] == map_key else "stale"


def map_columns(store: ProductStore, catalog_map, meta: dict, filters: Filters) -> dict[str, list]:
    """Values of the fields the filters use that the stored map lacks (brand, price, in_stock...), read from the
    index and aligned with the map's products, so those filters grey out points like the standard six do.

    The map file keeps only the standard attributes (core.map.products); the values are read once per index
    change and field set, not on every rerun.
    """
    from core.map.figure import filter_fields_missing

    fields = tuple(filter_fields_missing(catalog_map, filters))
    if not fields:
        return {}
    try:
        count = store.count()
        by_id = _payload_values(str(id(store)), meta.get("last_indexed"), count, fields, _store=store)
    except LensError as exc:
        st.caption(f"Filters on {md(', '.join(fields))} are not shown on the map: {md(exc)}")
        return {}
    return {name: [by_id[name].get(p) for p in catalog_map.product_ids] for name in fields}


@st.cache_data(max_entries=16, ttl=300, show_spinner=False)
def _payload_values(store_id: str, last_indexed, count: int, fields: tuple[str, ...],
                    _store: ProductStore) -> dict[str, dict[str, object]]:
    """field -> product id -> payload value, for every stored product (ttl: a payload edited in place keeps the
    index's last_indexed and count)."""
    out: dict[str, dict[str, object]] = {name: {} for name in fields}
    for hit in _store.scroll(payload_keys=["product_id", *fields]):
        payload = hit.payload or {}
        for name in fields:
            if name in payload:
                out[name][str(payload.get("product_id", ""))] = payload[name]
    return out


def map_thumbnails(catalog_map, keep: np.ndarray, selection: list[str], config: Settings) -> dict[str, bytes]:
    """Photos to draw on the map: the selection, else the products passing the filters (`keep`), at most 300."""
    from core.map.figure import MAX_THUMBNAILS, placed_thumbnails

    if selection:
        ids = selection[:MAX_THUMBNAILS]
    else:
        if keep.sum() > MAX_THUMBNAILS:
            st.caption(f"{int(keep.sum()):,} products pass the filters: narrow them to {MAX_THUMBNAILS} or fewer, "
                       "or select a region, to see photos on the map.")
            return {}
        ids = [catalog_map.product_ids[i] for i in np.flatnonzero(keep).tolist()]
    paths = catalog_map.attrs.get("image_path") or []
    rows = catalog_map.row_of
    photos = {p: resources.thumbnail_for(paths[rows[p]] if p in rows and paths else "", config, px=64) for p in ids}
    drawn, wanted = len(placed_thumbnails(catalog_map, photos)), sum(1 for jpeg in photos.values() if jpeg)
    if drawn < wanted:
        st.caption(f"{drawn} of {wanted} photos drawn: the rest would cover them, so they stay dots. "
                   "Select a smaller region to see them.")
    return photos


def legend_note(figure, colour_by: str, show_hidden: bool) -> None:
    """What the map's marks mean beyond its legend: where the smaller values went, stars, greyed drafts."""
    from core.map.figure import OTHER_GROUP, TOP_VALUES

    parts = []
    if any(t.legendgroup == OTHER_GROUP for t in figure.data):
        parts.append(f"The legend names the {TOP_VALUES} largest values; the rest are under \"other\".")
    if colour_by == "colour":
        parts.append("Each product is drawn in its first colour; a star marks a product in several colours. A colour "
                     "name with no known shade takes its photo's own colour.")
    if show_hidden:
        parts.append("Drafts and archived products are greyed where they are.")
    if parts:
        st.caption(" ".join(parts))


def map_selection(catalog_map) -> list[str]:
    """The products selected on the map, before it is drawn: kept when a redrawn chart forgets them.

    Call before drawing (the photos drawn depend on it); draw_map records the chart it belongs to.
    """
    s = st.session_state
    chart = s.get("map_chart")
    event = selected_ids(s.get("map"), catalog_map) if chart else []  # no chart on record (cleared): nothing to read
    s["map_selected"], s["map_selected_chart"] = carry_selection(event, chart, s.get("map_selected", []),
                                                                 s.get("map_selected_chart"))
    return s["map_selected"]


def draw_map(figure, catalog_map) -> list[str]:
    """Draw the map (a lasso or box selects); returns the selection, the chart's own or the one kept."""
    s = st.session_state
    figure.update_layout(meta={"drawing": s.get("map_drawing", 0)})  # a new drawing after "Clear selection"
    s["map_chart"] = chart_key(figure)
    event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map",
                            width="stretch")
    chosen = selected_ids(event, catalog_map)
    if chosen:
        s["map_selected"], s["map_selected_chart"] = chosen, s["map_chart"]
    return s.get("map_selected", [])


def clear_selection() -> None:
    """Button callback: forget the selection and draw a fresh chart (its old selection would come back)."""
    s = st.session_state
    s["map_selected"], s["map_selected_chart"], s["map_chart"] = [], None, None
    s["map_theirs_selected"] = []
    s["map_drawing"] = s.get("map_drawing", 0) + 1


# ---- a reference catalogue overlaid on the map -----------------------------------------------------------------

def overlay_picker(config: Settings) -> tuple[str | None, str | None]:
    """'Overlay a reference catalogue' (none by default) and, once one is chosen, 'Match within the same' for its
    verdicts: (name, field), (None, None) when there is no reference or none is chosen."""
    found = references.references(config)
    if not found:
        return None, None
    pick_col, same_col = st.columns([2, 3])
    with pick_col:
        name = references.pick_reference(found, key="explore_overlay", label="Overlay a reference catalogue",
                                         none="none")
    if not name:
        return None, None
    with same_col:
        return name, overlay_same()


OVERLAY_SAME = "explore_overlay_same"


def overlay_same() -> str | None:
    """The overlay's "match within the same" field: the one last chosen on the Gaps page (or here), so a product
    of theirs gets the verdict the Gaps page gives it; None for anything."""
    s = st.session_state
    if s.get(OVERLAY_SAME) not in ("", *SAME_FIELDS):
        s[OVERLAY_SAME] = s.get(SAVED_SAME, "") if s.get(SAVED_SAME, "") in SAME_FIELDS else ""
    same = st.selectbox("Match within the same", ("", *SAME_FIELDS), key=OVERLAY_SAME,
                        format_func=lambda f: "(anything)" if not f else f.replace("_", " "),
                        on_change=lambda: s.update({SAVED_SAME: s[OVERLAY_SAME]}),
                        help="As on the Gaps page: their product is matched only with ours of the same value")
    return same or None


@st.cache_data(max_entries=8, show_spinner="Placing their products on our map…")
def _overlay(store_key: str, name: str, their_stamp, map_key: str, kind: str, created: float, _config: Settings,
             _store: ProductStore, _map):
    """Their positions on this version of our map (core.map.overlay), recomputed when either side changes."""
    from core.map.overlay import place_reference

    with references.opened(_config, name) as theirs:
        return place_reference(_store, theirs, _map, _config.data_dir, _config.collection)


def overlay_for(config: Settings, store: ProductStore, catalog_map, name: str | None):
    """The chosen reference placed on our map, or None (none chosen, or an error, shown)."""
    if not name:
        return None
    try:
        placed = _overlay(resources.store_key(config), name, references.stamp_of(config, name), catalog_map.index_key,
                          catalog_map.kind, catalog_map.created, config, store, catalog_map)
    except LensError as exc:
        st.error(md(f"{name} cannot be overlaid: {exc}"))
        return None
    if placed.not_placed:
        st.caption(f"Not placed (no vector): {md(', '.join(placed.not_placed[:20]))}")
    return placed


def overlay_verdicts(config: Settings, store: ProductStore, meta: dict, name: str, same: str | None) -> dict:
    """their id -> GapRow at the Gaps page's threshold and "same" field (core.map.overlay.overlay_verdicts, which is
    the Gaps page's find_gaps); {} on an error, shown."""
    try:
        return _verdicts(resources.store_key(config), name, references.stamp_of(config, name),
                         meta.get("last_indexed"), overlay_threshold(), same, config, store)
    except LensError as exc:
        st.error(md(f"{name} cannot be matched against ours: {exc}"))
        return {}


@st.cache_data(max_entries=16, show_spinner="Matching their catalogue against ours…")
def _verdicts(store_key: str, name: str, their_stamp, our_stamp, threshold: float, same: str | None,
              _config: Settings, _store: ProductStore) -> dict:
    """One matching per (both indexes' states, threshold, field), shared by every session."""
    from core.map.overlay import overlay_verdicts as verdicts

    with references.opened(_config, name) as theirs:
        return verdicts(_store, theirs, threshold, same)


OVERLAY_THRESHOLD = MATCH_THRESHOLD  # the Gaps page's default, until a threshold is chosen there


def overlay_threshold() -> float:
    return float(st.session_state.get(SAVED_THRESHOLD, OVERLAY_THRESHOLD))


def overlay_selection(overlay) -> list[str]:
    """Their products in the map's lasso or box; kept, like ours, while a redrawn chart forgets its selection."""
    from core.map.figure import overlay_selected

    s = st.session_state
    found = overlay_selected(s.get("map"), overlay) if s.get("map_chart") else []
    if found:
        s["map_theirs_selected"] = found
    elif not s.get("map_selected"):
        s["map_theirs_selected"] = []
    return s.get("map_theirs_selected", [])


def overlay_gap_list(name: str, selected: list[str], rows: dict, same: str | None = None) -> None:
    """The selected products of theirs with their verdicts: gaps first, then the least similar."""
    from app.product_panel import plain_table

    chosen = [rows[p] for p in selected if p in rows]
    if not chosen:
        return
    chosen.sort(key=lambda r: (r.verdict != "gap", -1.0 if r.similarity is None else r.similarity))
    gaps = sum(r.verdict == "gap" for r in chosen)
    st.subheader(f"{len(chosen):,} of theirs selected: {gaps:,} gap{'' if gaps == 1 else 's'}", anchor=False)
    within = f" of the same {same.replace('_', ' ')}" if same else ""
    st.caption(f"Their products ({md(name)}) in the selected region, each with our closest product{within}; a gap "
               f"below {overlay_threshold():.2f} similarity (the threshold last chosen on the Gaps page).")
    plain_table(["Their product", "Id", "Verdict", "Similarity", "Our closest", "Our id"],
                [[r.their_title, r.their_id or "", r.verdict, "-" if r.similarity is None else f"{r.similarity:.3f}",
                  r.our_title, r.our_id or ""] for r in chosen])


def add_overlay(figure, config: Settings, store: ProductStore, meta: dict, catalog_map, name: str | None,
                same: str | None = None):
    """Their products drawn on the figure when a reference is chosen; (overlay, their id -> GapRow) or (None, {})."""
    from core.map.figure import add_overlay as draw

    overlay = overlay_for(config, store, catalog_map, name)
    if overlay is None:
        return None, {}
    rows = overlay_verdicts(config, store, meta, name, same)
    draw(figure, overlay, name, {p: r.verdict for p, r in rows.items()})
    return overlay, rows
