"""The board panel: which board results go to, creating one, adding products to it."""

from __future__ import annotations

import streamlit as st

from app import resources
from core.config import Settings
from core.errors import LensError
from core.safe_text import md
from core.search import Result


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


def add_products_to_board(config: Settings, board_id: str, results: list[Result]) -> list[bool]:
    boards = resources.boards(str(config.data_dir))
    return [boards.add(board_id, r.product_id, r.title, r.score, r.payload) for r in results]
