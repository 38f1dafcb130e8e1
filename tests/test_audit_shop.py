"""The audit on a real Shopify export, through `python -m core index` and `python -m core audit`: the Sky Blue + Red
tee, whose red variant photo is not among its Image Src rows, is not flagged for Red; the draft and the archived
products are left out unless asked; an unknown colour name is listed apart, not judged."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.common.fields import MATCHED_PHOTOS, PHOTO_COLOURS, PRODUCT_ID, VARIANTS
from core.index.store import EdgeStore


@pytest.fixture
def shop(settings, shopify_indexed):
    """The settings whose index holds the Shopify export (conftest's shopify_indexed)."""
    return settings


def payloads(settings) -> dict[str, dict]:
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        assert store.multi_photo  # the audit reads every photo's vector
        return {h.payload[PRODUCT_ID]: h.payload for h in store.scroll()}
    finally:
        store.close()


def test_the_two_colour_tee_is_not_flagged_for_its_red_variant(shop, capsys):
    tee = payloads(shop)["sky-red-tee"]
    assert tee["colour"] == ["Sky Blue", "Red"] and len(tee[PHOTO_COLOURS]) == len(tee[MATCHED_PHOTOS]) == 4
    assert [v["colour"] for v in tee[VARIANTS]] == ["Sky Blue", "Red"]
    assert main(["audit", "--json", "--limit", "100"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "sky-red-tee" not in [row["product_id"] for row in listed]
    assert [row for row in listed if row["outcome"] == "unknown"] == []  # Sky Blue, Forest Green, Camel: all known


def test_drafts_and_archived_are_audited_only_when_asked(shop, capsys):
    assert main(["audit"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(", 2 draft or archived left out")
    assert main(["audit", "--show-hidden"]) == 0
    assert "left out" not in capsys.readouterr().out.splitlines()[-1]


def test_cli_lists_an_unknown_colour_name_apart(settings, tmp_path, capsys):
    from tests.conftest import PRODUCTS, write_catalog

    rows = [r if r[0] != "4" else (*r[:5], "Ultraviolet", *r[6:]) for r in PRODUCTS]
    assert main(["index", "--catalog", str(write_catalog(tmp_path / "cat", rows=rows)), "--json"]) == 0
    capsys.readouterr()
    assert main(["audit", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row for row in listed if row["outcome"] == "unknown"] == [
        {"product_id": "4", "field": "colour", "label": "Ultraviolet", "outcome": "unknown"}]
    assert "4" not in [row["product_id"] for row in listed if row["outcome"] == "suspect"]
    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "4  Ultraviolet: unknown colour name, not judged" in lines
    assert lines[-1].endswith(", 1 unknown colour name(s)")
