"""`python -m core enrich` and its review actions on a small indexed catalogue (the tiny random model: no quality
is asserted, only what the command promises)."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.index.store import EdgeStore, point_id
from core.insights.enrich import EnrichResult, Proposal
from core.insights.enrich_decisions import EnrichmentDecisions

VALUES = ["striped", "plain", "floral"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_enrich_json_accounts_for_every_product_and_saves_the_queue(indexed_settings, capsys):
    code, out, _ = run(capsys, "enrich", "--attribute", "pattern", "--values", ",".join(VALUES), "--json")
    assert code == 0
    data = json.loads(out)
    s = data["summary"]
    assert set(data) == {"summary", "details", "proposals"}
    assert set(s) == {"products", "proposed", "not_applicable", "known", "accuracy_on_known"}  # the five
    assert data["details"] == {"skipped": 0, "confidence": "margin"}
    assert s["products"] == 6 and s["known"] == 0 and s["accuracy_on_known"] is None
    assert s["proposed"] + s["not_applicable"] == 6 and s["proposed"] == len(data["proposals"])
    for p in data["proposals"]:
        assert set(p) == {"product_id", "attribute", "current", "proposed", "confidence", "evidence"}
        assert p["attribute"] == "pattern" and p["current"] == "" and p["proposed"] in VALUES
        assert 0.0 <= p["confidence"] <= 1.0 and p["evidence"]["photos"] == 1
    confidences = [p["confidence"] for p in data["proposals"]]
    assert confidences == sorted(confidences, reverse=True)
    saved = EnrichmentDecisions(indexed_settings.data_dir).load("pattern")
    assert [p.as_dict() for p in saved.proposals] == data["proposals"]


def test_enrich_text_reports_accuracy_on_known_products(indexed_settings, capsys):
    code, out, _ = run(capsys, "enrich", "--attribute", "category", "--values", "Apparel,Footwear,Accessories",
                       "--from", "both", "--overwrite")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("category: 6 product(s) read, ")
    saved = EnrichmentDecisions(indexed_settings.data_dir).load("category")
    known = saved.summary["known"]
    if known:  # the products the null prompt does not rule out: each has its category among the values
        assert lines[1] == (f"accuracy on the {known} product(s) whose value is known: "
                            f"{100 * saved.summary['accuracy_on_known']:.1f}%")
    assert all(p.current and p.proposed != p.current for p in saved.proposals)


def test_enrich_with_a_filter_reads_only_those_products(indexed_settings, capsys):
    code, out, _ = run(capsys, "enrich", "--attribute", "pattern", "--values", "striped,plain", "--filter",
                       "category=Apparel", "--json")
    assert code == 0 and json.loads(out)["summary"]["products"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--attribute", "product_id", "--values", "a,b"], "enrichment does not write"),
    (["--attribute", "photo_sizes", "--values", "a,b"], "enrichment does not write"),
    (["--attribute", "Pattern!", "--values", "a,b"], "not an attribute name"),
    (["--attribute", "pattern", "--values", "striped"], "at least 2 distinct values"),
    (["--attribute", "pattern", "--values", ",".join(f"v{i}" for i in range(500))], "500 values are too many"),
    (["--values", "a,b"], "enrich needs --attribute"),
])
def test_bad_requests_are_refused_before_the_model_loads(settings, capsys, monkeypatch, argv, message):
    monkeypatch.setattr("core.cli.enrich.model_for", lambda *a: pytest.fail("the model was loaded"))
    code, _, err = run(capsys, "enrich", *argv)
    assert code == 2 and err.startswith("error: ") and message in err


def test_enrich_with_no_index_is_refused(settings, capsys, monkeypatch):
    monkeypatch.setattr("core.cli.enrich.model_for", lambda *a: pytest.fail("the model was loaded"))
    code, _, err = run(capsys, "enrich", "--attribute", "pattern", "--values", "a,b")
    assert code == 2 and "no index yet" in err


def test_enrich_with_an_empty_filter_result_is_refused(indexed_settings, capsys, monkeypatch):
    monkeypatch.setattr("core.cli.enrich.model_for", lambda *a: pytest.fail("the model was loaded"))
    code, _, err = run(capsys, "enrich", "--attribute", "pattern", "--values", "a,b", "--filter", "category=Nothing")
    assert code == 2 and "no product matches the filters" in err


# ---- review: on a queue saved by hand, so the proposals are known -------------------------------------------

@pytest.fixture
def queue(indexed_settings):
    proposals = [Proposal("1", "pattern", "", "striped", 0.9, {}), Proposal("2", "pattern", "", "plain", 0.6, {}),
                 Proposal("3", "pattern", "", "floral", 0.3, {}), Proposal("4", "pattern", "", "plain", 0.2, {})]
    summary = {"products": 6, "proposed": 4, "not_applicable": 2, "known": 0, "accuracy_on_known": None}
    EnrichmentDecisions(indexed_settings.data_dir).save(EnrichResult(
        "pattern", VALUES, "photo", False, summary, proposals, [], None, {"skipped": 0, "confidence": "margin"}))
    return indexed_settings


def stored_pattern(settings, pid):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        return store.retrieve([point_id(pid)])[0].payload.get("pattern")
    finally:
        store.close()


def test_accept_one_then_undo(queue, capsys):
    code, out, _ = run(capsys, "enrich", "accept", "--attribute", "pattern", "--product", "1")
    assert code == 0 and out.splitlines() == [
        "#1's pattern: empty -> striped", "(undo: python -m core enrich undo --attribute pattern --product 1)"]
    assert stored_pattern(queue, "1") == "striped"
    code, out, _ = run(capsys, "enrich", "undo", "--attribute", "pattern", "--product", "1")
    assert code == 0 and stored_pattern(queue, "1") is None


def test_accept_with_own_value(queue, capsys):
    code, out, _ = run(capsys, "enrich", "accept", "--attribute", "pattern", "--product", "2", "--value", "gingham")
    assert code == 0 and stored_pattern(queue, "2") == "gingham"


def test_accept_above_a_confidence_and_reject(queue, capsys):
    assert run(capsys, "enrich", "reject", "--attribute", "pattern", "--product", "2")[0] == 0
    code, out, _ = run(capsys, "enrich", "accept", "--attribute", "pattern", "--min-confidence", "0.3")
    assert code == 0
    assert out.splitlines() == ["#1's pattern: empty -> striped", "#3's pattern: empty -> floral",
                                "2 accepted, 1 still pending"]
    assert [stored_pattern(queue, pid) for pid in "1234"] == ["striped", None, "floral", None]


def test_a_stale_accept_is_refused(queue, capsys):
    store = EdgeStore(queue.data_dir, queue.collection)
    try:
        store.set_payload({point_id("1"): {"pattern": "checked"}})
    finally:
        store.close()
    code, _, err = run(capsys, "enrich", "accept", "--attribute", "pattern", "--product", "1")
    assert code == 2 and "re-indexed with a different value in the meantime" in err
    assert stored_pattern(queue, "1") == "checked"


def test_value_without_a_product_and_unknown_proposals_are_refused(queue, capsys):
    code, _, err = run(capsys, "enrich", "accept", "--attribute", "pattern", "--min-confidence", "0.5",
                       "--value", "x")
    assert code == 2 and "--value goes with --product" in err
    code, _, err = run(capsys, "enrich", "reject", "--attribute", "pattern", "--product", "99")
    assert code == 2 and "no proposal for #99's pattern" in err
