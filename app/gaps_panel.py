"""The Gaps page's parts: the reference picker and the form that adds one, the matching options, the matching
(cached per index state), gap counts, CSV exports and the table of their products beside our closest match.

Reference stores are opened only while they are read and closed at once: an embedded store is one process's at a
time (an OS lock), and a reader held for the server's life would refuse the next `add` of the same reference.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st

from core.insights.gaps import MATCH_THRESHOLD

from app import (board_panel, compare_tray, indexing_panel, mapping_panel, product_panel, resources, result_grid,
                 upload_panel)
from core.curation.export import EXCEL_BOM, csv_cell
from core.common.config import Settings
from core.common.errors import LensError
from core.common.filters import Filters
from core.common.safe_text import md
from core.search.query import Result
from core.index.store import Nearest, ProductStore, point_id

PAGE_SIZE = 20
PHOTO_PX = 160
LOOKALIKES = 6
SAME_FIELDS = ("category", "sub_category", "product_type", "gender", "colour", "usage")
THEIRS, OURS = "theirs", "ours"
DIRECTIONS = {THEIRS: "Their products", OURS: "Our unique range"}
COUNT_FIELDS = {"category": "Category", "colour": "Colour"}
PLURAL = {"category": "categories", "colour": "colours"}
SAVED_THRESHOLD = "gaps_saved_threshold"  # the last threshold chosen here, kept for the Explore overlay
SAVED_SAME = "gaps_saved_same"  # the last "match within the same" field chosen here ("": anything), likewise


@dataclass(frozen=True)
class GapRequest:
    """The matching options the page's widgets chose."""

    name: str
    threshold: float
    same: str | None
    direction: str
    ascending: bool


# ---- reference catalogues --------------------------------------------------------------------------------

@st.cache_data(ttl=5, show_spinner=False)
def _references(data_dir: str, collection: str, qdrant_url: str, _config: Settings) -> list:
    from core.insights.reference import list_references

    return list_references(_config)


def references(config: Settings) -> list:
    """The reference catalogues of our collection (ReferenceInfo), read at most every 5 s (a `reference add` or
`remove` from the CLI shows at the next rerun after that), [] on an error."""
    try:
        return _references(str(config.data_dir), config.collection, config.qdrant_url or "", config)
    except LensError as exc:
        st.error(md(f"The reference catalogues cannot be listed: {exc}"))
        return []


def pick_reference(found: list, key: str = "gaps_reference", label: str = "Reference catalogue",
                   none: str | None = None) -> str | None:
    """A selectbox of reference names ('none' first when `none` names it); None when nothing is chosen."""
    names = [r.name for r in found]
    if not names:
        return None
    options = ([""] if none else []) + names
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    by_name = {r.name: r for r in found}

    def label_of(name: str) -> str:
        if not name:
            return none or ""
        return f"{name} ({by_name[name].products:,} products)"  # check_name allows only [a-z0-9_-]

    chosen = st.selectbox(label, options, key=key, format_func=label_of)
    return chosen or None


def info_of(found: list, name: str):
    return next((r for r in found if r.name == name), None)


def reference_uploads(config: Settings, name: str) -> Path:
    """One folder per reference, uploads/references/<name>/ (its CSV, and photos/ for its zip): never where our
    own uploaded catalogue or another reference lives (names cannot contain '/', so no two share a folder)."""
    return Path(config.data_dir) / "uploads" / "references" / name


def add_form(config: Settings, has_any: bool) -> None:
    """Add (or update) a reference catalogue: a name, a catalogue file (photos as a zip, a folder or .zip on this
    server, or URLs in the feed)."""
    from core.insights.reference import check_name

    with st.expander("Add a reference catalogue", expanded=not has_any, icon=":material/add:"):
        st.caption("A competitor's or supplier's catalogue, matched against ours with the same model. Adding a "
                   "name that exists updates it.")
        name = st.text_input("Name", key="gaps_new_name", placeholder="e.g. competitor-a",
                             help="Lower-case letters, digits, '-' and '_'")
        uploaded = upload_panel.catalogue_uploader(st, "Their catalogue (.csv, .tsv or .txt)", "gaps_upload")
        photos = upload_panel.photos_picker("gaps_photos_from", "gaps_photos_path", "gaps_photos",
                                            "Their photos' folder or .zip on this server (optional: not needed when "
                                            "the feed's image column holds http(s) URLs)")
        choice = mapping_panel.panel(uploaded, "") if uploaded is not None else None
        if not st.button("Add and index", type="primary", key="gaps_add"):
            return
        try:
            name = check_name(name.strip())
        except LensError as exc:
            st.error(md(exc))
            return
        if uploaded is None:
            st.error("Upload the reference catalogue's CSV first.")
            return
        if choice is not None and not choice.ready:
            return  # the mapping step above says what to fix
        if index_reference(config, name, uploaded, photos, choice):
            st.session_state["gaps_reference"] = name
            st.rerun()


