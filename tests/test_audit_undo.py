"""Audit decisions you can take back: a change replaces only the value it names, a change naming a value the product
does not hold is refused, and undo restores the stored label at once and stops every later index run re-applying it;
the same through `python -m core audit decide|undo|decisions`."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.common.fields import PRODUCT_ID
from core.index.store import EdgeStore, StoredPoint, point_id
from core.insights.audit_decisions import AuditDecisions, DecisionError, change_held, undo_in_store
from tests.conftest import PRODUCTS, write_catalog

DIM = 4


def put(store, pid: str, colour) -> None:
    store.upsert([StoredPoint(point_id(pid), {"image": [1.0, 0, 0, 0], "text": [0, 1.0, 0, 0]},
                              {PRODUCT_ID: pid, "colour": colour, "title": f"Tee {pid}"})])


def colour(store, pid: str):
    return store.retrieve([point_id(pid)])[0].payload["colour"]


def test_a_list_valued_change_replaces_only_the_value_it_names_and_undo_puts_it_back(edge, tmp_path):
    put(edge, "tee", ["Sky Blue", "Red"])
    decisions = AuditDecisions(tmp_path)
    decision = change_held(decisions, edge, "tee", "colour", "Red", "Crimson")
    assert colour(edge, "tee") == ["Sky Blue", "Crimson"]
    assert decisions.overrides() == {"tee": {"colour": {"Red": "Crimson"}}}
    assert undo_in_store(edge, decisions.undo("tee", "colour")) is True
    assert colour(edge, "tee") == ["Sky Blue", "Red"]
    assert decisions.all() == [] and decisions.overrides() == {}
    assert decision.label == "Red"


@pytest.mark.parametrize("old, new, message", [
    ("White", "Red", "#tee's colour is Sky Blue, Red: it does not hold 'White', so there is nothing to change; "
                     "name one of the values it holds"),
    ("Red", "Sky Blue", "#tee's colour already holds 'Sky Blue' beside 'Red': changing one into the other would "
                        "drop a value; keep it, or fix the source"),
])
def test_a_change_the_product_cannot_take_is_refused_and_changes_nothing(edge, tmp_path, old, new, message):
    put(edge, "tee", ["Sky Blue", "Red"])
    decisions = AuditDecisions(tmp_path)
    with pytest.raises(DecisionError) as refused:
        change_held(decisions, edge, "tee", "colour", old, new)
    assert str(refused.value) == message
    assert colour(edge, "tee") == ["Sky Blue", "Red"] and decisions.all() == []


def test_a_change_of_a_product_the_index_does_not_hold_is_refused(edge, tmp_path):
    with pytest.raises(Exception, match="^the index has no product #ghost$"):
        change_held(AuditDecisions(tmp_path), edge, "ghost", "colour", "Red", "Blue")
    assert AuditDecisions(tmp_path).all() == []


def test_undo_of_a_composed_change_restores_the_catalogues_value(edge, tmp_path):
    put(edge, "4", "Black")
    decisions = AuditDecisions(tmp_path)
    change_held(decisions, edge, "4", "colour", "Black", "Navy Blue")
    change_held(decisions, edge, "4", "colour", "Navy Blue", "Blue")
    assert colour(edge, "4") == "Blue"
    undo_in_store(edge, decisions.undo("4", "colour"))
    assert colour(edge, "4") == "Black" and decisions.all() == []


def test_undo_last_takes_back_the_latest_decision_and_nothing_twice(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.judge_right("1", "colour", "Red")
    decisions.change("2", "colour", "Blue", "Navy Blue")
    decisions.judge_right("3", "category", "Apparel")
    assert decisions.last().product_id == "3"
    taken = decisions.undo("3", "category")
    assert (taken.product_id, taken.verdict) == ("3", "right")
    assert [d.product_id for d in decisions.all()] == ["1", "2"] and decisions.last().product_id == "2"
    with pytest.raises(DecisionError, match=r"^there is no decision on #3's category to undo$"):
        decisions.undo("3", "category")
    assert decisions.confirmed() == {("1", "colour", "Red"), ("2", "colour", "Blue"), ("2", "colour", "Navy Blue")}


def reindexed(decisions: AuditDecisions, pid: str, catalogue_colour):
    """What the next index run stores for a product whose catalogue reads `catalogue_colour`."""
    payload = {"colour": catalogue_colour}
    decisions.relabeller()(pid, payload)
    return payload["colour"]


@pytest.mark.parametrize("second", ["change", "keep"])
def test_a_second_decision_on_a_list_keeps_the_first_through_a_reindex_and_its_undo(edge, tmp_path, second):
    put(edge, "tee", ["Sky Blue", "Red"])
    decisions = AuditDecisions(tmp_path)
    change_held(decisions, edge, "tee", "colour", "Red", "Blue")
    if second == "change":
        change_held(decisions, edge, "tee", "colour", "Sky Blue", "Navy")
        assert colour(edge, "tee") == ["Navy", "Blue"]
        assert reindexed(decisions, "tee", ["Sky Blue", "Red"]) == ["Navy", "Blue"]  # was Navy, Red: Blue lost
        assert decisions.overrides() == {"tee": {"colour": {"Red": "Blue", "Sky Blue": "Navy"}}}
        with pytest.raises(DecisionError) as refused:
            decisions.undo("tee", "colour")
        assert str(refused.value) == ("#tee's colour has 2 decisions (Red -> Blue; Sky Blue -> Navy): name the value "
                                      "whose decision to undo (--value V)")
        taken = decisions.undo("tee", "colour", "Navy")  # what the change made it names it too
        assert (taken.label, taken.new_label) == ("Sky Blue", "Navy")
        assert undo_in_store(edge, taken) is True
    else:
        decisions.judge_right("tee", "colour", "Sky Blue")
    assert colour(edge, "tee") == ["Sky Blue", "Blue"]
    assert reindexed(decisions, "tee", ["Sky Blue", "Red"]) == ["Sky Blue", "Blue"]  # the first decision stands
    assert decisions.overrides() == {"tee": {"colour": {"Red": "Blue"}}}
    assert decisions.confirmed() >= {("tee", "colour", "Red"), ("tee", "colour", "Blue")}


def test_confirming_a_changed_label_makes_it_the_last_decision(edge, tmp_path):
    put(edge, "x", "Black")
    put(edge, "y", "Red")
    decisions = AuditDecisions(tmp_path)
    change_held(decisions, edge, "x", "colour", "Black", "Navy")
    change_held(decisions, edge, "y", "colour", "Red", "Blue")
    confirmed = decisions.judge_right("x", "colour", "Navy")  # the change stands, confirmed now
    last = decisions.last()
    assert (last.product_id, last.label, last.verdict, last.new_label) == ("x", "Black", "change", "Navy")
    assert last == confirmed and len(decisions.all()) == 2
    undo_in_store(edge, decisions.undo(last.product_id, last.field, last.label))
    assert colour(edge, "x") == "Black" and colour(edge, "y") == "Blue"


def test_a_change_whose_new_value_the_catalogue_now_holds_is_skipped_and_drops_nothing(edge, tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.change("tee", "colour", "Red", "Crimson")
    payload = {"colour": ["Sky Blue", "Red", "Crimson"]}  # the catalogue added Crimson itself
    assert decisions.relabeller()("tee", payload) is False
    assert payload == {"colour": ["Sky Blue", "Red", "Crimson"]}
    put(edge, "tee", ["Sky Blue", "Red", "Crimson"])  # as that index run stored it; undo merges nothing either
    assert undo_in_store(edge, decisions.undo("tee", "colour")) is False
    assert colour(edge, "tee") == ["Sky Blue", "Red", "Crimson"]


def test_changes_on_one_list_apply_at_once_so_a_value_moved_on_is_not_merged(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.change("tee", "colour", "Red", "Blue")
    decisions.change("tee", "colour", "Sky Blue", "Red")  # the product read Sky Blue, Blue when it was decided
    assert reindexed(decisions, "tee", ["Sky Blue", "Red"]) == ["Red", "Blue"]
    # two changes to one value: neither is applied, and then Red stays, so Sky Blue -> Red is not applied either
    decisions.change("tee", "colour", "Green", "Blue")
    assert reindexed(decisions, "tee", ["Sky Blue", "Red", "Green"]) == ["Sky Blue", "Red", "Green"]


def test_a_decisions_file_of_the_previous_format_reads_the_same(edge, tmp_path):
    # one decision per (product, field): a composed change (Black -> Navy Blue -> Blue), a list's change, a keep
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "decisions.json").write_text(json.dumps([
        {"product_id": "4", "field": "colour", "label": "Black", "verdict": "change", "new_label": "Blue",
         "decided_at": 1.0},
        {"product_id": "tee", "field": "colour", "label": "Red", "verdict": "change", "new_label": "Blue",
         "decided_at": 2.0},
        {"product_id": "1", "field": "colour", "label": "Red", "verdict": "right", "new_label": "", "decided_at": 3.0},
    ]), encoding="utf-8")
    decisions = AuditDecisions(tmp_path)
    assert reindexed(decisions, "4", "Black") == "Blue"
    assert reindexed(decisions, "tee", ["Sky Blue", "Red"]) == ["Sky Blue", "Blue"]
    assert decisions.last().product_id == "1"
    put(edge, "tee", ["Sky Blue", "Blue"])
    change_held(decisions, edge, "tee", "colour", "Sky Blue", "Navy")  # a second decision beside the old one
    assert reindexed(decisions, "tee", ["Sky Blue", "Red"]) == ["Navy", "Blue"]
    assert decisions.overrides() == {"4": {"colour": {"Black": "Blue"}},
                                     "tee": {"colour": {"Red": "Blue", "Sky Blue": "Navy"}}}
    assert undo_in_store(edge, decisions.undo("tee", "colour", "Red")) is True
    assert colour(edge, "tee") == ["Navy", "Red"]
    assert decisions.undo("4", "colour").new_label == "Blue"


# ---- end to end: the CLI, the stored label, and re-indexing ----------------------------------------------------

@pytest.fixture
def indexed(settings, tmp_path):
    """The six products indexed through the CLI; returns the catalogue (product 4 is Black)."""
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    return catalog


def stored_colours(settings) -> dict[str, object]:
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        return {h.payload[PRODUCT_ID]: h.payload.get("colour") for h in store.scroll()}
    finally:
        store.close()


def test_cli_decide_undo_and_decisions(indexed, settings, capsys):
    capsys.readouterr()
    assert main(["audit", "decide", "4", "--field", "colour", "--change-from", "Black", "--change-to", "Navy Blue"]) == 0
    assert capsys.readouterr().out == ("#4's colour: Black -> Navy Blue (undo: python -m core audit undo 4 --field "
                                       "colour)\n")
    assert stored_colours(settings)["4"] == ["Navy Blue"]
    assert main(["audit", "decide", "1", "--keep"]) == 0
    assert capsys.readouterr().out == "#1's colour: Red kept (undo: python -m core audit undo 1 --field colour)\n"

    assert main(["audit", "decisions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    stamps = [d.pop("decided_at") for d in listed]
    assert listed == [{"product_id": "4", "field": "colour", "label": "Black", "verdict": "change",
                       "new_label": "Navy Blue"},
                      {"product_id": "1", "field": "colour", "label": "Red", "verdict": "right", "new_label": ""}]
    assert all(isinstance(s, float) and s > 0 for s in stamps) and stamps[0] <= stamps[1]
    assert main(["audit", "decisions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.rsplit("  ", 1)[0] for line in lines] == ["4  colour  Black -> Navy Blue", "1  colour  Red kept"]

    assert main(["audit", "undo", "4", "--field", "colour"]) == 0
    assert capsys.readouterr().out == "undone: #4's colour reads Black again, not Navy Blue\n"
    assert stored_colours(settings)["4"] == ["Black"]  # at once, before any index run
    assert main(["audit", "undo", "1"]) == 0
    assert capsys.readouterr().out == ("undone: #1's colour Red is no longer confirmed; the audit may list it "
                                       "again\n")
    assert main(["audit", "decisions", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["audit", "decisions"]) == 0
    assert capsys.readouterr().out == "no audit decisions yet\n"


def test_a_reindex_after_undo_does_not_reapply_the_change(indexed, settings, capsys):
    assert main(["audit", "decide", "4", "--change-from", "Black", "--change-to", "Navy Blue"]) == 0
    assert main(["index", "--catalog", str(indexed), "--json"]) == 0  # the change is re-applied while it stands
    assert stored_colours(settings)["4"] == ["Navy Blue"]
    assert main(["audit", "undo", "4"]) == 0
    assert stored_colours(settings)["4"] == ["Black"]
    capsys.readouterr()
    assert main(["index", "--catalog", str(indexed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["failed_rows"] == 0
    assert stored_colours(settings) == {row[0]: [row[5]] for row in PRODUCTS}  # the catalogue's, 4 Black


@pytest.mark.parametrize("args, message", [
    (["decide", "4", "--change-from", "Red", "--change-to", "Blue"],
     "error: #4's colour is Black: it does not hold 'Red', so there is nothing to change; name one of the values "
     "it holds"),
    (["decide", "4", "--change-from", "Black"], "error: --change-from needs --change-to NEW: the value to put in its "
                                                "place"),
    (["decide", "4", "--keep", "Red"], "error: #4's colour is Black: it does not hold 'Red'"),
    (["decide", "ghost", "--keep"], "error: the index has no product #ghost"),
    (["decide", "4", "--field", "price", "--keep"],
     "error: the audit checks colour, category, sub_category, not 'price'"),
    (["undo", "4"], "error: there is no decision on #4's colour to undo"),
])
def test_cli_refuses_bad_decisions_in_one_line_and_saves_nothing(indexed, settings, capsys, args, message):
    capsys.readouterr()
    assert main(["audit", *args]) == 2
    assert capsys.readouterr().err.strip() == message
    assert AuditDecisions(settings.data_dir).all() == []
    assert stored_colours(settings)["4"] == ["Black"]


def test_cli_keep_on_a_list_needs_the_value_kept(indexed, settings, capsys):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        hit = store.retrieve([point_id("4")])[0]
        store.overwrite_payload(point_id("4"), {**hit.payload, "colour": ["Black", "Silver"]})
    finally:
        store.close()
    capsys.readouterr()
    assert main(["audit", "decide", "4", "--keep"]) == 2
    assert capsys.readouterr().err.strip() == ("error: #4's colour is Black, Silver: name the value you keep, as "
                                               "--keep VALUE")
    assert main(["audit", "decide", "4", "--keep", "Silver"]) == 0
    assert AuditDecisions(settings.data_dir).confirmed() == {("4", "colour", "Silver")}


def test_cli_decide_while_another_process_holds_the_index_saves_nothing(indexed, settings, capsys):
    holder = EdgeStore(settings.data_dir, settings.collection)
    holder.acquire()  # this test process stands in for an indexing run holding the index
    try:
        capsys.readouterr()
        assert main(["audit", "decide", "4", "--change-from", "Black", "--change-to", "Navy Blue"]) == 2
        assert "is open in another process" in capsys.readouterr().err
        assert AuditDecisions(settings.data_dir).all() == []
    finally:
        holder.close()
    assert stored_colours(settings)["4"] == ["Black"]


def test_list_valued_changes_on_the_shopify_tee_survive_a_reindex_and_undo_back_to_the_catalogue(
        shopify_indexed, settings, capsys):
    def reindex():
        assert main(["index", "--catalog", str(shopify_indexed), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["failed_rows"] == 0

    assert main(["audit", "decide", "sky-red-tee", "--change-from", "Red", "--change-to", "Crimson"]) == 0
    assert main(["audit", "decide", "sky-red-tee", "--change-from", "Sky Blue", "--change-to", "Navy"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert stored_colours(settings)["sky-red-tee"] == ["Navy", "Crimson"]
    reindex()
    assert stored_colours(settings)["sky-red-tee"] == ["Navy", "Crimson"]  # both decisions re-applied
    assert said == [
        "#sky-red-tee's colour: Red -> Crimson (undo: python -m core audit undo sky-red-tee --field colour)",
        ("#sky-red-tee's colour: Sky Blue -> Navy (undo: python -m core audit undo sky-red-tee --field colour "
         "--value 'Sky Blue')")]

    assert main(["audit", "undo", "sky-red-tee"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: #sky-red-tee's colour has 2 decisions (Red -> Crimson; Sky Blue -> Navy): name the value whose "
        "decision to undo (--value V)")
    assert main(["audit", "undo", "sky-red-tee", "--value", "Sky Blue"]) == 0
    assert capsys.readouterr().out == "undone: #sky-red-tee's colour reads Sky Blue again, not Navy\n"
    assert stored_colours(settings)["sky-red-tee"] == ["Sky Blue", "Crimson"]
    reindex()
    assert stored_colours(settings)["sky-red-tee"] == ["Sky Blue", "Crimson"]  # the other decision stands
    assert main(["audit", "undo", "sky-red-tee"]) == 0  # the only one left: no value needed
    capsys.readouterr()
    reindex()
    assert stored_colours(settings)["sky-red-tee"] == ["Sky Blue", "Red"]  # the catalogue's values
    assert AuditDecisions(settings.data_dir).all() == []
