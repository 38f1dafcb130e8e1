"""The Enrich page's review queue in headless Chromium against `streamlit run`: a run lists the saved pending
proposals in their order, accepting one shrinks the queue by that card and puts the value where filters see it, a
reload of the page shows the same queue, and "Undo last" brings the card back."""

from __future__ import annotations

import pytest

from core.insights.enrich_decisions import EnrichmentDecisions
from tests.conftest import serve_app
from tests.helpers.browser import click, idle, result_titles, shot, visible_text, wait
from tests.helpers.enrich_catalog import ATTRIBUTE, COUNT, PATTERNS, VALUES, index_patterns, known


@pytest.fixture
def enrich_app(settings, tmp_path):
    index_patterns(settings, tmp_path / "patterns")
    with serve_app(settings) as url:
        yield url, settings


def _cards(driver) -> list[str]:
    """The proposals' product ids, top to bottom."""
    ids = []
    for card in driver.find_elements("css selector", '[class*="st-key-enrich-card-"]'):
        key = next(c for c in card.get_attribute("class").split() if c.startswith("st-key-enrich-card-"))
        ids.append(key[len("st-key-enrich-card-"):])
    return ids


def _type(driver, key: str, text: str) -> None:
    field = driver.find_element("css selector", f".st-key-{key} input")
    field.click()
    field.send_keys(text)


def _titles_with(value: str, accepted: str) -> list[str]:
    """The products the catalogue gives `value`, and the accepted one (tests.helpers.enrich_catalog's titles)."""
    from tests.helpers.enrich_catalog import COLOURS, KINDS

    titles = []
    for i in range(COUNT):
        pattern = PATTERNS[i % len(PATTERNS)]
        if (known(i) and pattern.lower() == value) or f"e{i}" == accepted:
            titles.append(f"{COLOURS[i % len(COLOURS)]} {pattern} {KINDS[i % len(KINDS)][1]} {i}")
    return sorted(titles)


def test_accepting_shrinks_the_queue_for_good_and_undo_brings_it_back(enrich_app, browser, tmp_path):
    url, settings = enrich_app
    saved = EnrichmentDecisions(settings.data_dir)
    browser.get(url + "/enrich")
    waiting = wait(browser, 120)
    waiting.until(lambda d: d.find_elements("css selector", ".st-key-enrich_attribute input"))
    idle(browser)
    _type(browser, "enrich_attribute", ATTRIBUTE)
    _type(browser, "enrich_values", ", ".join(VALUES))
    click(browser, ".st-key-enrich_run button")
    waiting.until(lambda d: saved.load(ATTRIBUTE) is not None and _cards(d))
    idle(browser)
    pending = [p.product_id for p in saved.pending(ATTRIBUTE)]
    assert len(pending) >= 2 and _cards(browser) == pending[:20]
    assert "the top guess was right" in visible_text(browser) or "nothing to check" in visible_text(browser)
    shot(browser, tmp_path, "enrich.png", 1800)

    first = saved.pending(ATTRIBUTE)[0]
    click(browser, f".st-key-enrich-accept-{first.product_id} button")
    waiting.until(lambda d: _cards(d) == pending[1:21])
    idle(browser)
    assert [a.product_id for a in saved.accepted()] == [first.product_id]

    browser.refresh()  # a reload: a new session; the link keeps the attribute, the decisions are on disk
    waiting.until(lambda d: _cards(d) == pending[1:21])
    idle(browser)
    assert f"attribute={ATTRIBUTE}" in browser.current_url

    browser.get(f"{url}/?{ATTRIBUTE}={first.proposed.replace(' ', '+')}")  # the accepted value is a filter now
    waiting.until(lambda d: sorted(result_titles(d)) == _titles_with(first.proposed, first.product_id))

    browser.get(f"{url}/enrich?attribute={ATTRIBUTE}")
    waiting.until(lambda d: _cards(d) == pending[1:21])
    idle(browser)
    click(browser, ".st-key-enrich-undo-last button")
    waiting.until(lambda d: _cards(d) == pending[:20])
    idle(browser)
    assert saved.accepted() == []
