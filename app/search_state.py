"""Search page session state: seeded from the URL once, kept across page switches, written back to the URL.

Streamlit drops a widget's state on pages that do not draw it, so the widget values are mirrored in a plain
session key ("search_saved") and restored from it when the Search page is drawn again.
"""

from __future__ import annotations

import io

import streamlit as st

from core.common.fields import Schema
from core.curation.urlstate import FilterState, SearchState
from core.search.words import MATCHES

WIDGET_KEYS = ("mode", "q", "w", "fusion", "min", "diverse", "match", "text_vectors")  # not in a link: text_vectors
BROWSE_PAGE = 24  # products per "Show more" when listing the catalogue with no query
PREVIEW_PX = 160  # the uploaded query photo's preview beside the search


def seed() -> None:
    """Give every search key a value: from the link on a session's first visit, else from the last visit."""
    if "search_saved" not in st.session_state:
        state = SearchState.from_params({k: st.query_params.get_all(k) for k in st.query_params.keys()})
        st.session_state["search_saved"] = {"mode": state.mode, "q": state.text, "w": state.weight,
                                            "fusion": state.fusion, "min": state.threshold, "diverse": state.diverse,
                                            "match": state.match, "text_vectors": False}
        st.session_state.setdefault("like", state.like)
        st.session_state.setdefault("likes", list(state.likes))
        st.session_state.setdefault("dislikes", list(state.dislikes))
    # A request handed over by another page (the Explore map's "find look-alikes").
    pending = st.session_state.pop("pending_search", None) or {}
    saved = st.session_state["search_saved"]
    saved.update({k: v for k, v in pending.items() if k in WIDGET_KEYS})
    for key in ("like", "selection"):
        if key in pending:
            st.session_state[key] = pending[key]
    if pending:  # a new query: earlier likes, dislikes and "show more" belonged to the old one
        st.session_state.update(likes=[], dislikes=[], limit=12)
    for key, value in saved.items():
        # Assigned on every run, never only when missing: the query box is not drawn in Image mode, so
        # Streamlit drops its state or, when it keeps the value, draws the box again empty; only a value
        # assigned in this run shows in a widget drawn again (and the next click would send the empty box).
        kept = key in st.session_state and key not in pending
        st.session_state[key] = st.session_state[key] if kept else value
    for key, default in (("like", ""), ("selection", []), ("likes", []), ("dislikes", []), ("limit", 12)):
        st.session_state.setdefault(key, default)


def current(narrowing: FilterState) -> SearchState:
    """The search as the widgets show it now, narrowed by the sidebar's state; also remembered for the next
    visit to the page."""
    s = st.session_state
    s["search_saved"] = {k: s[k] for k in WIDGET_KEYS}
    state = SearchState(mode=s["mode"] or "text", text=s["q"].strip(), like=s["like"], weight=float(s["w"]),
                        fusion=s["fusion"], threshold=float(s["min"]), diverse=bool(s["diverse"]),
                        match=s["match"] if s["match"] in MATCHES else "both",
                        filters=dict(narrowing.keywords), ranges=dict(narrowing.ranges), sort=narrowing.sort,
                        likes=list(s["likes"]), dislikes=list(s["dislikes"]), show_hidden=narrowing.show_hidden)
    if state.lookalike(s["selection"]):
        # Look-alikes are closest first, whatever order a link or an earlier search asked for: the sort is left
        # out of this request and its URL only; the session keeps it for the next search (every page shares it).
        state.sort = ""
    return state


def write_to_url(state: SearchState, schema: Schema | None = None) -> None:
    st.query_params.from_dict(state.to_params(schema))


def browse_limit(narrowing: FilterState) -> int:
    """How many products the no-query listing shows: one page, more after each "Show more"; back to one page
    whenever the filters or the sort change (the old count belonged to another listing)."""
    s = st.session_state
    listing = repr(narrowing)
    if s.get("browse_for") != listing:
        s["browse_for"], s["browse_limit"] = listing, BROWSE_PAGE
    return s["browse_limit"]


def show_more_browsed() -> None:
    st.session_state["browse_limit"] = st.session_state.get("browse_limit", BROWSE_PAGE) + BROWSE_PAGE


def more_like_this(product_id: str) -> None:
    """Button callback: use a catalogue product as the image query; its look-alikes come closest first, with
    the page back at its top (the button may sit on the last row of a long page)."""
    s = st.session_state
    s["like"] = product_id
    s["selection"] = []
    if s["mode"] == "text":
        s["mode"] = "image"
    s["limit"] = 12
    s["scroll_to_top"] = s.get("scroll_to_top", 0) + 1


