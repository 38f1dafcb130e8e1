"""The Health page (issue 23) with AppTest. A hand-made report on an indexed seven-product catalogue (the six
products and a hostile one: its id a Markdown link, its title an HTML tag) pins what the page shows: the score
and its sentence, the kinds with counts largest first, the category x kind table, the products a cell opens and
each one's fix links (exact URLs), hostile values inert, the first render from the cached report with no check,
"Check again", and the empty cases. The Audit page opens on the field a link names (/audit?field=...)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest

from core.insights import health
from core.common.safe_text import md
from core.insights.health import KINDS, HealthReport, Problem
from app.health_panel import kind_name
from core.cli import main
from tests.conftest import PRODUCTS, index_into, write_catalog
from tests.helpers.health_catalog import (CATEGORY_NAME, TINY_MODEL_DUPLICATE_THRESHOLD, honest_ids, planted_shop,
                                          product_count)
from tests.helpers.apptest import shown, start, url

HOSTILE_ID = "[x](javascript:alert(1))"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
ROWS = [*PRODUCTS, (HOSTILE_ID, "Women", "Apparel", "Dress", "Dresses", "Red", "Party", HOSTILE_TITLE)]
CHECKED_AT = 1_765_000_000.0
# Per kind: (products most important first, details, related). Product 4 and 5 and 6 have no problem.
PLANTED = {
    "no_price": (["1", "2", "3"], {"1": "no price", "2": "no price", "3": "no price"}, {}),
    "duplicate_photo": (["1", HOSTILE_ID], {"1": f"group of 2: with {HOSTILE_ID}", HOSTILE_ID: "group of 2: with 1"},
                        {"1": [HOSTILE_ID], HOSTILE_ID: ["1"]}),
    "suspect_label": (["2"], {"2": "colour: Blue (photo looks **Red**)"}, {"2": ["colour", "sub_category"]}),
    "no_photo": (["3"], {"3": "no photo"}, {}),
}
BY_CATEGORY = {
    "Apparel": {"products": 5, "score": 40.0, "no_price": 2, "duplicate_photo": 2, "suspect_label": 1},
    "Footwear": {"products": 1, "score": 0.0, "no_price": 1, "no_photo": 1},
    "Accessories": {"products": 1, "score": 100.0},
}
ENCODED_HOSTILE = "%5Bx%5D%28javascript%3Aalert%281%29%29"


def planted_report(products: int = len(ROWS), planted=PLANTED, by_category=BY_CATEGORY, score: float = 42.9,
                   notes=()) -> HealthReport:
    problems = [Problem(kind, list(ids), dict(details), {k: list(v) for k, v in related.items()})
                for kind, (ids, details, related) in planted.items()]
    problems += [Problem(kind, [], {}) for kind in KINDS if kind not in planted]
    return HealthReport(products=products, checked_at=CHECKED_AT, score=score, problems=problems,
                        by_category={c: {k: v for k, v in cell.items()} for c, cell in by_category.items()},
                        index_version=None, notes=list(notes))


@pytest.fixture
def seven(app_settings, tmp_path):
    """The seven products indexed (titles and categories come from the store)."""
    index_into(app_settings, write_catalog(tmp_path / "seven", ROWS))
    return app_settings


@pytest.fixture
def reported(seven, monkeypatch):
    """The page gets the planted report as the fresh cached one; a check would fail the test."""
    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: planted_report())
    monkeypatch.setattr(health, "check_health", _no_check)
    return seven


def _no_check(*args, **kwargs):
    raise AssertionError("the page checked the catalogue while a fresh cached report was there")


def _frame(at, first_column: str):
    """The dataframe whose first column is `first_column`: its header, then its rows as values."""
    frame = next(d.value for d in at.dataframe if next(iter(d.value.columns)) == first_column)
    return [list(frame.columns)] + frame.astype(object).values.tolist()


def _links(at) -> list[tuple[str, str, dict]]:
    """Every page link of the main area: (label, page, query as a dict of lists)."""
    return [(e.proto.label, e.proto.page, parse_qs(e.proto.query_string)) for e in at.get("page_link")]


def _row_titles(at) -> list[str]:
    return [shown(m.value)[2:-2] for m in at.markdown
            if m.value.startswith("**") and m.value.endswith("**")]


def _choose(at, category: str, kind: str):
    at.selectbox(key="health_category").select(category)
    at.selectbox(key="health_kind").select(kind)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_score_and_its_sentence_and_the_kinds_largest_first(reported):
    at = start("pages/health.py")
    assert [(m.label, m.value) for m in at.metric] == [("Health score", "42.9")]
    assert "**3 of 7** products have no problem: the score is the share of products with no problem, out of " \
        "100." in [m.value for m in at.markdown]
    kinds = _frame(at, "Problem")
    assert [row[:2] for row in kinds] == [["Problem", "Products"], ["No price", 3], ["Duplicate photo", 2],
                                          ["Suspect label", 1], ["No photo", 1]]
    assert kinds[1][2] == "The product has no price."


def test_the_category_table_counts_each_kind_per_category(reported):
    at = start("pages/health.py")
    assert _frame(at, "Category") == [
        ["Category", "Products", "Score", "No price", "Duplicate", "Label", "No photo"],
        ["All categories", 7, 42.9, 3, 2, 1, 1],
        ["Apparel", 5, 40.0, 2, 2, 1, 0],
        ["Accessories", 1, 100.0, 0, 0, 0, 0],
        ["Footwear", 1, 0.0, 1, 0, 0, 1]]


def test_a_clicked_cell_lists_that_category_and_kind(reported):
    at = start("pages/health.py")
    assert at.selectbox(key="health_category").value == "All categories"
    assert at.selectbox(key="health_kind").value == "no_price"
    assert _row_titles(at) == ["Mango Women Red Dress", "Nike Men Blue T-shirt", "Bata Women Brown Sandal"]
    at.session_state["health_table"] = {"selection": {"rows": [], "columns": [], "cells": [[3, "No price"]]}}
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="health_category").value == "Footwear"
    assert at.selectbox(key="health_kind").value == "no_price"
    assert [shown(h.value) for h in at.subheader][-1] == "No price in Footwear (1)"
    assert _row_titles(at) == ["Bata Women Brown Sandal"]
    # a click on a category's own cells (its name, size, score) chooses nothing
    at.session_state["health_table"] = {"selection": {"rows": [], "columns": [], "cells": [[1, "Score"]]}}
    at.run()
    assert at.selectbox(key="health_category").value == "Footwear"


def test_each_product_links_to_its_fix_with_url_encoded_values(reported):
    at = _choose(start("pages/health.py"), "Apparel", "duplicate_photo")
    assert _row_titles(at) == ["Mango Women Red Dress", HOSTILE_TITLE]
    assert _links(at)[-4:] == [
        ("View product", "product", {"id": ["1"]}),
        ("Compare the group", "compare", {"id": ["1", HOSTILE_ID]}),
        ("View product", "product", {"id": [HOSTILE_ID]}),
        ("Compare the group", "compare", {"id": [HOSTILE_ID, "1"]})]
    assert [e.proto.query_string for e in at.get("page_link")][-2:] == [
        f"id={ENCODED_HOSTILE}", f"id={ENCODED_HOSTILE}&id=1"]
    at = _choose(at, "All categories", "suspect_label")
    assert _links(at)[-3:] == [("View product", "product", {"id": ["2"]}),
                               ("Audit colour", "audit", {"field": ["colour"]}),
                               ("Audit sub-category", "audit", {"field": ["sub_category"]})]
    at = _choose(at, "Footwear", "no_photo")
    assert _links(at)[-2:] == [("View product", "product", {"id": ["3"]}), ("Catalog report", "catalog", {})]


def test_hostile_titles_ids_and_reasons_are_shown_inert(reported):
    at = _choose(start("pages/health.py"), "Apparel", "duplicate_photo")
    sources = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert f"**{md(HOSTILE_TITLE)}**" in sources
    assert f"{md('#' + HOSTILE_ID)} · Apparel" in sources
    assert md(f"group of 2: with {HOSTILE_ID}") in sources
    assert not any(re.search(r"(?<!\\)[<\[]", s) for s in sources)  # every < and [ escaped: no tag, no link
    at = _choose(at, "All categories", "suspect_label")
    assert md("colour: Blue (photo looks **Red**)") in [m.value for m in at.markdown]


def test_the_first_render_shows_the_cached_report_and_checks_nothing(seven, monkeypatch):
    def check(*args, **kwargs):
        raise AssertionError("checked although a fresh cached report was there")

    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: planted_report(score=50.0))
    monkeypatch.setattr(health, "check_health", check)
    at = start("pages/health.py")
    assert not at.exception and at.metric[0].value == "50.0"


def test_without_a_cached_report_the_page_checks_once_and_check_again_checks_again(seven, monkeypatch):
    calls = []

    def check(store, data_dir, filters=None, encoder=None, progress=None, use_cache=True):
        calls.append(encoder is not None)
        return planted_report(score=50.0)

    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: None)
    monkeypatch.setattr(health, "check_health", check)
    at = start("pages/health.py")
    assert calls == [True] and at.metric[0].value == "50.0"
    at.run()
    assert calls == [True]  # kept for this index version: no second check on a rerun
    at.button(key="health_again").click().run()
    assert not at.exception and calls == [True, True]


def test_a_report_with_no_problem_says_so(seven, monkeypatch):
    clean = planted_report(planted={}, by_category={"Apparel": {"products": 7, "score": 100.0}}, score=100.0)
    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: clean)
    at = start("pages/health.py")
    assert not at.exception
    assert at.metric[0].value == "100.0"
    assert [s.value for s in at.success] == ["No problem found: every product passed every check."]
    assert not at.dataframe and not at.get("page_link")


def test_an_empty_catalogue_says_there_is_nothing_to_check(seven, monkeypatch):
    empty = planted_report(products=0, planted={}, by_category={}, score=100.0)
    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: empty)
    at = start("pages/health.py")
    assert not at.exception and not at.metric
    assert [i.value for i in at.info] == ["The catalogue has no products to check."]


def test_no_index_shows_the_first_run_notice(app_settings):
    at = start("pages/health.py")
    assert not at.exception
    assert at.info[0].value.startswith("There is no index yet.")
    assert not at.metric


def test_the_audit_page_opens_on_the_field_a_link_names(seven):
    at = start()
    at.switch_page("pages/audit.py")
    at.query_params["field"] = "category"
    at.run()
    assert not at.exception
    assert at.button_group(key="audit_field").value == "category"
    at.button_group(key="audit_field").set_value("sub_category").run()  # a choice made here wins over the link
    assert at.button_group(key="audit_field").value == "sub_category"
    assert url(at, "field") == ["sub_category"]
    at.run()
    assert at.button_group(key="audit_field").value == "sub_category"


@pytest.fixture
def shop(app_settings, tmp_path, capsys, monkeypatch):
    """The generated Shopify export with one planted product per kind, indexed through the CLI; what each kind
    must list. The tiny random CLIP puts every drawn photo near every other: duplicates at its own threshold."""
    monkeypatch.setattr(health, "DUPLICATE_THRESHOLD", TINY_MODEL_DUPLICATE_THRESHOLD)
    csv_path, images, expected = planted_shop(tmp_path / "shop")
    assert main(["index", "--catalog", str(csv_path), "--images", str(images), "--no-health"]) == 0
    capsys.readouterr()
    return expected


def _viewed(at) -> list[str]:
    return [query["id"][0] for label, page, query in _links(at) if label == "View product"]


def test_the_planted_shop_lists_each_planted_product_under_its_kind(shop):
    score = round(100 * len(honest_ids()) / product_count(), 1)
    at = start("pages/health.py")
    assert at.metric[0].value == f"{score:.1f}"
    kinds = _frame(at, "Problem")[1:]
    assert {row[0]: row[1] for row in kinds} == {kind_name(k): len(ids) for k, ids in shop.items()}
    assert kinds[0][:2] == ["Duplicate photo", 2]  # the only kind with two products: largest first
    counts = [row[1] for row in kinds]
    assert _frame(at, "Category")[1:] == [["All categories", product_count(), score, *counts],
                                          [CATEGORY_NAME, product_count(), score, *counts]]
    for kind, ids in shop.items():
        at = _choose(at, CATEGORY_NAME, kind)
        assert sorted(_viewed(at)) == ids, kind
    at = _choose(at, "All categories", "duplicate_photo")
    assert [query for label, _, query in _links(at) if label == "Compare the group"] == [
        {"id": ["purple-polo-shirt", "purple-polo-shirt-copy"]}, {"id": ["purple-polo-shirt-copy", "purple-polo-shirt"]}]
    at = _choose(at, "All categories", "suspect_label")
    assert _links(at)[-2:] == [("View product", "product", {"id": ["summer-skirt"]}),
                               ("Audit colour", "audit", {"field": ["colour"]})]
    at = _choose(at, "All categories", "photo_failed")
    assert _links(at)[-1] == ("Catalog report", "catalog", {})


def test_the_bundled_sample_shows_what_it_lacks(app_settings):
    """The sample (320 products, indexed from the page's first-run button) has no price, description or brand
    column, and its photos are 192 x 240 px: every product lacks a price and attributes, and every apparel and
    footwear product's photo is under Merchant Center's 250 px (an accessory's 100 px minimum is met)."""
    import csv

    from core.ingest.sample import SAMPLE_CSV

    at = start("pages/health.py")
    at.button(key="health-sample").click().run()
    assert not at.exception, at.exception
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    apparel = sum(r["Category"] in ("Apparel", "Footwear") for r in rows)
    assert at.metric[0].value == "0.0"
    counts = {row[0]: row[1] for row in _frame(at, "Problem")[1:]}
    assert counts["No price"] == counts["Missing attribute"] == len(rows) == 320
    assert counts["Small photo"] == apparel
    by_category = {row[0]: row[1:3] for row in _frame(at, "Category")[1:]}
    assert by_category == {"All categories": [320, 0.0],
                           **{c: [sum(r["Category"] == c for r in rows), 0.0] for c in ("Apparel", "Footwear",
                                                                                        "Accessories")}}
    at = _choose(at, "All categories", "no_price")  # 320 products: a page of 20 at a time
    assert len(_viewed(at)) == 20 and at.button(key="health_more").label == "Show 20 more of 300"
    at.button(key="health_more").click().run()
    assert len(_viewed(at)) == 40 and _viewed(at)[:20] == [r["ProductId"] for r in rows][:20]


def test_the_score_history_is_a_chart_from_two_runs_on(reported, monkeypatch):
    rows = [{"indexed_at": 1_764_000_000.0, "checked_at": 1_764_000_100.0, "products": 7, "score": 28.6, "counts": {}}]
    monkeypatch.setattr(health, "health_history", lambda store: list(rows))
    at = start("pages/health.py")
    assert not at.get("vega_lite_chart")
    rows.append({"indexed_at": CHECKED_AT, "checked_at": CHECKED_AT, "products": 7, "score": 42.9, "counts": {}})
    at.run()
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1 and "The score over the last 2 indexing runs" in [c.value for c in at.caption]


def test_a_decision_made_elsewhere_is_seen_at_the_next_render(seven, monkeypatch):
    """An audit decision alters the answer without a re-index: the page's cached report is keyed by it too."""
    from core.insights.audit_decisions import AuditDecisions

    asked = []
    monkeypatch.setattr(health, "cached_report", lambda store, data_dir, filters=None: asked.append(1) or
                        planted_report())
    at = start("pages/health.py")
    at.run()
    assert len(asked) == 1
    AuditDecisions(seven.data_dir).judge_right("2", "colour", "Blue")
    at.run()
    assert not at.exception and len(asked) == 2


def test_an_index_with_no_products_says_so_without_a_traceback(app_settings, embedder):
    from core.index.store import EdgeStore

    store = EdgeStore(app_settings.data_dir, app_settings.collection)
    store.ensure(embedder.name, embedder.dim)
    store.close()
    at = start("pages/health.py")
    assert not at.exception and not at.metric
    assert [e.value for e in at.error] == [md("the index has no products to check: index a catalogue first")]
