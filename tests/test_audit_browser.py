"""The Audit page in headless Chromium against `streamlit run`: planted wrong colour labels come first, "Change to
X" fixes the label where filters see it at once, "Label is right" hides a product for good, decisions survive a
reload and export as CSV, and "Undo last" takes a change back: the label filters see is the catalogue's again."""

from __future__ import annotations

import json

import pytest

from tests.conftest import serve_app
from tests.helpers.browser import (
    click as _click, idle as _idle, result_titles as _result_titles, shot as _shot, visible_text as _visible_text,
    wait as _wait
)
from tests.helpers.audit_catalog import index_planted

# id, colour drawn, colour labelled: ten honest products, then the two planted mistakes of the issue
@pytest.fixture
def audit_app(settings, tmp_path):
    index_planted(settings, tmp_path / "planted")
    with serve_app(settings) as url:
        yield url, settings


def _cards(driver) -> list[str]:
    """The suspects' product ids, top to bottom."""
    found = driver.find_elements("css selector", '[class*="st-key-audit-card-"]')
    ids = []
    for card in found:
        key = next(c for c in card.get_attribute("class").split() if c.startswith("st-key-audit-card-"))
        ids.append(key[len("st-key-audit-card-"):])
    return ids


def test_planted_labels_come_first_and_decisions_fix_them_for_good(audit_app, browser, tmp_path):
    url, settings = audit_app
    wait = _wait(browser, 120)
    browser.get(url + "/audit")
    wait.until(lambda d: _cards(d)[:2] == ["p-red", "p-navy"])
    _idle(browser)  # the page has finished drawing both cards
    assert _cards(browser) == ["p-red", "p-navy"]  # the honest products fit their labels: not suspects
    text = _visible_text(browser)
    assert "Blue → Red" in text and "Black → Navy Blue" in text
    _shot(browser, tmp_path, "audit.png", 1300)

    _click(browser, ".st-key-audit-change-p-red button")
    wait.until(lambda d: _cards(d) == ["p-navy"])
    _idle(browser)
    _click(browser, ".st-key-audit-right-p-navy button")
    wait.until(lambda d: _cards(d) == [])
    _idle(browser)
    assert "Export 2 decisions (CSV)" in _visible_text(browser)

    # a fresh session: the decisions are on disk, the changed label is what filters see
    browser.get(url + "/audit")
    wait.until(lambda d: "products checked" in _visible_text(d))
    _idle(browser)
    assert _cards(browser) == []
    browser.get(url + "/?colour=Red")
    wait.until(lambda d: sorted(_result_titles(d)) == ["Tee h0", "Tee p-red"])

    saved = json.loads((settings.data_dir / "audit" / "decisions.json").read_text(encoding="utf-8"))
    assert {(d["product_id"], d["verdict"], d["label"], d["new_label"]) for d in saved} == {
        ("p-red", "change", "Blue", "Red"), ("p-navy", "right", "Black", "")}

    # undo the latest decision (the confirmation), then the change: the stored label is Blue again at once
    browser.get(url + "/audit")
    wait.until(lambda d: "products checked" in _visible_text(d))
    _idle(browser)
    _click(browser, ".st-key-audit-undo-last button")
    wait.until(lambda d: _cards(d) == ["p-navy"])
    _idle(browser)
    _click(browser, ".st-key-audit-undo-last button")
    wait.until(lambda d: _cards(d) == ["p-red", "p-navy"])
    _idle(browser)
    assert json.loads((settings.data_dir / "audit" / "decisions.json").read_text(encoding="utf-8")) == []
    browser.get(url + "/?colour=Red")
    wait.until(lambda d: _result_titles(d) == ["Tee h0"])
