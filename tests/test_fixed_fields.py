"""An accepted enrichment stays a filter after `index --recreate`: the run writes the value back (the fixes hook) and
registers the attribute as a keyword field again, so its facet counts it."""

from __future__ import annotations

from core.cli import main
from core.index.store import EdgeStore, point_id
from core.insights.enrich import EnrichResult, Proposal
from core.insights.enrich_decisions import EnrichmentDecisions


def test_an_accepted_attribute_is_a_filter_again_after_a_recreate(indexed_settings, tmp_path, capsys):
    summary = {"products": 6, "proposed": 1, "not_applicable": 0, "known": 0, "accuracy_on_known": None}
    EnrichmentDecisions(indexed_settings.data_dir).save(EnrichResult(
        "pattern", ["striped", "plain"], "photo", False, summary, [Proposal("1", "pattern", "", "striped", 0.9, {})],
        [], None))
    assert main(["enrich", "accept", "--attribute", "pattern", "--product", "1"]) == 0
    catalog = tmp_path / "cat" / "catalog.csv"
    assert main(["index", "--catalog", str(catalog), "--images", str(catalog.parent / "images"), "--recreate",
                 "--no-health"]) == 0
    capsys.readouterr()
    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    try:
        assert store.retrieve([point_id("1")])[0].payload.get("pattern") == "striped"
        assert "pattern" in store.schema().keyword
        assert store.facet("pattern") == [("striped", 1)]
    finally:
        store.close()
