"""The Gaps page's table: each row's two products side by side with the verdict, their actions (look-alikes,
add ours to a board, view ours), a page at a time."""

from __future__ import annotations

import streamlit as st

from app import board_panel, compare_tray, references, resources, result_grid
from app.gaps_panel import THEIRS, GapRequest
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.index.store import Nearest, ProductStore
from core.search.query import Result

PAGE_SIZE = 20
PHOTO_PX = 160
LOOKALIKES = 6


def ordered(rows: list, ascending: bool) -> list:
    """By similarity, lowest or highest first; rows with nothing to compare with are the lowest."""
    return sorted(rows, key=lambda r: -1.0 if r.similarity is None else r.similarity, reverse=not ascending)


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


def lookalikes(config: Settings, store: ProductStore, name: str, their_id: str) -> None:
    """Our products closest to one of theirs (its vector from the reference collection), as small cards."""
    try:
        found = references.their_vector(config, name, their_id)
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