def scroll_to_top() -> None:
    """Scroll the page to its top once after a callback asked for it (Streamlit keeps the scroll position
    across reruns, so a new list would otherwise open at the place of the old one's last row)."""
    asked = st.session_state.get("scroll_to_top", 0)
    if asked != st.session_state.get("scrolled_to_top", 0):
        st.session_state["scrolled_to_top"] = asked
        # The count makes each request's script differ from the last, so the browser runs it again.
        st.html(f"<script>/* {asked} */ document.querySelector('[data-testid=\"stMain\"]')"
                "?.scrollTo({top: 0});</script>", unsafe_allow_javascript=True)


def clear_image_query() -> None:
    st.session_state["like"], st.session_state["selection"] = "", []


def judge(product_id: str, liked: bool) -> None:
    """Button callback: like or dislike a result; it moves to the chosen list and leaves the other."""
    add, other = ("likes", "dislikes") if liked else ("dislikes", "likes")
    st.session_state[other] = [p for p in st.session_state[other] if p != product_id]
    if product_id not in st.session_state[add]:
        st.session_state[add] = [*st.session_state[add], product_id]


def reset_feedback() -> None:
    st.session_state["likes"], st.session_state["dislikes"] = [], []


def image_query_area(area, config, store) -> bytes | None:
    """The photo side of a search: the product or map selection it looks like (with its photo), or an uploader.

    Returns the uploaded photo's bytes, if any.
    """
    from app import resources
    from core.common.safe_text import md
    from core.search.query import get_products

    like, selection = st.session_state["like"], st.session_state["selection"]
    if like or selection:
        photo_col, text_col = area.columns([1, 3], vertical_alignment="center")
        if like:
            found = get_products(store, [like])
            thumb = resources.thumbnail_for(found[0].image_path, config) if found else None
            if thumb:
                photo_col.image(thumb, width="stretch")
            title = f" · {md(found[0].title)}" if found and found[0].title else ""
            text_col.info(f"Looking like product {md('#' + like)}{title}")
            if not found:
                text_col.caption("That product is not in the index (removed, or a mistyped link): "
                                 "upload a photo instead.")
        else:
            photo_col.markdown(":material/photo_library:")
            text_col.info(f"Looking like the {len(selection)} products selected on the map")
        text_col.button("Use an uploaded photo instead", on_click=clear_image_query)
        return None
    from app.upload_panel import limit_mb
    from core.common.errors import LensError
    from core.common.safe_text import md
    from core.ingest.uploads import QUERY_PHOTO

    upload = area.file_uploader("Query photo", type=list(QUERY_PHOTO.types), key="upload",
                                max_upload_size=limit_mb(QUERY_PHOTO))  # the server's cap is a photos zip's
    if upload is None:
        return None
    # The app's own limit, for a client that skips the browser's check. Streamlit already holds the upload by now
    # (under the server's cap): this check spares the copy (getvalue) and the decode, not the upload itself.
    try:
        QUERY_PHOTO.check_size(upload.name, upload.size)
    except LensError as exc:
        area.error(f"{md(exc)}. Try a smaller photo.")
        return None
    preview, problem = upload_preview(upload.file_id, upload.getvalue(), config.max_pixels)
    if problem:
        area.error(problem)
        return None
    area.image(preview, caption="Your photo", width=PREVIEW_PX)
    return upload.getvalue()


def upload_preview(file_id: str, data: bytes, max_pixels: int) -> tuple[bytes | None, str]:
    """(a small JPEG of the uploaded query photo, '') or (None, what is wrong with it, said for a person).

    Decoded once per upload (kept under the upload's id), not on every click on the page.
    """
    from core.common.errors import ImageRejected, IncompleteImage
    from core.ingest.images import open_image
    from core.common.safe_text import md

    kept = st.session_state.get("upload_preview")
    if kept and kept[0] == file_id:
        return kept[1], kept[2]
    preview, problem = None, ""
    try:
        image = open_image(data, max_pixels, draft_size=PREVIEW_PX)
        image.thumbnail((PREVIEW_PX, PREVIEW_PX))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        preview = buf.getvalue()
    except IncompleteImage:
        problem = "This file is not a complete image. Try another file."
    except ImageRejected as exc:
        problem = f"This file cannot be used as a query photo: {md(exc)}. Try another file."
    st.session_state["upload_preview"] = (file_id, preview, problem)
    return preview, problem


def link_notes(state: SearchState, image: bytes | None) -> list[str]:
    """What this page's link cannot carry, said plainly (a shared link would otherwise silently differ)."""
    notes = []
    if image is not None and state.mode in ("image", "hybrid"):
        notes.append("The uploaded photo is not in this page's link: whoever opens it will be asked for a photo"
                     + (" and sees text-only results until then." if state.mode == "hybrid" and state.text else "."))
    selection = st.session_state["selection"]
    if selection and not state.like and image is None and state.mode in ("image", "hybrid"):
        notes.append(f"The {len(selection)} products selected on the map are not in this page's link: "
                     "share the map selection by exporting it from Explore.")
    return notes