def index_reference(config: Settings, name: str, uploaded, photos: upload_panel.PhotosChoice, choice) -> bool:
    """Save the upload (and extract its photos), then add_reference with a progress bar; errors shown.

    A zip chosen but never received (the browser refuses one over the limit) is an error before anything is
    written; the upload is saved in chunks to the reference's own folder (reference_uploads)."""
    from core.ingest.fetch import fetcher_for
    from core.insights.reference import add_reference

    lock = resources.indexing_lock(str(config.data_dir))
    if not lock.acquire(blocking=False):
        st.warning("Indexing is already running (in this or another browser tab); wait for it to finish.")
        return False
    bar, fetcher, extracted = None, None, None
    try:
        photos_zip, images = photos.resolve(reference_uploads(config, name) / "photos")
        target = indexing_panel.saved_upload(uploaded, config, folder=reference_uploads(config, name))
        if photos_zip is not None:
            extracted = indexing_panel.extract_upload(photos_zip, images)
        embedder = resources.embedder_for(config)
        bar = st.progress(0.0, text=f"Indexing {name}…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Embedded {done} of {total} of their products")

        fetcher = fetcher_for(config)
        report = add_reference(config, name, target, images, embedder, format=choice.format if choice else "auto",
                               columns=(choice.columns or None) if choice else None, fetcher=fetcher,
                               progress=progress)
    except (LensError, OSError) as exc:
        if bar is not None:
            bar.empty()
        st.error(md(f"{name} was not added: {exc}".replace(str(Path(config.data_dir)), "the data folder")))
        return False
    finally:
        if fetcher is not None:
            fetcher.close()
        lock.release()
    _references.clear()
    summary = {**report.as_dict(), "reference": name}
    if extracted is not None:
        summary["photos"] = {"name": photos_zip.name, "extracted": extracted.extracted,
                             "skipped": [list(s) for s in extracted.skipped]}
    st.session_state["gaps_added"] = summary
    return True


def added_note() -> None:
    """What the last add indexed, as the Catalog page reports a run: counts, format and columns, the photos zip,
    every failed row (shown once, after its rerun)."""
    report = st.session_state.pop("gaps_added", None)
    if report:
        st.success(f"The reference catalogue {md(report['reference'])} is indexed.")
        indexing_panel.show_report(report)


# ---- matching ----------------------------------------------------------------------------------------------

def options(name: str) -> GapRequest:
    """Threshold, 'match within the same', direction and order."""
    threshold_col, same_col, direction_col, order_col = st.columns([3, 2, 3, 2], vertical_alignment="bottom")
    threshold = threshold_col.slider("Match at a similarity of at least", 0.0, 1.0, MATCH_THRESHOLD, 0.01,
                                     key="gaps_threshold")
    same = same_col.selectbox("Match within the same", ("", *SAME_FIELDS), key="gaps_same",
                              format_func=lambda f: "(anything)" if not f else f.replace("_", " "))
    direction = direction_col.segmented_control("List", list(DIRECTIONS), format_func=DIRECTIONS.get,
                                                key="gaps_direction", default=THEIRS) or THEIRS
    order = order_col.selectbox("Similarity", ("ascending", "descending"), key="gaps_order",
                                format_func=lambda o: "lowest first" if o == "ascending" else "highest first")
    st.session_state[SAVED_THRESHOLD] = float(threshold)  # widget state goes with the page; this stays
    st.session_state[SAVED_SAME] = same or ""
    return GapRequest(name, float(threshold), same or None, direction, order == "ascending")


@st.cache_data(max_entries=32, show_spinner="Matching their catalogue against ours…")
def _match(store_key: str, name: str, their_stamp, our_stamp, threshold: float, same: str | None, filters_key: str,
           direction: str, _config: Settings, _ours: ProductStore, _filters: Filters | None) -> list:
    """Every row of one matching, recomputed when either index changes (the stamps) or an option does."""
    from core.insights.gaps import filters_within, find_gaps, our_unique
    from core.insights.reference import open_reference

    theirs = open_reference(_config, name)
    try:
        run = find_gaps if direction == THEIRS else our_unique
        filters, dropped = filters_within(_filters, theirs if direction == THEIRS else _ours)
        return run(_ours, theirs, threshold, filters=filters, same=same), dropped
    finally:
        theirs.close()


