"""The enrichment review queue: accept, reject, accept above a confidence, undo, a stale accept refused, and the
accepted values re-applied by every index run until the source has them."""

from __future__ import annotations

import json

import pytest

from core.common.errors import StoreError
from core.common.fields import PAYLOAD_HASH, PRODUCT_ID
from core.common.filters import Filters
from core.index.store import EdgeStore, StoredPoint, point_id
from core.insights.audit_decisions import DecisionError
from core.insights.enrich import EnrichResult, Proposal
from core.insights import enrich_decisions
from core.insights.enrich_decisions import Accepted, EnrichmentDecisions
from core.insights.fixes import catalogue_fixes
from tests.conftest import PRODUCTS, write_catalog

DIM = 4
SUMMARY = {"products": 4, "proposed": 4, "not_applicable": 0, "known": 0, "accuracy_on_known": None}


def proposal(pid, proposed, confidence, current=""):
    return Proposal(pid, "pattern", current, proposed, confidence, {"source": "photo"}, f"Product {pid}")


def run_result(*proposals):
    return EnrichResult("pattern", ["striped", "plain", "dotted"], "photo", True, dict(SUMMARY), list(proposals),
                        [(0.9, 1.0, 2), (0.5, 0.75, 4)], 123.0)


@pytest.fixture
def queue(store, tmp_path):
    """Four products (c's pattern is 'dotted') and a saved run proposing a value for each."""
    store.ensure("hand-made", DIM)
    store.upsert([StoredPoint(point_id(pid), {"text": [1.0, 0, 0, 0]},
                              {PRODUCT_ID: pid, PAYLOAD_HASH: "h", **({"pattern": "dotted"} if pid == "c" else {})})
                  for pid in "abcd"])
    decisions = EnrichmentDecisions(tmp_path / "data")
    decisions.save(run_result(proposal("a", "striped", 0.9), proposal("b", "plain", 0.7),
                              proposal("c", "striped", 0.6, current="dotted"), proposal("d", "plain", 0.2)))
    return store, decisions


def stored(store, pid) -> dict:
    return store.retrieve([point_id(pid)])[0].payload


def test_saved_run_loads_back_with_its_calibration(queue):
    _, decisions = queue
    loaded = decisions.load("pattern")
    assert loaded.summary == SUMMARY and loaded.calibration == [(0.9, 1.0, 2), (0.5, 0.75, 4)]
    assert loaded.precision_at(0.6) == (1.0, 2) and loaded.index_version == 123.0
    assert [p.product_id for p in loaded.proposals] == ["a", "b", "c", "d"]
    assert loaded.proposals[0].title == "Product a"
    assert decisions.load("colour") is None and decisions.attributes() == ["pattern"]


def test_accept_writes_the_value_at_once_and_makes_it_a_filter(queue):
    store, decisions = queue
    made = decisions.accept(store, "pattern", "a")
    assert (made.product_id, made.attribute, made.value, made.previous, made.confidence) == \
        ("a", "pattern", "striped", "", 0.9)
    assert stored(store, "a")["pattern"] == "striped" and stored(store, "a")[PAYLOAD_HASH] == ""
    assert "pattern" in store.schema().keyword
    assert store.count(Filters.of({"pattern": ["striped"]})) == 1
    assert [p.product_id for p in decisions.pending("pattern")] == ["b", "c", "d"]
    assert decisions.accepted() == [made]


def test_accept_with_the_merchandisers_own_value(queue):
    store, decisions = queue
    made = decisions.accept(store, "pattern", "b", value="  pin   stripe ")
    assert made.value == "pin stripe" and stored(store, "b")["pattern"] == "pin stripe"


def test_accept_of_a_product_reindexed_with_another_value_is_refused(queue):
    store, decisions = queue
    store.set_payload({point_id("a"): {"pattern": "checked"}})  # a re-index read another value meanwhile
    with pytest.raises(DecisionError, match="re-indexed with a different value in the meantime"):
        decisions.accept(store, "pattern", "a")
    assert stored(store, "a")["pattern"] == "checked" and decisions.accepted() == []
    assert [p.product_id for p in decisions.pending("pattern")] == ["a", "b", "c", "d"]


