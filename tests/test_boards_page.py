"""Boards page: each card says what its number is (the similarity when added), and Remove has an Undo."""

from __future__ import annotations

from core.curation.boards import BoardStore
from core.common.safe_text import md
from tests.conftest import PRODUCTS
from tests.helpers.apptest import start

SCORES = {"1": 0.912, "2": -0.086, "3": 0.25}


def _board(settings):
    boards = BoardStore(settings.data_dir / "boards")
    board = boards.create("Picks")
    by_id = {p[0]: p for p in PRODUCTS}
    for pid, score in SCORES.items():
        boards.add(board.id, pid, by_id[pid][7], score, {"colour": by_id[pid][5]})
    return boards, board


def _card_ids(at) -> list[str]:
    return [b.key.removeprefix("board-") for b in at.button if b.label == "Remove"]


def test_board_cards_label_their_number_as_the_similarity_when_added(indexed):
    _board(indexed)
    at = start("pages/boards.py")
    labels = [c.value for c in at.caption if c.value.startswith("Similarity when added")]
    assert labels == ["Similarity when added: 0.912", "Similarity when added: -0.086",
                      "Similarity when added: 0.250"]
    assert not any(c.value.startswith("-0.086") for c in at.caption)  # no bare number left on a card


def test_remove_then_undo_puts_the_product_back_in_its_place(indexed):
    boards, board = _board(indexed)
    before = boards.get(board.id).items
    at = start("pages/boards.py")
    assert _card_ids(at) == ["1", "2", "3"]
    at.button(key="board-2").click().run()
    assert not at.exception
    assert _card_ids(at) == ["1", "3"] and [i.product_id for i in boards.get(board.id).items] == ["1", "3"]
    title = {p[0]: p[7] for p in PRODUCTS}["2"]
    assert any(c.value == f"Removed {md(title)} from this board." for c in at.caption)
    at.button(key="board_undo").click().run()
    assert not at.exception
    assert _card_ids(at) == ["1", "2", "3"]
    assert boards.get(board.id).items == before  # same similarity, same time added, same place
    assert not [b for b in at.button if b.key == "board_undo"]  # the undo is spent


def test_undo_belongs_to_the_board_it_was_removed_from(indexed):
    boards, board = _board(indexed)
    other = boards.create("Other")
    at = start("pages/boards.py")
    at.selectbox(key="board_selected").set_value(board.id).run()
    at.button(key="board-1").click().run()
    assert [b for b in at.button if b.key == "board_undo"]
    at.selectbox(key="board_selected").set_value(other.id).run()
    assert not at.exception and not [b for b in at.button if b.key == "board_undo"]