def match(config: Settings, store: ProductStore, meta: dict, info, request: GapRequest,
          filters: Filters | None) -> list | None:
    """The matching's rows (GapRow), gaps first; None, with the error shown, when it cannot run."""
    try:
        rows, dropped = _match(f"{config.qdrant_url or config.data_dir}|{config.collection}", request.name,
                               info.last_indexed if info else None, meta.get("last_indexed"), request.threshold,
                               request.same, repr(filters), request.direction, config, store, filters or None)
    except LensError as exc:
        st.error(md(exc))
        return None
    if dropped:
        st.caption(f"Not applied here: {md(', '.join(dropped))} (the reference catalogue has no such field).")
    return rows


def ordered(rows: list, ascending: bool) -> list:
    """By similarity, lowest or highest first; rows with nothing to compare with are the lowest."""
    return sorted(rows, key=lambda r: -1.0 if r.similarity is None else r.similarity, reverse=not ascending)


def summary(rows: list, request: GapRequest) -> None:
    gaps = sum(r.verdict == "gap" for r in rows)
    if request.direction == THEIRS:
        st.markdown(f"**{gaps:,}** of their **{len(rows):,}** products have no match of ours at "
                    f"{request.threshold:.2f} or above; **{len(rows) - gaps:,}** match.")
    else:
        st.markdown(f"**{len(rows):,}** of our products have no match in {md(request.name)} at "
                    f"{request.threshold:.2f} or above.")


def counts(store: ProductStore, rows: list, request: GapRequest) -> None:
    """Gaps per category and per colour, as plain tables; the categories they cover and we do not, said."""
    from core.insights.gaps import gap_counts

    side = rows if request.direction == THEIRS else [replace(r, their_payload=r.our_payload) for r in rows]
    whose = "Their products" if request.direction == THEIRS else "Our products"
    for column, (field, label) in zip(st.columns(len(COUNT_FIELDS)), COUNT_FIELDS.items()):
        found = gap_counts(side, field)
        with column:
            st.markdown(f"**Gaps by {label.lower()}**")
            product_panel.plain_table([label, "Gaps", whose], [[v or "(none)", str(g), str(n)] for v, g, n in found])
            if request.direction == THEIRS:
                ours = {value for value, _ in store.facet(field, limit=10_000)}
                only = [v for v, g, n in found if v and g == n and v not in ours]
                if only:
                    st.caption(f"They have {PLURAL[field]} we lack entirely: {md(', '.join(only))}")


def rows_csv(rows: list) -> str:
    """The rows as CSV: ids, titles, similarity, verdict, and both products' category and colour."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["their_id", "their_title", "our_id", "our_title", "similarity", "verdict", "their_category",
                     "their_colour", "our_category", "our_colour"])
    for r in rows:
        writer.writerow([csv_cell(v) for v in (
            r.their_id, r.their_title, r.our_id, r.our_title,
            "" if r.similarity is None else f"{r.similarity:.4f}", r.verdict,
            _text(r.their_payload, "category"), _text(r.their_payload, "colour"),
            _text(r.our_payload, "category"), _text(r.our_payload, "colour"))])
    return EXCEL_BOM + buf.getvalue()


def _text(payload: dict, key: str) -> str:
    from core.common.fields import display_value

    return display_value(payload.get(key))


def exports(rows: list, request: GapRequest) -> None:
    """The gap list and the match list as CSV downloads."""
    gaps = [r for r in rows if r.verdict == "gap"]
    matches = [r for r in rows if r.verdict == "match"]
    stem = f"{request.name}-{'gaps' if request.direction == THEIRS else 'our-unique'}"
    left, right = st.columns(2)
    left.download_button(f"Export {len(gaps)} gaps (CSV)", rows_csv(gaps), file_name=f"{stem}.csv",
                         mime="text/csv", key="gaps_export", icon=":material/download:", disabled=not gaps)
    if request.direction == THEIRS:
        right.download_button(f"Export {len(matches)} matches (CSV)", rows_csv(matches),
                              file_name=f"{request.name}-matches.csv", mime="text/csv", key="gaps_export_matches",
                              icon=":material/download:", disabled=not matches)


# ---- the table -----------------------------------------------------------------------------------------------

def _photo(path: str, config: Settings) -> None:
    thumb = resources.thumbnail_for(path, config, PHOTO_PX)
    if thumb:
        st.image(thumb, width="stretch")
    else:
        st.caption("No photo")


def _product(title: str, pid: str | None, payload: dict, whose: str) -> None:
    if pid is None:
        st.caption(f"No product of {whose} to compare with")
        return
    st.markdown(f"**{md(title) or md('#' + pid)}**")
    st.caption(f"{whose.capitalize()} · {md(result_grid.attributes_line(payload))} · {md('#' + pid)}")


def _ours_result(row) -> Result:
    return Result(row.our_id, row.similarity, row.our_title, str(row.our_payload.get("image_path", "")),
                  dict(row.our_payload), similarity=row.similarity)  # a board keeps the similarity a person read


def _add_ours(config: Settings, board_id: str, row) -> None:
    board_panel.add_to_board(config, board_id, _ours_result(row))


def _show_lookalikes(their_id: str) -> None:
    shown = st.session_state.get("gaps_lookalikes")
    st.session_state["gaps_lookalikes"] = None if shown == their_id else their_id


def their_vector(config: Settings, name: str, their_id: str) -> tuple[list[float], str] | None:
    """Their product's stored vector (photo, else text) and its space, read from the reference collection."""
    from core.insights.reference import open_reference

    theirs = open_reference(config, name)
    try:
        found = theirs.retrieve([point_id(their_id)], with_vectors=True)
    finally:
        theirs.close()
    if not found:
        return None
    vectors = found[0].vectors
    using = "image" if vectors.get("image") is not None else "text"
    return ([float(x) for x in vectors[using]], using) if vectors.get(using) is not None else None