def test_accept_of_an_unknown_proposal_or_twice_is_refused(queue):
    store, decisions = queue
    with pytest.raises(DecisionError, match="no proposal for #zz's pattern"):
        decisions.accept(store, "pattern", "zz")
    decisions.accept(store, "pattern", "a")
    with pytest.raises(DecisionError, match="accepted already"):
        decisions.accept(store, "pattern", "a")


def test_overwrite_accept_replaces_the_value_and_undo_puts_it_back(queue):
    store, decisions = queue
    made = decisions.accept(store, "pattern", "c")
    assert made.previous == "dotted" and stored(store, "c")["pattern"] == "striped"
    decisions.undo(store, "pattern", "c")
    assert stored(store, "c")["pattern"] == "dotted"
    assert decisions.accepted() == [] and "c" in [p.product_id for p in decisions.pending("pattern")]


def test_undo_of_an_empty_value_removes_it(queue):
    store, decisions = queue
    decisions.accept(store, "pattern", "a")
    decisions.undo(store, "pattern", "a")
    assert "pattern" not in stored(store, "a")
    assert store.count(Filters.of({"pattern": ["striped"]})) == 0
    with pytest.raises(DecisionError, match="no decision on #a's pattern"):
        decisions.undo(store, "pattern", "a")


def test_reject_leaves_the_queue_and_undo_brings_it_back(queue):
    store, decisions = queue
    decisions.reject("pattern", "b")
    assert [p.product_id for p in decisions.pending("pattern")] == ["a", "c", "d"]
    assert decisions.rejected("pattern") == ["b"] and decisions.accepted() == []
    assert "pattern" not in stored(store, "b")
    with pytest.raises(DecisionError, match="decided already"):
        decisions.reject("pattern", "b")
    decisions.undo(store, "pattern", "b")
    assert [p.product_id for p in decisions.pending("pattern")] == ["a", "b", "c", "d"]


def test_accept_above_takes_every_pending_proposal_at_or_above_and_skips_stale_ones(queue):
    store, decisions = queue
    decisions.reject("pattern", "a")
    store.set_payload({point_id("c"): {"pattern": "checked"}})  # stale: left pending
    made = decisions.accept_above(store, "pattern", 0.6)
    assert [(m.product_id, m.value) for m in made] == [("b", "plain")]
    assert [p.product_id for p in decisions.pending("pattern")] == ["c", "d"]
    assert "pattern" not in stored(store, "a") and stored(store, "b")["pattern"] == "plain"
    assert decisions.accept_above(store, "pattern", 0.95) == []
    with pytest.raises(DecisionError, match="0-1 scale"):
        decisions.accept_above(store, "pattern", 1.5)


def test_a_new_run_replaces_the_queue_but_keeps_decisions(queue):
    store, decisions = queue
    decisions.reject("pattern", "d")
    decisions.save(run_result(proposal("d", "striped", 0.8), proposal("e", "plain", 0.4)))
    assert [p.product_id for p in decisions.pending("pattern")] == ["e"]


def test_an_unreadable_decisions_file_is_an_error_naming_it(queue):
    store, decisions = queue
    decisions.path.write_text("{not json")
    with pytest.raises(DecisionError, match="decisions.json cannot be read"):
        decisions.accepted()


# ---- the indexing hook, through real index runs ----------------------------------------------------------------

def index(settings, catalog):
    from core.index.indexer import index_catalog
    from core.models.embedder import load_embedder

    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        fixes = catalogue_fixes(settings.data_dir)
        index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store,
                      relabel=fixes)
        fixes.after_run(store)
        return {pid: stored(store, pid).get("pattern") for pid in ("1", "2", "3")}
    finally:
        store.close()


