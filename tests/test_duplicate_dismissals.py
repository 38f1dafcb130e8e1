"""Pairs dismissed as "not duplicates": exact groups on hand-made vectors once a pair is dismissed (the group splits
exactly where the pair held it together), undo, a file that survives a restart, and a corrupt file as a message."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from core.search import duplicates
from core.curation.duplicate_dismissals import DismissalError, DuplicateDismissals
from core.search.duplicates import DuplicateSearch, near_duplicates
from core.index.store import StoredPoint, point_id


def on_circle(angle: float, axis: int = 0) -> np.ndarray:
    """A unit vector at `angle` radians on the great circle of two axes: cos(difference) is the similarity."""
    v = np.zeros(6, dtype=np.float32)
    v[axis], v[axis + 1] = np.cos(angle), np.sin(angle)
    return v


# At threshold 0.994: a chain c1~c2 (0.999), c2~c3 (0.995), c3~c4 (0.9992), its ends and skips below it (0.990);
# a triangle t1, t2, t3 all within 0.999 of each other (t1~t2 closest); a pair q1~q2 alone. No two pairs tie.
STEP, BRIDGE = float(np.arccos(0.999)), float(np.arccos(0.995))
VECTORS = {"c1": on_circle(0), "c2": on_circle(STEP), "c3": on_circle(STEP + BRIDGE),
           "c4": on_circle(1.9 * STEP + BRIDGE),
           "t1": on_circle(0, 2), "t2": on_circle(0.4 * STEP, 2), "t3": on_circle(STEP, 2),
           "q1": on_circle(0, 4), "q2": on_circle(STEP, 4)}
THRESHOLD = 0.994
PATHS = pytest.mark.parametrize("exact_up_to", [duplicates.EXACT_UP_TO, 0], ids=["matrix", "engine"])


@pytest.fixture
def hand_made(store):
    store.ensure("hand-made", 6)
    store.upsert([StoredPoint(point_id(pid), {"image": v, "text": v}, {"product_id": pid})
                  for pid, v in VECTORS.items()])
    return store


def shape(groups):
    """Each group's members and its pairs (ids only), in the order the page shows them."""
    return [(g.product_ids, [(a, b) for a, b, _ in g.pairs]) for g in groups]


CHAIN = (["c1", "c2", "c3", "c4"], [("c3", "c4"), ("c1", "c2"), ("c2", "c3")])
TRIANGLE = (["t1", "t2", "t3"], [("t1", "t2"), ("t2", "t3"), ("t1", "t3")])
PAIR = (["q1", "q2"], [("q1", "q2")])


@PATHS
def test_a_dismissed_bridge_splits_its_group_exactly_in_two(hand_made, exact_up_to):
    assert shape(near_duplicates(hand_made, THRESHOLD, exact_up_to=exact_up_to)) == [CHAIN, TRIANGLE, PAIR]
    split = near_duplicates(hand_made, THRESHOLD, dismissed={("c3", "c2")}, exact_up_to=exact_up_to)  # either order
    assert shape(split) == [TRIANGLE, (["c1", "c2"], [("c1", "c2")]), (["c3", "c4"], [("c3", "c4")]), PAIR]


@PATHS
def test_a_dismissed_pair_inside_a_tight_group_keeps_the_group_but_not_the_pair(hand_made, exact_up_to):
    groups = near_duplicates(hand_made, THRESHOLD, dismissed={("t1", "t2"), ("q1", "q2")}, exact_up_to=exact_up_to)
    assert shape(groups) == [CHAIN, (["t1", "t2", "t3"], [("t2", "t3"), ("t1", "t3")])]  # the lone pair is gone


def test_dismissing_then_undoing_through_the_file_restores_the_group(hand_made, tmp_path):
    dismissals = DuplicateDismissals(tmp_path, "products")
    made = dismissals.dismiss("c3", "c2")
    assert (made.a, made.b) == ("c2", "c3")
    assert dismissals.dismiss("c2", "c3") is None  # once per pair, whichever way round
    assert shape(near_duplicates(hand_made, THRESHOLD, dismissed=dismissals.pairs()))[1:3] == [
        (["c1", "c2"], [("c1", "c2")]), (["c3", "c4"], [("c3", "c4")])]
    assert dismissals.restore("c2", "c3") is True
    assert dismissals.restore("c2", "c3") is False
    assert shape(near_duplicates(hand_made, THRESHOLD, dismissed=dismissals.pairs())) == [CHAIN, TRIANGLE, PAIR]


def test_a_finished_search_regroups_at_once_for_a_dismissal_and_its_undo(hand_made):
    job = DuplicateSearch(hand_made, THRESHOLD, index_version=1.0, dismissed={("q1", "q2")})
    assert job.wait(30) and job.error is None
    assert shape(job.groups) == [CHAIN, TRIANGLE]
    assert shape(job.regroup({("c2", "c3"), ("q1", "q2")})) == [TRIANGLE, (["c1", "c2"], [("c1", "c2")]),
                                                                (["c3", "c4"], [("c3", "c4")])]
    assert shape(job.regroup(set())) == [CHAIN, TRIANGLE, PAIR]


def test_dismissals_survive_a_restart_oldest_first(tmp_path):
    first = DuplicateDismissals(tmp_path, "products")
    first.dismiss("b", "a")
    first.dismiss("x", "y")
    again = DuplicateDismissals(tmp_path, "products")  # a new process reads the same file
    assert [(d.a, d.b) for d in again.all()] == [("a", "b"), ("x", "y")]
    assert again.pairs() == {("a", "b"), ("x", "y")}
    assert json.loads((tmp_path / "duplicates" / "products" / "dismissed.json").read_text())[0]["a"] == "a"
    assert not list((tmp_path / "duplicates" / "products").glob("*.tmp"))  # written by rename, no leftovers