def lookalikes(config: Settings, store: ProductStore, name: str, their_id: str) -> None:
    """Our products closest to one of theirs (its vector from the reference collection), as small cards."""
    try:
        found = their_vector(config, name, their_id)
        hits = store.query(Nearest(found[0], using=found[1]), limit=LOOKALIKES) if found else []
    except LensError as exc:
        st.caption(f"No look-alikes: {md(exc)}")
        return
    if not hits:
        st.caption("None of ours to show.")
        return
    results = [Result.from_hit(h) for h in hits]
    for r in results:
        r.similarity = r.score
    result_grid.product_grid(results, config, lambda r, key: compare_tray.view_link(r.product_id),
                             columns=LOOKALIKES, key=f"gaps-like-{their_id}")


def row_card(config: Settings, store: ProductStore, request: GapRequest, row, board_id: str | None, n: int) -> None:
    """One row: their product (or ours, listing our unique range), the verdict, the closest on the other side."""
    theirs_first = request.direction == THEIRS
    with st.container(border=True, key=f"gap-row-{n}"):
        a_photo, a_text, verdict, b_photo, b_text, acts = st.columns([1, 2.6, 1.2, 1, 2.6, 2.6], gap="small",
                                                                      vertical_alignment="center")
        left = (row.their_id, row.their_title, row.their_payload, "theirs") if theirs_first else \
            (row.our_id, row.our_title, row.our_payload, "ours")
        right = (row.our_id, row.our_title, row.our_payload, "ours") if theirs_first else \
            (row.their_id, row.their_title, row.their_payload, "theirs")
        for photo, text, (pid, title, payload, whose) in ((a_photo, a_text, left), (b_photo, b_text, right)):
            with photo:
                if pid is not None:
                    _photo(str(payload.get("image_path", "")), config)
            with text:
                _product(title, pid, payload, whose)
        with verdict:
            if row.verdict == "match":
                st.markdown(":green-badge[:material/check: match]")
            else:
                st.markdown(":orange-badge[:material/warning: gap]")
            st.caption("similarity " + ("-" if row.similarity is None else f"{row.similarity:.3f}"))
        with acts:
            if theirs_first:
                st.button("Look-alikes in ours", key=f"gap-like-{n}", icon=":material/image_search:",
                          width="stretch", on_click=_show_lookalikes, args=(row.their_id,))
            elif st.button("Look-alikes", key=f"gap-like-{n}", icon=":material/image_search:", width="stretch",
                           help="Search for look-alikes of our product on the Search page"):
                st.session_state["pending_search"] = {"mode": "image", "like": row.our_id, "selection": []}
                st.switch_page("pages/search.py", query_params={"mode": "image", "like": row.our_id})
            if row.our_id is not None:
                st.button("Add ours to board", key=f"gap-board-{n}", icon=":material/bookmark_add:",
                          width="stretch", disabled=board_id is None, on_click=_add_ours,
                          args=(config, board_id, row), help=None if board_id else "Create a board in the sidebar first")
                compare_tray.view_link(row.our_id, label="View ours", width="stretch")
        if theirs_first and st.session_state.get("gaps_lookalikes") == row.their_id:
            lookalikes(config, store, request.name, row.their_id)


def table(config: Settings, store: ProductStore, rows: list, request: GapRequest, board_id: str | None) -> None:
    """The rows a page at a time; "Show more" adds the next page (back to one page when the listing changes)."""
    listing = repr(request)
    if st.session_state.get("gaps_listing") != listing:
        st.session_state["gaps_listing"], st.session_state["gaps_shown"] = listing, PAGE_SIZE
    shown = st.session_state["gaps_shown"]
    for n, row in enumerate(ordered(rows, request.ascending)[:shown]):
        row_card(config, store, request, row, board_id, n)
    if len(rows) > shown:
        st.button(f"Show {min(PAGE_SIZE, len(rows) - shown)} more", key="gaps_more",
                  on_click=lambda: st.session_state.update(gaps_shown=shown + PAGE_SIZE))