def test_accepted_values_are_reapplied_at_every_index_run_until_the_source_has_them(settings, tmp_path):
    rows = PRODUCTS[:3]
    folder = tmp_path / "cat"
    patterns = {"1": [""], "2": ["plain"], "3": ["dotted"]}
    catalog = write_catalog(folder, rows, ["Pattern"], patterns)
    assert index(settings, catalog) == {"1": None, "2": "plain", "3": "dotted"}
    decisions = EnrichmentDecisions(settings.data_dir)
    decisions.save(run_result(proposal("1", "striped", 0.9), proposal("2", "striped", 0.8, current="plain")))
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        decisions.accept(store, "pattern", "1")
        decisions.accept(store, "pattern", "2")
    finally:
        store.close()
    # the source still empty (1) or still the value replaced (2): the accepted values stay
    assert index(settings, catalog) == {"1": "striped", "2": "striped", "3": "dotted"}
    # the source now has a value: it wins, whether the accepted one (1) or another (2)
    catalog = write_catalog(folder, rows, ["Pattern"], {"1": ["striped"], "2": ["checked"], "3": ["dotted"]})
    assert index(settings, catalog) == {"1": "striped", "2": "checked", "3": "dotted"}
    # ...and the decisions are settled: the catalogue owns the field again, so clearing it (1) or putting the old
    # value back (2) is the merchant's word, not a gap to fill
    assert decisions.accepted() == []
    catalog = write_catalog(folder, rows, ["Pattern"], {"1": [""], "2": ["plain"], "3": ["dotted"]})
    assert index(settings, catalog) == {"1": None, "2": "plain", "3": "dotted"}
    assert decisions.accepted() == []
    settled = json.loads(decisions.path.read_text())
    assert [(r["product_id"], r["verdict"], "settled_at" in r) for r in settled] == [("1", "accepted", True),
                                                                                   ("2", "accepted", True)]


def test_an_undone_value_is_not_reapplied(settings, tmp_path):
    catalog = write_catalog(tmp_path / "cat", PRODUCTS[:3], ["Pattern"], {"1": [""], "2": [""], "3": [""]})
    index(settings, catalog)
    decisions = EnrichmentDecisions(settings.data_dir)
    decisions.save(run_result(proposal("1", "striped", 0.9)))
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        decisions.accept(store, "pattern", "1")
        decisions.undo(store, "pattern", "1")
    finally:
        store.close()
    assert index(settings, catalog)["1"] in (None, "")


def test_the_hook_changes_nothing_without_decisions(tmp_path):
    payload = {"pattern": ""}
    assert catalogue_fixes(tmp_path)("1", payload) is False and payload == {"pattern": ""}


def test_accepted_is_a_frozen_record():
    a = Accepted("1", "pattern", "striped", "", 0.9, 1.0)
    with pytest.raises(AttributeError):
        a.value = "plain"


def test_an_index_run_settles_only_the_decisions_whose_source_has_its_own_value(queue, tmp_path):
    store, decisions = queue
    decisions.accept(store, "pattern", "a")
    decisions.accept(store, "pattern", "b")
    fixes = catalogue_fixes(decisions.folder.parent)
    a, b = {"pattern": ""}, {"pattern": "herringbone"}  # a's source still empty; b's has its own value now
    assert fixes("a", a) is True and a == {"pattern": "striped"}
    assert fixes("b", b) is False and b == {"pattern": "herringbone"}
    fixes.after_run(store)
    assert [x.product_id for x in decisions.accepted()] == ["a"]
    again = {"pattern": ""}  # b's source emptied again later: the settled decision is not re-applied
    assert catalogue_fixes(decisions.folder.parent)("b", again) is False and again == {"pattern": ""}
    with pytest.raises(DecisionError, match="decided already"):
        decisions.reject("pattern", "b")
    decisions.undo(store, "pattern", "b")  # a settled decision is only forgotten: the store is the catalogue's
    assert stored(store, "b")["pattern"] == "plain"


class FailingStore:
    """A store whose payload writes fail (a server gone away), every other call the real store's."""

    def __init__(self, store):
        self.store = store

    def __getattr__(self, name):
        return getattr(self.store, name)

    def set_payload(self, payloads):
        raise StoreError("the index refused the write: try again")

    def overwrite_payload(self, point, payload):
        raise StoreError("the index refused the write: try again")


def test_a_failed_store_write_records_no_accept_and_a_retry_works(queue):
    store, decisions = queue
    with pytest.raises(StoreError):
        decisions.accept(FailingStore(store), "pattern", "a")
    with pytest.raises(StoreError):
        decisions.accept_above(FailingStore(store), "pattern", 0.5)
    assert decisions.accepted() == [] and "pattern" not in stored(store, "a")
    assert [p.product_id for p in decisions.pending("pattern")] == ["a", "b", "c", "d"]
    assert decisions.accept(store, "pattern", "a").value == "striped"  # not "accepted already"


