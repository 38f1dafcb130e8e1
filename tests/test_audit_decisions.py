"""Audit decisions: saved atomically, composed per product and field, applied to the store at once and at every
index run (a fixed label survives re-indexing until the source is fixed), exported as safe CSV."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest

from core.common import files
from core.insights.audit_decisions import (AuditDecisions, DecisionError, apply_overrides, change_stored_label,
                                  relabelled)
from core.common.fields import values_of
from tests.conftest import PRODUCTS, write_catalog


def test_a_judged_right_label_is_confirmed_and_survives_a_new_instance(tmp_path):
    AuditDecisions(tmp_path).judge_right("4", "colour", "Black")
    again = AuditDecisions(tmp_path)
    assert again.confirmed() == {("4", "colour", "Black")}
    assert again.overrides() == {}
    assert json.loads((tmp_path / "audit" / "decisions.json").read_text())[0]["verdict"] == "right"


def test_a_change_is_an_override_and_confirms_the_new_label(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.change("4", "colour", "Black", "Navy Blue")
    assert decisions.overrides() == {"4": {"colour": {"Black": "Navy Blue"}}}
    assert decisions.confirmed() == {("4", "colour", "Navy Blue"), ("4", "colour", "Black")}


def test_changing_a_changed_label_keeps_the_catalogues_value_as_the_source(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.change("4", "colour", "Black", "Navy Blue")
    decisions.change("4", "colour", "Navy Blue", "Blue")
    assert decisions.overrides() == {"4": {"colour": {"Black": "Blue"}}}
    decisions.judge_right("4", "colour", "Blue")  # confirming what the change made keeps the change
    assert decisions.overrides() == {"4": {"colour": {"Black": "Blue"}}}
    decisions.change("4", "colour", "Blue", "Black")  # back to the source's value: nothing to override
    assert decisions.overrides() == {}
    assert decisions.confirmed() == {("4", "colour", "Black")}
    assert len(decisions.all()) == 1


def test_a_decision_on_a_label_already_changed_away_is_refused(tmp_path):
    first, stale = AuditDecisions(tmp_path), AuditDecisions(tmp_path)
    first.change("4", "colour", "Black", "Navy Blue")
    for act in (lambda: stale.judge_right("4", "colour", "Black"),
                lambda: stale.change("4", "colour", "Black", "Green")):
        with pytest.raises(DecisionError, match="already changed from 'Black' to 'Navy Blue'"):
            act()
    assert first.overrides() == {"4": {"colour": {"Black": "Navy Blue"}}}
    stale.judge_right("4", "colour", "Grey")  # the source now says something else: a new decision, accepted
    # decisions are per catalogue value: the change of Black stays (it applies only while the catalogue says Black)
    assert first.overrides() == {"4": {"colour": {"Black": "Navy Blue"}}}
    assert relabelled("Grey", "Black", "Navy Blue") == "Grey"


def test_a_change_needs_a_new_different_label(tmp_path):
    decisions = AuditDecisions(tmp_path)
    with pytest.raises(DecisionError, match="needs the new label"):
        decisions.change("4", "colour", "Black", "  ")
    with pytest.raises(DecisionError, match="already reads"):
        decisions.change("4", "colour", "Black", "Black")
    assert decisions.all() == []


def test_concurrent_decisions_from_two_instances_lose_nothing(tmp_path):
    first, second = AuditDecisions(tmp_path), AuditDecisions(tmp_path)

    def decide(store, start):
        for i in range(start, start + 20):
            store.judge_right(str(i), "colour", "Red")

    threads = [threading.Thread(target=decide, args=(s, n)) for s, n in ((first, 0), (second, 100))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {d.product_id for d in AuditDecisions(tmp_path).all()} == {str(i) for i in [*range(20), *range(100, 120)]}


def test_an_unreadable_file_is_an_error_and_is_never_overwritten(tmp_path):
    path = tmp_path / "audit" / "decisions.json"
    path.parent.mkdir(parents=True)
    path.write_text("[{not json")
    with pytest.raises(DecisionError, match="cannot be read"):
        AuditDecisions(tmp_path).judge_right("1", "colour", "Red")
    assert path.read_text() == "[{not json"


def test_a_failed_write_keeps_the_previous_decisions(tmp_path, monkeypatch):
    decisions = AuditDecisions(tmp_path)
    decisions.judge_right("1", "colour", "Red")
    before = decisions.path.read_bytes()

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.insights.audit_decisions.atomic_write", full_disk)
    with pytest.raises(DecisionError, match="No space left"):
        decisions.change("2", "colour", "Blue", "Navy Blue")
    assert decisions.path.read_bytes() == before
    assert files.atomic_write is not full_disk  # only the module's reference was replaced


def test_the_csv_export_lists_every_decision_and_quotes_formulas(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.judge_right("=HYPERLINK(\"http://x\")", "colour", "Red")
    decisions.change("4", "colour", "Black", "@SUM(A1)")
    exported = decisions.csv()
    assert exported.startswith("\ufeff")  # a UTF-8 BOM, for Excel
    rows = list(csv.reader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert rows[0] == ["product_id", "field", "label", "decision", "new_label", "decided_at"]
    assert [r[:5] for r in rows[1:]] == [["'=HYPERLINK(\"http://x\")", "colour", "Red", "right", ""],
                                         ["4", "colour", "Black", "change", "'@SUM(A1)"]]


def test_relabelled_replaces_only_the_old_value():
    assert relabelled("Black", "Black", "Navy Blue") == "Navy Blue"
    assert relabelled("Grey", "Black", "Navy Blue") == "Grey"  # the source was changed otherwise: left as it is
    assert relabelled(["Black", "White"], "Black", "Navy Blue") == ["Navy Blue", "White"]
    # the catalogue holds the new value itself: the change is skipped, nothing merged away
    assert relabelled(["Black", "Navy Blue"], "Black", "Navy Blue") == ["Black", "Navy Blue"]
    assert relabelled(None, "Black", "Navy Blue") is None


def test_the_relabel_hook_changes_only_the_decided_products_values(tmp_path):
    decisions = AuditDecisions(tmp_path)
    decisions.change("4", "colour", "Black", "Navy Blue")
    relabel = decisions.relabeller()
    payload = {"title": "Fossil Men Watch", "colour": "Black"}
    assert relabel("4", payload)
    assert payload == {"title": "Fossil Men Watch", "colour": "Navy Blue"}
    other = {"title": "Red Dress", "colour": "Black"}
    assert not relabel("9", other)
    assert other == {"title": "Red Dress", "colour": "Black"}
    assert not apply_overrides("4", {"colour": "Grey"}, {"4": {"colour": ("Black", "Red")}})


def _store(settings):
    from core.index.store import EdgeStore

    return EdgeStore(settings.data_dir, settings.collection)


def _index(settings, catalog, **kwargs):
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog

    store = _store(settings)
    try:
        return index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store,
                             relabel=AuditDecisions(settings.data_dir).relabeller(), **kwargs)
    finally:
        store.close()


def _colours(settings) -> dict[str, str]:
    store = _store(settings)
    try:
        return {h.payload["product_id"]: ", ".join(values_of(h.payload["colour"])) for h in store.scroll()}
    finally:
        store.close()


def test_a_change_updates_the_stored_label_at_once_and_survives_reindexing(settings, tmp_path):
    from core.common.fields import FINGERPRINT, PAYLOAD_HASH
    from core.index.store import point_id

    catalog = write_catalog(tmp_path / "cat")
    _index(settings, catalog)
    store = _store(settings)
    try:
        before = store.retrieve([point_id("4")])[0].payload
        assert change_stored_label(store, point_id("4"), "colour", "Black", "Navy Blue")
        AuditDecisions(settings.data_dir).change("4", "colour", "Black", "Navy Blue")
        after = store.retrieve([point_id("4")])[0].payload
        assert after["colour"] == ["Navy Blue"]  # colour is a list field (a product may have several)
        kept = {k: v for k, v in after.items() if k not in ("colour", PAYLOAD_HASH)}
        assert kept == {k: v for k, v in before.items() if k not in ("colour", PAYLOAD_HASH)}
        assert after[FINGERPRINT] == before[FINGERPRINT]
        assert after[PAYLOAD_HASH] == ""  # the next index run rewrites it from the catalogue with the decisions
        assert dict(store.facet("colour")).get("Navy Blue") == 1 and "Black" not in dict(store.facet("colour"))
        assert not change_stored_label(store, point_id("4"), "colour", "Black", "Red")  # no longer Black
    finally:
        store.close()

    report = _index(settings, catalog)  # the catalogue still says Black
    assert report.failed_rows == 0
    assert _colours(settings)["4"] == "Navy Blue"
    assert _colours(settings)["1"] == "Red"
    # the corrected label is part of the product's text now, so its text vector is redone once, then it is stable
    assert _index(settings, catalog).unchanged == len(PRODUCTS)

    _index(settings, catalog, recreate=True)
    assert _colours(settings)["4"] == "Navy Blue"


def test_a_source_fixed_otherwise_wins_over_an_old_override(settings, tmp_path):
    catalog = write_catalog(tmp_path / "cat")
    AuditDecisions(settings.data_dir).change("4", "colour", "Black", "Navy Blue")
    _index(settings, catalog)
    assert _colours(settings)["4"] == "Navy Blue"
    rows = [r if r[0] != "4" else (*r[:5], "Grey", *r[6:]) for r in PRODUCTS]
    _index(settings, write_catalog(tmp_path / "cat", rows=rows, images=False))
    assert _colours(settings)["4"] == "Grey"


def test_an_unreadable_decisions_file_stops_indexing_with_its_name(settings, tmp_path):
    import subprocess
    import sys

    catalog = write_catalog(tmp_path / "cat")
    path = settings.data_dir / "audit" / "decisions.json"
    path.parent.mkdir(parents=True)
    path.write_text("oops")
    run = subprocess.run([sys.executable, "-m", "core", "index", "--catalog", str(catalog)],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "decisions file" in run.stderr and str(path) in run.stderr
    assert "Traceback" not in run.stderr
    assert path.read_text() == "oops"
