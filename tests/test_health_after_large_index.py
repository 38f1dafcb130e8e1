"""The check a large catalogue's index run ends with leaves the near-duplicate search (minutes at 100,000 products)
to `core health`: the run's report says so, and is neither kept as the cached report nor written to the history."""

from __future__ import annotations

import json

import core.insights.health as health
from core.cli import main
from core.index.store import EdgeStore
from tests.conftest import write_catalog


def stored_health(settings):
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        return health.cached_report(store, settings.data_dir), health.health_history(store)
    finally:
        store.close()


def test_a_large_index_run_leaves_near_duplicates_to_the_health_command(settings, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(health, "AFTER_INDEX_DUPLICATES_UP_TO", 5)  # the six products are "large"
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "(near-duplicates not re-checked: a large catalogue; `python -m core health` checks them)" in out
    assert stored_health(settings) == (None, [])  # partial: not the page's report, not a history row
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cached, history = stored_health(settings)
    assert cached is not None and cached.score == report["score"]
    assert [row["score"] for row in history] == [report["score"]]
    assert health.NOT_SEARCHED not in cached.notes


def test_a_small_index_run_checks_near_duplicates_too(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "cat")
    assert main(["index", "--catalog", str(catalog)]) == 0
    assert "near-duplicates not re-checked" not in capsys.readouterr().out
    cached, history = stored_health(settings)
    assert cached is not None and len(history) == 1
