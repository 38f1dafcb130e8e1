"""The near-duplicates panel's group actions through AppTest: "Not duplicates" regroups at once and is remembered,
Undo and Restore bring the group back, "Add group to board" adds exactly its products, and the group's links open
a product and compare the closest."""

from __future__ import annotations

import json

from core.curation.boards import BoardStore
from core.curation.duplicate_dismissals import DuplicateDismissals
from tests.helpers.apptest import find_duplicates, group_headings, shown, start

PAIR_GROUPS = ["**Group 2: 2 products** · 1 pairs · closest 20 ~ 21 at 1.000",
               "**Group 3: 2 products** · 1 pairs · closest 30 ~ 31 at 1.000",
               "**Group 4: 2 products** · 1 pairs · closest 40 ~ 41 at 1.000",
               "**Group 5: 2 products** · 1 pairs · closest 50 ~ 51 at 1.000"]


def group_keys(at, suffix: str) -> list[str]:
    """The keys of the drawn groups' widgets ending in suffix, in page order."""
    return [b.key for b in at.button if b.key and b.key.startswith("dup-") and b.key.endswith(suffix)]


def test_not_duplicates_drops_the_pair_at_once_and_undo_brings_it_back(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    assert group_headings(at)[1:] == PAIR_GROUPS
    at.button(key=group_keys(at, "-dismiss")[1]).click().run()  # group 2: 20 ~ 21
    assert not at.exception
    assert group_headings(at)[1:] == ["**Group 2: 2 products** · 1 pairs · closest 30 ~ 31 at 1.000",
                                      "**Group 3: 2 products** · 1 pairs · closest 40 ~ 41 at 1.000",
                                      "**Group 4: 2 products** · 1 pairs · closest 50 ~ 51 at 1.000",
                                      "**Group 5: 2 products** · 1 pairs · closest 60 ~ 61 at 1.000"]
    assert any(c.value == "Marked \\#20 and \\#21 as not duplicates: they no longer group." for c in at.caption)
    assert DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).pairs() == {("20", "21")}
    assert at.session_state["dup_job"].seconds is not None  # regrouped from the same search, not a new one
    at.button(key="dup_undo").click().run()
    assert not at.exception and group_headings(at)[1:] == PAIR_GROUPS
    assert DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).pairs() == frozenset()
    assert not [b for b in at.button if b.key == "dup_undo"]


def test_a_pair_chosen_in_a_big_group_is_the_one_dismissed(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    pick = next(s for s in at.selectbox if s.key and s.key.endswith("-pair"))
    assert pick.options[:3] == ["#10 ~ #11 · 1.000", "#10 ~ #12 · 1.000", "#10 ~ #13 · 1.000"]
    pick.set_value(1).run()
    at.button(key=group_keys(at, "-dismiss")[0]).click().run()
    assert not at.exception
    assert group_headings(at)[0] == "**Group 1: 8 products** · 27 pairs · closest 10 ~ 11 at 1.000"
    assert DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).pairs() == {("10", "12")}


def test_dismissals_are_left_out_of_the_next_search_and_restored_from_the_list(dup_indexed):
    DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).dismiss("21", "20")  # an earlier session
    at = find_duplicates(start("pages/catalog.py"))
    assert group_headings(at)[1] == "**Group 2: 2 products** · 1 pairs · closest 30 ~ 31 at 1.000"
    listed = next(e for e in at.expander if e.label == "Marked not duplicates (1)")
    at.session_state["dup_dismissed_open"] = True
    at.run()
    assert listed.label and [t.value for t in at.text] == ["#20 ~ #21"]
    at.button(key="dup-restore-0").click().run()
    assert not at.exception and group_headings(at)[1:] == PAIR_GROUPS
    saved = dup_indexed.data_dir / "duplicates" / dup_indexed.collection / "dismissed.json"
    assert json.loads(saved.read_text()) == []


def test_a_corrupt_dismissals_file_is_a_message_and_the_groups_still_show(dup_indexed):
    path = dup_indexed.data_dir / "duplicates" / dup_indexed.collection / "dismissed.json"
    path.parent.mkdir(parents=True)
    path.write_text("[{broken")
    at = find_duplicates(start("pages/catalog.py"))
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        f"the dismissed near-duplicates file {path} cannot be read (Expecting property name enclosed in double "
        "quotes: line 1 column 3 (char 2)); move it aside to start afresh, or restore it from a backup"]
    assert len(group_headings(at)) == 5
    assert all(b.disabled for b in at.button if b.key and b.key.endswith("-dismiss"))
    assert path.read_text() == "[{broken"


