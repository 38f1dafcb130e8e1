"""The Search log page in headless Chromium against `streamlit run` on the six-product index: a search-terms export
uploaded through the file input, its three lists, "Search this" opening the Search page with the query in its box,
and reloads. Screenshot: searchlog.png (LENS_SCREENSHOT_DIR, else the test's tmp folder).

The verdicts are worked out here, not by core: found for a query whose every word a title holds; for the rest, CLIP's
cosine of the query to every stored photo against the page's default threshold (words at or above it, gap below)."""

from __future__ import annotations

import csv
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tests.helpers.browser import go as _go, idle as _idle, shot as _shot, visible_text as _visible_text, wait as _wait
from tests.helpers.catalog_upload import upload as _upload

FOUND = {"dress": 120, "men": 45}   # title words: "Mango Women Red Dress"; three "Men ..." titles
MEANING = {"silk scarf": 80, "teal lamp": 60, "garden hose": 35, "kitchen table": 20}  # words no product holds
SEARCH_BOX = 'input[aria-label="Describe what you are looking for"]'


def _best_similarities(settings, queries) -> dict[str, float]:
    """Each query's best cosine to a stored photo, computed with numpy from the stored vectors."""
    from core.index.store import EdgeStore
    from core.models.embedder import load_embedder

    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        photos = np.array([h.vectors["image"] for h in store.scroll(with_vectors=["image"])], dtype=np.float64)
    finally:
        store.close()
    photos /= np.linalg.norm(photos, axis=1, keepdims=True)
    texts = load_embedder(settings.model, "cpu").encode_texts(list(queries)).astype(np.float64)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    return dict(zip(queries, (texts @ photos.T).max(axis=1).tolist()))


def _headings(driver) -> list[str]:
    return [h.text for h in driver.find_elements("css selector", '[data-testid="stMain"] h3')]


def test_an_uploaded_log_shows_three_lists_and_search_this_opens_the_search_page(indexed_settings, browser,
                                                                                  tmp_path):
    from core.insights.searchlog import TEXT_MATCH_THRESHOLD
    from tests.conftest import serve_app

    best = _best_similarities(indexed_settings, list(MEANING))
    words = sorted(q for q, s in best.items() if s >= TEXT_MATCH_THRESHOLD)
    gaps = sorted(q for q, s in best.items() if s < TEXT_MATCH_THRESHOLD)
    assert words == ["silk scarf"] and len(gaps) == 3, f"the tiny model moved: pick other queries ({best})"
    log = tmp_path / "searches.csv"
    with open(log, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("Search query", "Searches"), *{**FOUND, **MEANING}.items()])

    with serve_app(indexed_settings) as url:
        wait = _wait(browser, 120)
        browser.get(url + "/searchlog")
        wait.until(lambda d: d.find_elements("tag name", "h1") and d.find_element("tag name", "h1").text == "Search log")
        _idle(browser)
        _upload(browser, "searchlog_upload", log)
        wait.until(lambda d: len(_headings(d)) == 3)
        _idle(browser)
        assert _headings(browser) == ["Not stocked (3)", "Stocked under other words (1)", "Found (2)"]
        text = _visible_text(browser)
        assert "3 queries" in text and f"{sum(MEANING[q] for q in gaps)} lost searches" in text
        assert f"{MEANING['silk scarf']} lost searches" in text and f"{sum(FOUND.values())} searches" in text
        assert "Words to add: silk, scarf" in text
        _shot(browser, tmp_path, "searchlog.png", 2400)

        _go(browser, "Gaps")  # and back: the upload and its lists are kept
        _go(browser, "Search log")
        wait.until(lambda d: _headings(d) == ["Not stocked (3)", "Stocked under other words (1)", "Found (2)"])
        assert "Showing searches.csv, uploaded earlier" in _visible_text(browser)

        card = browser.find_element("css selector", '[class*="st-key-searchlog-words-0"]')
        link = card.find_element("css selector", '[data-testid="stLinkButton"] a')
        assert parse_qs(urlsplit(link.get_attribute("href")).query) == {"q": ["silk scarf"]}
        log_tab = browser.current_window_handle
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        wait.until(lambda d: len(d.window_handles) == 2)
        browser.switch_to.window(next(h for h in browser.window_handles if h != log_tab))
        wait.until(lambda d: d.find_elements("css selector", SEARCH_BOX)
                   and d.find_element("css selector", SEARCH_BOX).get_attribute("value") == "silk scarf")
        assert urlsplit(browser.current_url).path in ("", "/")  # the Search page is the app's root
        assert parse_qs(urlsplit(browser.current_url).query)["q"] == ["silk scarf"]

        browser.refresh()  # the link holds the search: a reload keeps it
        wait.until(lambda d: d.find_elements("css selector", SEARCH_BOX)
                   and d.find_element("css selector", SEARCH_BOX).get_attribute("value") == "silk scarf")
        assert parse_qs(urlsplit(browser.current_url).query)["q"] == ["silk scarf"]

        browser.switch_to.window(log_tab)
        browser.refresh()  # a new session: the upload is gone, and the page asks for one again
        wait.until(lambda d: "Upload a search-terms export (CSV) to see its queries diagnosed." in _visible_text(d))
        _idle(browser)
        assert not browser.find_elements("css selector", '[data-testid="stException"]')
        _upload(browser, "searchlog_upload", log)
        wait.until(lambda d: _headings(d) == ["Not stocked (3)", "Stocked under other words (1)", "Found (2)"])
