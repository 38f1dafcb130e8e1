"""Boards page: create, rename, delete boards, remove items, compare them, export CSV."""

import streamlit as st

from app import board_panel, page, resources, result_grid
from core.curation.boards import BoardError, item_results
from core.curation.export import board_csv
from core.common.safe_text import md
from core.search.query import Result

config, _store = page.start("Boards")
boards = resources.boards(str(config.data_dir))

with st.form("create-board", clear_on_submit=True):
    name = st.text_input("New board name", key="board_new_name")
    if st.form_submit_button("Create board"):
        try:
            st.session_state["board_selected"] = boards.create(name).id
        except BoardError as exc:
            st.error(md(exc))

all_boards, unreadable = boards.scan()
if unreadable:
    st.warning(f"Skipped unreadable board files (left untouched): {md(', '.join(unreadable))}")
if not all_boards:
    st.info("No boards yet. Create one above, then use :material/bookmark_add: on search results to collect products.")
    st.stop()
# Labels are the names only, and the key is assigned on every run: this Streamlit identifies the chosen
# option by its label, so a renamed board (or a label with a count) would keep showing its old label.
names = {b.id: b.name for b in all_boards}
if st.session_state.get("board_selected") not in names:
    st.session_state["board_selected"] = all_boards[0].id
st.session_state["board_selected"] = st.session_state["board_selected"]
board = boards.get(st.selectbox("Board", list(names), format_func=names.get, key="board_selected"))
st.caption(f"{board_panel.products(len(board.items))} on this board")

rename_col, export_col, delete_col = st.columns([3, 1, 1], vertical_alignment="bottom")
new_name = rename_col.text_input("Rename to", value=board.name, key=f"rename-{board.id}")
if new_name.strip() != board.name:
    try:
        boards.rename(board.id, new_name)
        st.rerun()
    except BoardError as exc:
        st.error(md(exc))
export_col.download_button("Export CSV", board_csv(board), file_name=f"{board.name}.csv", mime="text/csv",
                           key="board_export", width="stretch")
if delete_col.button("Delete board", key="board_delete", width="stretch"):
    st.session_state["board_confirm_delete"] = board.id
if st.session_state.get("board_confirm_delete") == board.id:
    st.warning(f"Delete the board **{md(board.name)}** and its {board_panel.products(len(board.items))}? "
               "This cannot be undone; export it first to keep a copy.")
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Delete it", type="primary", key="board_delete_confirm"):
        boards.delete(board.id)
        st.session_state.pop("board_confirm_delete", None)
        st.toast(f"Deleted the board {md(board.name)}")
        st.rerun()
    if no.button("Keep it", key="board_delete_cancel"):
        st.session_state.pop("board_confirm_delete", None)
        st.rerun()

board_panel.undo_notice(board.id, str(config.data_dir))
if not board.items:
    st.info("This board is empty. Use :material/bookmark_add: on search results to add products.")
items = item_results(board)


def board_actions(result: Result, key: str) -> None:
    """Its similarity when added; take it off the board (with Undo); open its page; pick it for Compare."""
    if label := board_panel.similarity_when_added(result.score):
        st.caption(label)
    st.button("Remove", key=key, on_click=board_panel.remove_with_undo,
              args=(board.id, result.product_id, str(config.data_dir)))
    result_grid.view_and_compare(result, key)


result_grid.product_grid(items, config, board_actions, key="board", show_scores=False)
