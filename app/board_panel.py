"""The board panel: which board results go to, creating one, adding products to it."""

from __future__ import annotations

import streamlit as st

from app import resources
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.search.query import Result

_COUNT_SLOT = "_board_count_slot"  # this run's sidebar line under the picker, redrawn after an add
HIDDEN_NAMED = 5  # drafts named in one "added" note; the rest are counted


def board_picker(config: Settings) -> str | None:
    """Sidebar: the board that "Add to board" adds to, with a quick way to start one.

    The picker's labels are the board names only, and its key is assigned on every run: this Streamlit
    identifies a chosen option by its label, so a label with a count, or one renamed on the Boards page,
    would otherwise stay as it was. The count is a line under the picker, redrawn when products are added.
    """
    from core.curation.boards import BoardError

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
    st.session_state.pop(_COUNT_SLOT, None)
    if not existing:
        return None
    names = {b.id: b.name for b in existing}
    if st.session_state.get("active_board") not in names:
        st.session_state["active_board"] = existing[0].id
    st.session_state["active_board"] = st.session_state["active_board"]  # see the docstring
    board_id = st.sidebar.selectbox("Add results to", list(names), format_func=names.get, key="active_board")
    st.session_state[_COUNT_SLOT] = st.sidebar.empty()
    _show_count(len(next(b for b in existing if b.id == board_id).items))
    return board_id


def products(count: int) -> str:
    """'1 product', '3 products'."""
    return f"{count} product{'' if count == 1 else 's'}"


def _show_count(count: int) -> None:
    slot = st.session_state.get(_COUNT_SLOT)
    if slot is not None:
        slot.caption(f"{products(count)} on this board")


def add_to_board(config: Settings, board_id: str, result: Result) -> None:
    """Button callback: keep the product, its attributes and its similarity to the search now."""
    st.session_state.pop(_COUNT_SLOT, None)  # a callback runs before the page: its picker draws the new count
    try:
        (added,) = add_products_to_board(config, board_id, [result])
        st.toast("Added to the board" if added else "Already on that board")
    except LensError as exc:
        st.toast(f"Could not add: {md(exc)}")


def add_products_to_board(config: Settings, board_id: str, results: list[Result]) -> list[bool]:
    """Add each product (False where it was already there); the sidebar's count line follows at once."""
    boards = resources.boards(str(config.data_dir))
    # The similarity a person read on the card (a fused or feedback list's raw engine score means nothing later).
    added = [boards.add(board_id, r.product_id, r.title, r.similarity, r.payload) for r in results]
    if st.session_state.get("active_board") == board_id:
        _show_count(len(boards.get(board_id).items))
    _warn_hidden([r for r, new in zip(results, added) if new])
    return added


def _warn_hidden(added: list[Result]) -> None:
    """A toast for drafts and archived products just added: they are allowed on a board, but never unnoticed."""
    from core.curation.boards import hidden_note, hidden_status

    hidden = [(r, status) for r in added if (status := hidden_status(r.payload))]
    if len(hidden) == 1:
        (result, status), = hidden
        st.toast(md(hidden_note(result.title or result.product_id, status)), icon=":material/warning:")
    elif hidden:
        names = ", ".join(r.title or r.product_id for r, _ in hidden[:HIDDEN_NAMED])
        more = f" and {len(hidden) - HIDDEN_NAMED} more" if len(hidden) > HIDDEN_NAMED else ""
        st.toast(md(f"Note: {len(hidden)} of the products added are drafts or archived, not live in the shop: "
                    f"{names}{more}"), icon=":material/warning:")


_REMOVED = "board_removed"  # the last product taken off a board this session: (board id, position, item)


def similarity_when_added(score: float | None) -> str:
    """A board card's score, labelled: it is the similarity to the search it was added from, not to anything now."""
    return "" if score is None else f"Similarity when added: {score:.3f}"


def remove_with_undo(board_id: str, product_id: str, data_dir: str) -> None:
    """Button callback: take the product off and keep what was removed, so the page can offer Undo."""
    from core.curation.boards import BoardError

    try:
        removed = resources.boards(data_dir).remove(board_id, product_id)
    except BoardError as exc:  # the board was deleted in another tab
        st.toast(f"Could not remove: {md(exc)}")
        return
    if removed is not None:
        st.session_state[_REMOVED] = (board_id, *removed)


def undo_notice(board_id: str, data_dir: str) -> None:
    """After a remove: "Removed X." with an Undo that puts it back where it was, with its similarity and date."""
    from core.curation.boards import BoardError

    removed = st.session_state.get(_REMOVED)
    if not removed or removed[0] != board_id:
        return
    _, position, item = removed
    with st.container(horizontal=True, vertical_alignment="center", key="board_undo_row"):
        st.caption(f"Removed {md(item.title or item.product_id)} from this board.")
        if st.button("Undo", icon=":material/undo:", key="board_undo"):
            st.session_state.pop(_REMOVED, None)
            try:
                if not resources.boards(data_dir).restore(board_id, position, item):
                    st.toast("It is already back on this board")
            except BoardError as exc:  # a toast outlives the rerun below; an st.error would not
                st.toast(f"Could not undo: {md(exc)}")
            st.rerun()
