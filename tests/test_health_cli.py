"""`python -m core health` on a small indexed catalogue (text and --json, filters, refusals), and the health line
an index run ends with (--json's "health", --no-health)."""

from __future__ import annotations

import json

from core.cli import main
from core.insights.health import KINDS
from tests.conftest import write_catalog

# The six products of tests.conftest, with a price for all but product 6, and product 4's title one word.
PRICES = {"1": ["49.90"], "2": ["19.99"], "3": ["35.00"], "4": ["129.00"], "5": ["15.50"], "6": [""]}


def index(tmp_path, capsys, *extra) -> dict:
    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values=PRICES)
    assert main(["index", "--catalog", str(catalog), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_index_ends_with_the_health_summary_in_its_json(settings, tmp_path, capsys):
    run = index(tmp_path, capsys)
    assert list(run["health"]) == ["score", "problems"]
    assert sorted(run["health"]["problems"]) == sorted(KINDS)
    assert run["health"]["problems"]["no_price"] == 1
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert run["health"]["score"] == report["score"]
    assert {p["kind"]: p["count"] for p in report["problems"]} == run["health"]["problems"]


def test_an_index_run_records_its_health_in_the_copy_other_processes_read(settings, tmp_path, capsys):
    from core.index.store import EdgeStore
    from core.insights.health import health_history

    run = index(tmp_path, capsys)
    copy = EdgeStore.snapshot_reader(settings.data_dir, settings.collection)
    try:
        rows = health_history(copy)
        assert [(r["score"], r["counts"]) for r in rows] == [(run["health"]["score"], run["health"]["problems"])]
        assert rows[0]["indexed_at"] == copy.meta()["last_indexed"]
    finally:
        copy.close()


def test_health_json_has_exactly_the_issues_keys(settings, tmp_path, capsys):
    index(tmp_path, capsys)
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["products", "checked_at", "score", "problems", "by_category"]
    assert report["products"] == 6
    assert sorted(p["kind"] for p in report["problems"]) == sorted(KINDS)
    assert all(list(p) == ["kind", "count", "products", "details"] for p in report["problems"])
    no_price = next(p for p in report["problems"] if p["kind"] == "no_price")
    assert (no_price["products"], no_price["details"]) == (["6"], {"6": "no price"})
    assert sorted(report["by_category"]) == ["Accessories", "Apparel", "Footwear"]
    assert [report["by_category"][c]["products"] for c in ("Accessories", "Apparel", "Footwear")] == [1, 4, 1]
    assert report["by_category"]["Apparel"]["no_price"] == 1
    assert list(report["by_category"]["Apparel"])[:2] == ["products", "score"]


def test_health_text_lists_kinds_then_categories(settings, tmp_path, capsys):
    index(tmp_path, capsys)
    assert main(["health"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("health score ")
    assert "no_price: 1" in out and "  6: no price" in out
    assert out.index("by category:") > out.index("no_price: 1")
    assert any(line.startswith("  Apparel: score ") and "of 4 products" in line for line in out)


def test_health_filters_and_an_empty_filter_result(settings, tmp_path, capsys):
    index(tmp_path, capsys)
    assert main(["health", "--json", "--filter", "category=Footwear"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["products"] == 1 and list(report["by_category"]) == ["Footwear"]
    assert main(["health", "--filter", "category=Nothing"]) == 2
    assert "error: no product matches these filters" in capsys.readouterr().err


def test_health_without_an_index_says_how_to_make_one(settings, capsys):
    assert main(["health"]) == 2
    assert "error: there is no index yet: run `python -m core index" in capsys.readouterr().err


def test_index_prints_the_health_line_and_no_health_skips_it(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values=PRICES)
    assert main(["index", "--catalog", str(catalog)]) == 0
    lines = capsys.readouterr().out.splitlines()
    health = [line for line in lines if line.startswith("health: ")]
    assert len(health) == 1
    assert health[0].endswith("kinds of problem; `python -m core health` lists them") or \
        health[0].endswith("kind of problem; `python -m core health` lists them")
    catalog.write_text(catalog.read_text().replace("Mango Women Red Dress", "Mango Women Red Dress Long"))
    run = index(tmp_path, capsys, "--no-health")
    assert "health" not in run
    assert main(["index", "--catalog", str(catalog), "--no-health"]) == 0
    assert not any(line.startswith("health") for line in capsys.readouterr().out.splitlines())


def test_a_failing_health_check_is_a_warning_not_a_failed_index_run(settings, tmp_path, capsys, monkeypatch):
    import core.insights.health

    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(core.insights.health, "check_health", broken)
    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values=PRICES)
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    out = capsys.readouterr()
    run = json.loads(out.out)
    assert run["health"] is None and run["indexed"] == 6
    assert "warning: the health check failed (RuntimeError: planted failure)" in out.err


def test_an_unchanged_index_shows_its_last_report_and_no_cache_checks_again(settings, tmp_path, capsys):
    index(tmp_path, capsys)
    assert main(["health", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["health", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first  # the same report, checked_at included: nothing computed
    assert main(["health", "--json", "--no-cache"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["checked_at"] > first["checked_at"]
    assert again["problems"] == first["problems"]


def test_the_apps_indexing_run_ends_with_the_health_line(app_settings, tmp_path):
    from core.index.store import EdgeStore
    from core.insights.health import health_history
    from tests.helpers.apptest import shown, start

    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values=PRICES)
    at = start("pages/catalog.py")
    at.text_input(key="idx_csv").input(str(catalog))
    at.button(key="idx_go").click().run()
    assert not at.exception and not at.error
    health = [shown(c.value) for c in at.caption if shown(c.value).startswith("health: score ")]
    assert len(health) == 1 and health[0].endswith("the Health page lists them")
    copy = EdgeStore.snapshot_reader(app_settings.data_dir, app_settings.collection)
    try:
        assert len(health_history(copy)) == 1
    finally:
        copy.close()


def test_re_indexing_an_unchanged_catalogue_reuses_the_duplicate_and_audit_caches(settings, tmp_path, capsys,
                                                                                   monkeypatch):
    import core.insights.health as health

    computed = []
    find_pairs, audit = health.find_pairs, health.audit
    monkeypatch.setattr(health, "find_pairs", lambda *a, **k: computed.append("pairs") or find_pairs(*a, **k))
    monkeypatch.setattr(health, "audit", lambda *a, **k: computed.append("audit") or audit(*a, **k))
    first = index(tmp_path, capsys)
    assert first["indexed"] == 6 and sorted(set(computed)) == ["audit", "pairs"]
    computed.clear()
    again = index(tmp_path, capsys)  # the same catalogue: nothing written, so nothing recomputed
    assert (again["indexed"], again["updated"], again["unchanged"]) == (0, 0, 6)
    assert computed == [] and again["health"] == first["health"]
    catalog = write_catalog(tmp_path / "cat", extra_header=["Price"], extra_values={**PRICES, "6": ["9.00"]})
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)
    assert changed["updated"] == 1 and changed["health"]["problems"]["no_price"] == 0
    assert sorted(set(computed)) == ["audit", "pairs"]  # a run that wrote a payload: both computed again
