"""Boards: writes from several processes and instances all land; CSV exports cannot carry spreadsheet formulas."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from core.curation.boards import BoardError, BoardStore

PER_WRITER = 300


def _add_many(folder: str, board_id: str, prefix: str, start) -> None:
    """One writer: waits for the common start signal, then adds PER_WRITER distinct products one by one."""
    boards = BoardStore(Path(folder))
    start.wait()
    for n in range(PER_WRITER):
        assert boards.add(board_id, f"{prefix}{n}", f"title {prefix}{n}", 0.5, {"colour": "Red"})


def _ids(boards: BoardStore, board_id: str) -> list[str]:
    return [i.product_id for i in boards.get(board_id).items]


def test_two_processes_adding_to_one_board_lose_no_items(tmp_path):
    boards = BoardStore(tmp_path / "boards")
    board = boards.create("Summer")
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the folder
    start = ctx.Event()
    writers = [ctx.Process(target=_add_many, args=(str(boards.folder), board.id, prefix, start))
               for prefix in ("a", "b")]
    for w in writers:
        w.start()
    start.set()
    for w in writers:
        w.join(120)
    assert [w.exitcode for w in writers] == [0, 0]
    ids = _ids(boards, board.id)
    assert len(ids) == 2 * PER_WRITER and len(set(ids)) == 2 * PER_WRITER
    assert set(ids) == {f"{p}{n}" for p in "ab" for n in range(PER_WRITER)}
    # Each writer's own items stay in the order it added them.
    assert [i for i in ids if i[0] == "a"] == [f"a{n}" for n in range(PER_WRITER)]


def test_two_store_instances_in_threads_lose_no_items(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "boards"
    board = BoardStore(folder).create("Summer")
    start = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        writers = [pool.submit(_add_many, str(folder), board.id, prefix, start) for prefix in ("a", "b")]
        start.set()
        for w in writers:
            w.result(120)  # re-raises a writer's failure here
    ids = _ids(BoardStore(folder), board.id)
    assert sorted(ids) == sorted(f"{p}{n}" for p in "ab" for n in range(PER_WRITER))


def _create(folder: str, name: str, start, results) -> None:
    start.wait()
    try:
        BoardStore(Path(folder)).create(name)
        results.put("created")
    except BoardError as exc:
        results.put(type(exc).__name__)


def test_two_processes_creating_the_same_name_make_one_board(tmp_path):
    folder = tmp_path / "boards"
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    makers = [ctx.Process(target=_create, args=(str(folder), "Summer", start, results)) for _ in range(4)]
    for m in makers:
        m.start()
    start.set()
    for m in makers:
        m.join(60)
    assert sorted(results.get(timeout=5) for _ in makers) == ["BoardError"] * 3 + ["created"]
    assert [b.name for b in BoardStore(folder).list()] == ["Summer"]


def test_an_unwritable_boards_folder_is_a_board_error(tmp_path):
    blocker = tmp_path / "boards"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(BoardError, match="boards cannot be saved"):
        BoardStore(blocker).create("Summer")


def _result(product_id, title, score=None, **payload):
    from core.search.query import Result

    return Result(product_id, score, title, "", payload)


def test_export_cells_that_start_a_formula_get_a_leading_quote():
    from core.curation.export import selection_csv

    rows = [_result("1", "=HYPERLINK(\"http://evil.example\",\"x\")"), _result("2", "+1+1"),
            _result("3", "-2+cmd|' /C calc'!A0"), _result("4", "@SUM(A1:A2)"), _result("5", "\t=1"),
            _result("6", "\r=1"), _result("7", "Plain dress = nice", colour="-Red")]
    assert selection_csv(rows).split("\r\n") == [
        "\ufeffproduct_id,title,colour,score",
        "1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",,",
        "2,'+1+1,,",
        "3,'-2+cmd|' /C calc'!A0,,",
        "4,'@SUM(A1:A2),,",
        "5,'\t=1,,",
        "6,\"'\r=1\",,",
        "7,Plain dress = nice,'-Red,",
        "",
    ]


def test_export_leaves_numbers_alone_even_with_a_sign():
    from core.curation.export import csv_cell, selection_csv

    rows = [_result("-5", "Socks", score=-0.1234, colour="+3"), _result("6", "Hat", score=0.5, usage="-1.5e3")]
    assert selection_csv(rows).split("\r\n") == ["\ufeffproduct_id,title,colour,usage,score", "-5,Socks,+3,,-0.1234",
                                                  "6,Hat,,-1.5e3,0.5000", ""]
    # Only a whole number is a number: float() would also accept these, a spreadsheet would not see a number.
    assert [csv_cell(v) for v in ("-inf", "-nan", "\t5", "-5 ", "-", "+", "-1-1", "-.5", -7)] == \
        ["'-inf", "'-nan", "'\t5", "'-5 ", "'-", "'+", "'-1-1", "-.5", "-7"]


# What an index stores for a product (numbers as floats, lists for colours and tags, in_stock as yes/no), with the
# keys the indexer adds beside them.
DRESS = {"product_id": "1", "title": "Mango Women Red Dress", "gender": "Women", "colour": ["Red", "White"],
         "brand": "Mango", "price": 49.9, "currency": "USD", "in_stock": "yes", "link": "https://shop.example/p/1",
         "tags": ["summer", "party"], "image_url": "https://cdn.example/1.jpg", "material": "Cotton",
         "image_path": "/srv/lens/images/1.jpg", "fingerprint": "c926f74b", "payload_hash": "8aeec149",
         "text_only": False, "image_problem": "none"}
TEE = {"product_id": "2", "title": "Nike Men Blue T-shirt", "colour": ["Blue"], "brand": "=HYPERLINK(\"http://x\")",
       "price": 1299.0, "inventory": 3.0, "tags": ["-sale", "cotton"], "fit": "slim", "image_path": "/srv/2.jpg",
       "fingerprint": "f00"}


def test_board_export_has_every_attribute_its_items_carry_and_no_internal_keys(tmp_path, monkeypatch):
    import time

    from core.curation.export import board_csv

    boards = BoardStore(tmp_path / "boards")
    board = boards.create("Summer")
    monkeypatch.setattr("core.curation.boards.time.time", lambda: 1767225600.0)  # 2026-01-01 00:00:00 UTC
    added = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1767225600.0))  # as the server's clock shows it
    assert boards.add(board.id, "1", DRESS["title"], 0.91234, DRESS)
    assert boards.add(board.id, "2", TEE["title"], None, TEE)
    lines = board_csv(boards.get(board.id)).split("\r\n")
    assert lines == [
        ("\ufeffproduct_id,title,gender,colour,brand,price,currency,in_stock,inventory,link,tags,image_url,fit,"
         "material,score,added_at"),
        ("1,Mango Women Red Dress,Women,\"Red, White\",Mango,49.9,USD,yes,,https://shop.example/p/1,\"summer, party\","
         f"https://cdn.example/1.jpg,,Cotton,0.9123,{added}"),
        # Every cell is neutralised, catalogue attributes too: a brand or a tag list that starts a formula.
        ("2,Nike Men Blue T-shirt,,Blue,\"'=HYPERLINK(\"\"http://x\"\")\",1299,,,3,,\"'-sale, cotton\",,slim,,,"
         f"{added}"),
        "",
    ]


def test_an_empty_board_exports_its_header_only(tmp_path):
    from core.curation.export import board_csv

    boards = BoardStore(tmp_path / "boards")
    assert board_csv(boards.create("Empty")) == "\ufeffproduct_id,title,score,added_at\r\n"


def test_a_selection_export_has_the_same_attribute_columns_without_added_at():
    from core.curation.export import selection_csv
    from core.search.query import Result

    results = [Result("1", 0.5, DRESS["title"], DRESS["image_path"], DRESS), Result("2", None, TEE["title"], "", TEE)]
    header, dress, tee, end = selection_csv(results).split("\r\n")
    assert header == ("\ufeffproduct_id,title,gender,colour,brand,price,currency,in_stock,inventory,link,tags,image_url,"
                      "fit,material,score")
    assert dress.endswith(",Cotton,0.5000") and tee.endswith(",slim,,") and end == ""


def test_exports_start_with_a_utf8_bom_so_excel_shows_accented_titles(tmp_path):
    from core.curation.export import board_csv, selection_csv

    boards = BoardStore(tmp_path / "boards")
    board = boards.create("Été")
    boards.add(board.id, "1", "Robe d'été crème", 0.5, {"colour": "Crème"})
    for exported in (board_csv(boards.get(board.id)), selection_csv([_result("1", "Robe d'été crème", 0.5)])):
        raw = exported.encode("utf-8")  # what the download button sends
        assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1
        assert raw.decode("utf-8-sig").split("\r\n")[1].startswith("1,Robe d'été crème,")


def test_a_removed_item_is_put_back_where_it_was_with_its_similarity_and_date(tmp_path, monkeypatch):
    boards = BoardStore(tmp_path / "boards")
    board = boards.create("Summer")
    monkeypatch.setattr("core.curation.boards.time.time", lambda: 1767225600.0)
    for n, score in enumerate((0.9, -0.086, 0.3)):
        boards.add(board.id, str(n), f"t{n}", score, {"colour": "Red"})
    position, item = boards.remove(board.id, "1")
    assert position == 1 and (item.product_id, item.score, item.added_at) == ("1", -0.086, 1767225600.0)
    assert _ids(boards, board.id) == ["0", "2"]
    assert boards.remove(board.id, "1") is None  # a second click on a stale card removes nothing
    assert boards.restore(board.id, position, item)
    assert _ids(boards, board.id) == ["0", "1", "2"]
    assert boards.get(board.id).items[1] == item
    assert not boards.restore(board.id, position, item)  # already back: never twice
    assert _ids(boards, board.id) == ["0", "1", "2"]


def test_undo_after_the_board_was_deleted_is_a_board_error(tmp_path):
    boards = BoardStore(tmp_path / "boards")
    board = boards.create("Summer")
    boards.add(board.id, "1", "t1", 0.5, {})
    position, item = boards.remove(board.id, "1")
    boards.delete(board.id)
    with pytest.raises(BoardError):
        boards.restore(board.id, position, item)


@pytest.mark.parametrize("status, hidden", [
    ("draft", "draft"), ("Archived", "archived"), (" DRAFT ", "draft"), ("active", None), ("", None), (None, None),
])
def test_drafts_and_archived_products_are_told_apart_whatever_the_case(status, hidden):
    from core.curation.boards import hidden_status

    assert hidden_status({"status": status}) == hidden
    assert hidden_status({}) is None and hidden_status(None) is None


def test_the_hidden_note_says_what_the_product_is():
    from core.curation.boards import hidden_note

    assert hidden_note("Red Dress", "draft") == "Note: Red Dress is a draft, not live in the shop"
    assert hidden_note("Old Tee", "archived") == "Note: Old Tee is archived, not live in the shop"


def test_adding_a_draft_to_a_board_shows_a_plain_text_note(app_settings):
    """The issue: drafts "went onto a board unnoticed". One draft added: a toast names it, as plain text (its title
    is catalogue data: *bold* stays literal); an active product and a second add of the same draft: no note."""
    from streamlit.testing.v1 import AppTest

    from core.common.safe_text import md
    from tests.helpers.apptest import TIMEOUT

    assert r"\*Bold\*" in md("*Bold*")  # the title's asterisks stay literal text
    BoardStore(app_settings.data_dir / "boards").create("Picks")

    def script():
        import streamlit as st

        from app import board_panel, resources
        from core.search.query import Result

        config = resources.settings()
        board_id = board_panel.board_picker(config)
        products = {"1": ("*Bold* dress", "draft"), "2": ("Tee", "active"), "3": ("Old coat", "Archived"),
                    "4": ("", "archived")}
        for pid in st.session_state.get("to_add", []):
            title, status = products[pid]
            board_panel.add_products_to_board(config, board_id, [Result(pid, 0.5, title, "", {"status": status})])
        if st.button("Add all", key="add_all"):
            board_panel.add_products_to_board(
                config, board_id, [Result(p, 0.5, t, "", {"status": s}) for p, (t, s) in products.items()])

    at = AppTest.from_function(script, default_timeout=TIMEOUT)
    at.session_state["to_add"] = ["1"]
    at.run()
    assert not at.exception
    assert [t.value for t in at.toast] == [md("Note: *Bold* dress is a draft, not live in the shop")]
    at.session_state["to_add"] = ["2", "1"]  # active: no note; the draft is already there: nothing new to tell
    at.run()
    assert [t.value for t in at.toast] == []
    at.session_state["to_add"] = []
    at.button(key="add_all").click().run()  # 3 and 4 are new and archived (4 has no title: its id is named)
    assert [t.value for t in at.toast] == [
        md("Note: 2 of the products added are drafts or archived, not live in the shop: Old coat, 4")]