def test_add_group_to_board_adds_exactly_its_products_once(dup_indexed):
    boards = BoardStore(dup_indexed.data_dir / "boards")
    board = boards.create("Duplicates to merge")
    at = find_duplicates(start("pages/catalog.py"))
    at.button(key=group_keys(at, "-board")[0]).click().run()
    assert not at.exception
    assert [i.product_id for i in boards.get(board.id).items] == [str(i) for i in range(10, 18)]
    assert [t.value for t in at.toast] == ["Added 8 products to Duplicates to merge"]
    at.button(key=group_keys(at, "-board")[1]).click().run()
    at.button(key=group_keys(at, "-board")[1]).click().run()
    assert [i.product_id for i in boards.get(board.id).items][8:] == ["20", "21"]
    assert at.toast[-1].value == "Added 0 products to Duplicates to merge (2 already there)"


def test_add_group_to_board_waits_for_a_board(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    assert all(b.disabled for b in at.button if b.key and b.key.endswith("-board"))


def test_each_group_links_to_compare_its_closest_and_each_photo_to_its_page(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    links = [(e.proto.label, e.proto.page, list(e.proto.query_string.split("&")) if e.proto.query_string else [])
             for e in at.get("page_link")]
    compare = [link for link in links if link[0].startswith("Compare the")]
    assert [c[0] for c in compare] == ["Compare the 4 closest"] + ["Compare the group"] * 4
    assert compare[0][2] == ["id=10", "id=11", "id=12", "id=13"] and compare[1][2] == ["id=20", "id=21"]
    views = [link for link in links if link[0] == "View"]
    assert len(views) == 6 + 4 * 2 and views[0][2] == ["id=10"]


def test_a_second_click_while_a_search_runs_starts_no_second_search(dup_indexed, monkeypatch):
    import threading

    from core.search import duplicates

    release, started = threading.Event(), []
    real = duplicates.find_pairs

    def held(*args, **kwargs):  # the search the first click starts runs until the test lets it finish
        started.append(threading.current_thread().name)
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(duplicates, "find_pairs", held)
    at = start("pages/catalog.py")
    at.slider(key="dup_threshold").set_value(0.9999)
    at.button(key="dup_go").click().run()
    first = at.session_state["dup_job"]
    assert not at.exception and not first.done
    assert at.button(key="dup_go").disabled  # in the run the click started: no second click can reach it
    at.run()  # any rerun while it runs (another widget, a page change)
    assert at.button(key="dup_go").disabled
    assert at.session_state["dup_job"] is first and len(started) == 1
    release.set()
    assert first.wait(30)
    at.run()
    assert len(started) == 1 and not at.button(key="dup_go").disabled
    assert group_headings(at)[1:] == PAIR_GROUPS


def test_not_a_duplicate_of_this_group_takes_exactly_that_product_out_and_undo_puts_it_back(dup_indexed):
    at = find_duplicates(start("pages/catalog.py"))
    member = next(s for s in at.selectbox if s.key and s.key.endswith("-member"))
    assert member.options == [f"#{n}" for n in range(10, 18)]  # only the group of eight: a pair needs no choosing
    member.set_value(2).run()  # #12
    at.button(key=group_keys(at, "-leave")[0]).click().run()
    assert not at.exception
    assert group_headings(at)[0] == "**Group 1: 7 products** · 21 pairs · closest 10 ~ 11 at 1.000"
    assert group_headings(at)[1:] == PAIR_GROUPS
    assert DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).pairs() == {
        ("10", "12"), ("11", "12"), ("12", "13"), ("12", "14"), ("12", "15"), ("12", "16"), ("12", "17")}
    assert any(c.value == "Marked \\#12 as not a duplicate of its group (7 pairs): it no longer groups with them."
               for c in at.caption)
    at.button(key="dup_undo").click().run()
    assert not at.exception
    assert group_headings(at)[0] == "**Group 1: 8 products** · 28 pairs · closest 10 ~ 11 at 1.000"
    assert DuplicateDismissals(dup_indexed.data_dir, dup_indexed.collection).pairs() == frozenset()


def test_find_near_duplicates_follows_the_show_drafts_and_archived_toggle(dup_indexed):
    at = start("pages/catalog.py")
    assert find_duplicates(at).session_state["dup_job"].show_hidden is False
    at.session_state["show_hidden"] = True  # the sidebar's "Show drafts and archived", as any page leaves it
    at.run()
    # groups found with drafts left out no longer stand: the page says so and drops them
    assert [i.value for i in at.info] == [
        "“Show drafts and archived” has changed since near-duplicates were last found: find them again."]
    job = find_duplicates(at).session_state["dup_job"]
    assert job.show_hidden is True and not at.exception
    assert group_headings(at)[1:] == PAIR_GROUPS
