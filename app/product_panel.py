"""The product view's parts: the photo and its facts, the actions on one product, look-alikes, plain-text tables."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import compare_tray, resources, result_grid
from app.result_grid import price_markdown, status_badge
from app.board_panel import add_to_board
from core.common import fields as F
from core.curation.compare import field_label
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import Result, SearchRequest, search

PHOTO_PX = 720      # the product page's photo: large, still a downscaled copy (a catalogue photo may be 40 MP)
LOOKALIKES = 6
SHOWN_APART = (F.PHOTOS, F.VARIANTS)  # the gallery and the variants table show these; as one cell they are noise


def plain_table(columns: list[str], rows: list[list[str]]) -> None:
    """A table whose every cell and header is shown as typed: this Streamlit's st.table reads cells as Markdown,
    so each one goes through md() (a catalogue value `[x](javascript:…)` stays text, never a link)."""
    frame = pd.DataFrame([[md(cell) for cell in row] for row in rows], columns=[md(c) for c in columns])
    st.table(frame, hide_index=True)


def photo(result: Result, config: Settings, px: int = PHOTO_PX) -> None:
    thumb = resources.thumbnail_for(result.image_path, config, px)
    if thumb:
        st.image(thumb, width="stretch")
    else:
        st.info("This product has no readable photo.")


def facts(result: Result) -> None:
    """Status, title, price (the compare-at price struck through on sale), id and the product page link (http/https
    only)."""
    status_badge(result)
    st.header(md(result.title) or md("#" + result.product_id), anchor=False)
    if result.price:
        st.subheader(price_markdown(result), anchor=False)
    st.caption(md("#" + result.product_id))
    if result.link:  # Result.link is the one place that decides a URL is safe to open
        st.link_button("Open the product page", result.link, icon=":material/open_in_new:")
    elif result.text(F.LINK):
        st.caption("The catalogue's link is not a web address (http or https), so it is not offered as a link.")


def attribute_table(result: Result) -> None:
    """Every catalogue attribute the product carries, as text (internal keys left out by Result.attributes)."""
    rows = [[field_label(field), text] for field, text in result.attributes() if field not in SHOWN_APART]
    if rows:
        plain_table(["Attribute", "Value"], rows)


def _judge(product_id: str, liked: bool) -> None:
    """👍/👎 into the Search page's feedback (its lists may not exist yet when this page was opened by a link)."""
    from app import search_state

    for key in ("likes", "dislikes"):
        st.session_state.setdefault(key, [])
    search_state.judge(product_id, liked)
    st.toast("Search results will lean toward this product" if liked else "Search results will lean away from "
             "this product")


def actions(result: Result, config: Settings, board_id: str | None) -> None:
    """More like this (on the Search page), 👍/👎, add to board, compare."""
    pid = result.product_id
    liked, disliked = pid in st.session_state.get("likes", []), pid in st.session_state.get("dislikes", [])
    like, up, down = st.columns(3, gap="small")
    if like.button("More like this", key="product_like", icon=":material/image_search:", width="stretch",
                   help="Search for look-alikes of this product on the Search page"):
        # Handed over as the Explore map hands over its selection; the link carries it for a first visit.
        st.session_state["pending_search"] = {"mode": "image", "like": pid, "selection": []}
        st.switch_page("pages/search.py", query_params={"mode": "image", "like": pid})
    up.button("Like", key="product_up", icon=":material/thumb_up:", width="stretch", on_click=_judge,
              args=(pid, True), type="primary" if liked else "secondary", help="More like this one in Search")
    down.button("Dislike", key="product_down", icon=":material/thumb_down:", width="stretch", on_click=_judge,
                args=(pid, False), type="primary" if disliked else "secondary", help="Less like this one in Search")
    board, compare = st.columns(2, gap="small", vertical_alignment="center")
    board.button("Add to board", key="product_board", icon=":material/bookmark_add:", width="stretch",
                 disabled=board_id is None, on_click=add_to_board, args=(config, board_id, result),
                 help=None if board_id else "Create a board in the sidebar first")
    with compare:
        compare_tray.compare_checkbox(pid, "product_compare")
    if liked or disliked:
        st.caption(f":material/thumb_{'up' if liked else 'down'}: {'Liked' if liked else 'Disliked'}: the Search "
                   "page's results take it into account.")


def lookalikes(store, config: Settings, result: Result) -> None:
    """The product's nearest neighbours by photo, as small cards that each open their own product page."""
    try:
        similar = search(store, SearchRequest(like=result.product_id, limit=LOOKALIKES), None)
    except LensError as exc:
        st.caption(f"No look-alikes: {md(exc)}")
        return
    st.subheader("Looks like", anchor=False)
    if not similar:
        st.caption("No other product in the index.")
        return
    result_grid.product_grid(similar, config, lambda r, key: compare_tray.view_link(r.product_id),
                             columns=LOOKALIKES, key="lookalikes")
