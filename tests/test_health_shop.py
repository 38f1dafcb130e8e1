"""The health check on a generated Shopify export (issue 23): one planted product per kind, indexed through the CLI
with its photos, and `health --json` lists exactly the planted products under each kind, with the score
100 x honest / products; on both backends (the embedded shard, and qdrant-client ':memory:' as a server)."""

from __future__ import annotations

import json

import pytest

import core.insights.health
from core.cli import main
from core.insights.health import KINDS
from tests.helpers.health_catalog import (CATEGORY_NAME, TINY_MODEL_DUPLICATE_THRESHOLD, honest_ids, planted_shop,
                                          product_count)


@pytest.fixture(params=["edge", "server"])
def backend(request, settings, monkeypatch):
    """The CLI's store: the embedded shard under LENS_DATA_DIR, or one in-process qdrant-client ':memory:' shared
    by every connection the commands open (a server that outlives each command)."""
    if request.param == "server":
        from qdrant_client import QdrantClient

        from core.index.store import ServerStore

        shared = QdrantClient(location=":memory:")
        monkeypatch.setattr(shared, "close", lambda: None)
        monkeypatch.setattr(ServerStore, "connect", classmethod(
            lambda cls, url, key="", collection="products", timeout=30, overrides=None: cls(shared, collection,
                                                                                             in_flight=0)))
        monkeypatch.setenv("QDRANT_URL", ":memory:")
    return request.param


@pytest.fixture
def health(tmp_path, backend, capsys, monkeypatch):
    """`health --json` of the planted export indexed through the CLI, and what it must list."""
    # The tiny random CLIP puts every drawn photo within a few hundredths of every other (cosine 0.89 to 0.99), so
    # at the check's 0.95 every photo would be a "near-duplicate"; the planted pair is the same bytes (cosine 1).
    monkeypatch.setattr(core.insights.health, "DUPLICATE_THRESHOLD", TINY_MODEL_DUPLICATE_THRESHOLD)
    csv_path, images, expected = planted_shop(tmp_path / "shop")
    assert main(["index", "--catalog", str(csv_path), "--images", str(images), "--json"]) == 0
    indexed = json.loads(capsys.readouterr().out)
    assert indexed["indexed"] == product_count()
    assert main(["health", "--json"]) == 0
    return json.loads(capsys.readouterr().out), expected


def test_every_kind_lists_exactly_its_planted_products(health):
    report, expected = health
    assert sorted(expected) == sorted(KINDS)
    got = {p["kind"]: sorted(p["products"]) for p in report["problems"]}
    assert got == expected
    for problem in report["problems"]:
        assert problem["count"] == len(problem["products"])
        assert sorted(problem["details"]) == sorted(problem["products"])


def test_the_score_is_the_share_of_honest_products(health):
    report, expected = health
    flagged = {pid for ids in expected.values() for pid in ids}
    assert len(flagged) == product_count() - len(honest_ids())  # one problem each: every planted product counts once
    assert report["products"] == product_count()
    assert report["score"] == round(100 * len(honest_ids()) / product_count(), 1) == 29.4
    assert list(report["by_category"]) == [CATEGORY_NAME]
    row = report["by_category"][CATEGORY_NAME]
    assert (row["products"], row["score"]) == (product_count(), report["score"])
    assert {kind: row[kind] for kind in KINDS} == {kind: len(ids) for kind, ids in expected.items()}


def test_the_planted_details_say_what_is_wrong(health):
    report, _ = health
    details = {p["kind"]: p["details"] for p in report["problems"]}
    assert details["small_photo"]["orange-wool-beanie"].startswith("photo 200x200 px")
    assert details["suspect_label"]["summer-skirt"] == "colour: Blue (photo looks Red)"
    assert details["missing_attribute"]["navy-chino-shorts"] == "missing: brand"
    assert details["title_length"]["sweater"] == "one word"
    assert "purple-polo-shirt-copy" in details["duplicate_photo"]["purple-polo-shirt"]