def test_decisions_that_cannot_be_saved_take_the_accepted_value_back_out(queue, monkeypatch):
    store, decisions = queue

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(enrich_decisions, "atomic_write", full_disk)
    with pytest.raises(DecisionError, match="No space left on device"):
        decisions.accept(store, "pattern", "c")
    assert stored(store, "c")["pattern"] == "dotted"
    monkeypatch.undo()
    assert decisions.accepted() == [] and decisions.accept(store, "pattern", "c").value == "striped"


def test_a_failed_store_write_leaves_the_accept_to_undo_again(queue):
    store, decisions = queue
    decisions.accept(store, "pattern", "a")
    decisions.accept(store, "pattern", "c")
    with pytest.raises(StoreError):
        decisions.undo(FailingStore(store), "pattern", "c")
    with pytest.raises(StoreError):
        decisions.undo_many(FailingStore(store), "pattern", ["a", "c"])
    assert [a.product_id for a in decisions.accepted()] == ["a", "c"] and stored(store, "c")["pattern"] == "striped"
    decisions.undo(store, "pattern", "c")
    assert stored(store, "c")["pattern"] == "dotted" and [a.product_id for a in decisions.accepted()] == ["a"]


@pytest.mark.parametrize("rows", [[1], [None], [{"product_id": "a"}],
                                  [{"product_id": "a", "attribute": "pattern", "verdict": "accepted",
                                    "value": "striped", "previous": "", "confidence": "high", "decided_at": 1.0}],
                                  [{"product_id": "a", "attribute": "pattern", "verdict": "maybe", "value": "x",
                                    "previous": "", "confidence": 0.5, "decided_at": 1.0}]])
def test_a_damaged_decision_row_is_an_error_naming_the_file_and_the_way_out(queue, rows):
    store, decisions = queue
    decisions.path.parent.mkdir(parents=True, exist_ok=True)
    decisions.path.write_text(json.dumps(rows))
    for call in (decisions.accepted, lambda: decisions.pending("pattern"),
                 lambda: catalogue_fixes(decisions.folder.parent), lambda: decisions.accept(store, "pattern", "a")):
        with pytest.raises(DecisionError, match=r"decisions\.json cannot be read \(decision 1[ '].*move it aside"):
            call()
    assert json.loads(decisions.path.read_text()) == rows  # never overwritten


def test_undo_many_is_one_write_of_the_decisions(queue, monkeypatch):
    store, decisions = queue
    decisions.reject("pattern", "d")
    made = decisions.accept_above(store, "pattern", 0.5)
    assert [m.product_id for m in made] == ["a", "b", "c"]
    writes = []
    real = enrich_decisions.atomic_write
    monkeypatch.setattr(enrich_decisions, "atomic_write", lambda path, data: (writes.append(path), real(path, data)))
    assert decisions.undo_many(store, "pattern", ["a", "b", "c", "zz"]) == 3
    assert writes == [decisions.path]
    assert decisions.accepted() == [] and decisions.rejected("pattern") == ["d"]
    assert "pattern" not in stored(store, "a") and "pattern" not in stored(store, "b")
    assert stored(store, "c")["pattern"] == "dotted"
    assert decisions.undo_many(store, "pattern", ["a"]) == 0


def test_accepting_reads_the_proposals_file_once_until_a_new_run_replaces_it(queue, monkeypatch):
    store, decisions = queue
    decisions.pending("pattern")
    parsed = []
    real = json.loads
    monkeypatch.setattr(enrich_decisions.json, "loads",
                        lambda text, **kw: (parsed.append('"proposals"' in text), real(text, **kw))[1])
    decisions.accept(store, "pattern", "a")
    decisions.accept_above(store, "pattern", 0.6)
    decisions.reject("pattern", "d")
    assert True not in parsed  # only the decisions file was parsed
    decisions.save(run_result(proposal("e", "plain", 0.4)))
    assert [p.product_id for p in decisions.pending("pattern")] == ["e"] and parsed.count(True) == 1
    loaded = decisions.load("pattern")
    loaded.proposals.clear()  # a caller's copy: the cached queue is untouched
    assert [p.product_id for p in decisions.pending("pattern")] == ["e"]
