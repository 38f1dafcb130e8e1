"""A Shopify export and a Google feed indexed with the tiny model, searched through the CLI: a back-view photo finds
its product first, more like this, drafts out by default, a status filter, the sku filter, the discount sort and the
on-sale flag."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from tests.helpers import shop_catalogues


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def found(answer) -> list[str]:
    return [r["product_id"] for r in (answer["products"] if isinstance(answer, dict) else answer)]


@pytest.fixture
def shopify(settings, tmp_path, capsys):
    folder = tmp_path / "shop"
    export = shop_catalogues.shopify_export(folder)
    assert run_json(capsys, "index", "--catalog", str(export), "--images", str(folder), "--json")["indexed"] == 5
    return folder


def test_a_back_view_photo_finds_its_product_first(shopify, capsys):
    for photo, product in (("coat-back.jpg", "wool-coat"), ("tee-back.jpg", "sky-red-tee"),
                           ("tee-red.jpg", "sky-red-tee")):  # a Variant Image that is not an Image Src
        answer = run_json(capsys, "search", "--image", str(shopify / photo), "--limit", "3", "--json")
        assert found(answer)[0] == product, photo
        assert answer[0]["score"] > max(0.99, answer[1]["score"]), photo  # its own photo, decoded once more


def test_drafts_and_archived_stay_out_unless_a_status_filter_or_show_hidden_asks(shopify, capsys):
    assert sorted(found(run_json(capsys, "browse", "--json"))) == ["leather-belt", "sky-red-tee", "wool-coat"]
    assert found(run_json(capsys, "browse", "--filter", "status=draft", "--json")) == ["linen-shorts"]
    assert found(run_json(capsys, "browse", "--filter", "status=Archived", "--json")) == ["silk-scarf"]
    assert run_json(capsys, "browse", "--show-hidden", "--json")["total"] == 5
    looks = found(run_json(capsys, "search", "--image", str(shopify / "shorts.jpg"), "--json"))
    assert sorted(looks) == ["leather-belt", "sky-red-tee", "wool-coat"]  # the draft's own photo: not found
    status = run_json(capsys, "facets", "--json")["status"]
    assert status == [{"value": "active", "count": 3}, {"value": "archived", "count": 1},
                      {"value": "draft", "count": 1}]


def test_a_variant_sku_finds_its_product(shopify, capsys):
    assert found(run_json(capsys, "browse", "--filter", "sku=TS-0042-RED", "--json")) == ["sky-red-tee"]
    assert found(run_json(capsys, "browse", "--filter", "sku=WC-100,BELT-1", "--sort", "price", "--json")) == [
        "leather-belt", "wool-coat"]


def test_sort_by_discount_and_the_on_sale_filter(shopify, capsys):
    by_discount = run_json(capsys, "browse", "--sort", "-discount", "--json")["products"]
    assert [(p["product_id"], p["payload"].get("discount")) for p in by_discount] == [
        ("leather-belt", 30.0), ("sky-red-tee", 20.0), ("wool-coat", None)]  # equal compare-at: no sale
    assert found(run_json(capsys, "browse", "--filter", "on_sale=yes", "--sort", "price", "--json")) == [
        "sky-red-tee", "leather-belt"]


def test_google_feed_additional_images_and_sale_price(settings, tmp_path, capsys):
    folder = tmp_path / "feed"
    feed = shop_catalogues.google_feed(folder)
    assert run_json(capsys, "index", "--catalog", str(feed), "--images", str(folder), "--json")["indexed"] == 4
    answer = run_json(capsys, "search", "--image", str(folder / "dress-red-back.jpg"), "--limit", "2", "--json")
    assert found(answer)[0] == "G-DRESS-RED"  # an additional_image_link
    assert found(run_json(capsys, "search", "--image", str(folder / "bag-9.jpg"), "--limit", "1", "--json")) == [
        "G-BAG"]  # the tenth photo, the last one kept
    assert found(run_json(capsys, "browse", "--filter", "on_sale=yes", "--json")) == ["G-DRESS-RED"]
    assert found(run_json(capsys, "browse", "--sort", "-discount", "--limit", "1", "--json")) == ["G-DRESS-RED"]