@pytest.mark.parametrize("content", ["{not json", '{"a": "x"}', '[{"a": "x"}]', '[{"a": "x", "b": "x"}]', "[42]"])
def test_a_corrupt_file_is_a_clear_message_and_is_never_overwritten(tmp_path, content):
    path = tmp_path / "duplicates" / "products" / "dismissed.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    dismissals = DuplicateDismissals(tmp_path, "products")
    with pytest.raises(DismissalError, match="dismissed near-duplicates file .*dismissed.json cannot be read"):
        dismissals.pairs()
    with pytest.raises(DismissalError, match="cannot be read"):
        dismissals.dismiss("a", "b")
    assert path.read_text() == content


def test_a_product_cannot_be_dismissed_against_itself(tmp_path):
    with pytest.raises(DismissalError, match="two different products"):
        DuplicateDismissals(tmp_path, "products").dismiss("a", "a")
    assert not (tmp_path / "duplicates" / "products" / "dismissed.json").exists()


def test_two_writers_at_once_lose_no_dismissal(tmp_path):
    def dismiss_many(prefix):
        mine = DuplicateDismissals(tmp_path, "products")  # separate instances: only the folder's OS lock is shared
        for n in range(15):
            mine.dismiss(f"{prefix}{n}", f"{prefix}{n}-copy")

    threads = [threading.Thread(target=dismiss_many, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(DuplicateDismissals(tmp_path, "products").pairs()) == 30


def test_a_folder_that_refuses_the_write_is_a_clear_message(tmp_path):
    (tmp_path / "duplicates").write_text("a file where the folder should be")  # root ignores chmod: this fails for all
    with pytest.raises(DismissalError, match="dismissals cannot be saved in .*duplicates"):
        DuplicateDismissals(tmp_path, "products").dismiss("a", "b")


def test_the_cli_leaves_dismissed_pairs_out_and_names_a_corrupt_file(settings, tmp_path, capsys):
    from core.cli import main
    from tests.conftest import PRODUCTS, write_catalog

    # Product 7 is drawn exactly as product 1 (a red dress): the one pair at or above 0.9999.
    catalog = write_catalog(tmp_path / "c", [*PRODUCTS, ("7", "Women", "Apparel", "Dress", "Dresses", "Red", "Party",
                                                         "Copy of the red dress")])
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--threshold", "0.9999", "--json"]) == 0
    assert [g["product_ids"] for g in json.loads(capsys.readouterr().out)] == [["1", "7"]]
    DuplicateDismissals(settings.data_dir, settings.collection).dismiss("7", "1")
    assert main(["duplicates", "--threshold", "0.9999"]) == 0
    assert capsys.readouterr().out == "no near-duplicates at threshold 0.9999\n"
    (settings.data_dir / "duplicates" / settings.collection / "dismissed.json").write_text("nonsense")
    assert main(["duplicates", "--threshold", "0.9999"]) != 0
    err = capsys.readouterr().err
    assert "dismissed near-duplicates file" in err and "cannot be read" in err and "Traceback" not in err


def test_a_dismissal_belongs_to_its_collection_alone(settings, tmp_path, capsys, monkeypatch):
    from core.cli import main
    from tests.conftest import PRODUCTS, write_catalog

    # The same catalogue in two collections of one data dir: the same ids, the same pair 1 ~ 7.
    catalog = write_catalog(tmp_path / "c", [*PRODUCTS, ("7", "Women", "Apparel", "Dress", "Dresses", "Red", "Party",
                                                         "Copy of the red dress")])
    for collection in ("products", "spring"):
        monkeypatch.setenv("LENS_COLLECTION", collection)
        assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    DuplicateDismissals(settings.data_dir, "products").dismiss("1", "7")
    capsys.readouterr()
    monkeypatch.setenv("LENS_COLLECTION", "products")
    assert main(["duplicates", "--threshold", "0.9999", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    monkeypatch.setenv("LENS_COLLECTION", "spring")
    assert main(["duplicates", "--threshold", "0.9999", "--json"]) == 0
    assert [g["product_ids"] for g in json.loads(capsys.readouterr().out)] == [["1", "7"]]
    assert DuplicateDismissals(settings.data_dir, "spring").pairs() == frozenset()
    assert (settings.data_dir / "duplicates" / "products" / "dismissed.json").exists()
    assert not (settings.data_dir / "duplicates" / "spring" / "dismissed.json").exists()


@PATHS
def test_a_product_taken_out_of_its_group_leaves_exactly_it_out(hand_made, tmp_path, exact_up_to):
    chain = near_duplicates(hand_made, THRESHOLD, exact_up_to=exact_up_to)[0]
    assert chain.pairs_of("c2") == [("c1", "c2"), ("c2", "c3")]
    dismissals = DuplicateDismissals(tmp_path, "products")
    assert len(dismissals.dismiss_all(chain.pairs_of("c2"))) == 2
    # c2 held the chain together: c1 is now alone, c3 ~ c4 stay a pair; nothing else moves.
    assert shape(near_duplicates(hand_made, THRESHOLD, dismissed=dismissals.pairs(), exact_up_to=exact_up_to)) == [
        TRIANGLE, (["c3", "c4"], [("c3", "c4")]), PAIR]
    assert dismissals.dismiss_all([("c2", "c1"), ("c2", "c3")]) == []  # already marked, whichever way round
    assert dismissals.restore_all(chain.pairs_of("c2")) == 2
    assert shape(near_duplicates(hand_made, THRESHOLD, dismissed=dismissals.pairs(), exact_up_to=exact_up_to)) == [
        CHAIN, TRIANGLE, PAIR]
