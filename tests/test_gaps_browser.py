"""The Gaps page and the Explore overlay in headless Chromium against `streamlit run`: a generated sample and a
generated competitor catalogue (core.ingest.sample_reference) holding near-copies of some of ours and products unlike
any of ours. Screenshots: gaps.png, explore-overlay.png (LENS_SCREENSHOT_DIR, else the test's tmp folder)."""

from __future__ import annotations


import pytest

from tests.conftest import serve_app
from tests.helpers.browser import click as _click, idle as _idle, shot as _shot, wait as _wait

REFERENCE = "northwind"


@pytest.fixture
def gaps_app(settings, tmp_path):
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.map.build import compute_map
    from core.insights.reference import add_reference
    from core.ingest.sample import generate
    from core.ingest.sample_reference import generate_reference
    from core.index.store import EdgeStore

    catalog = generate(tmp_path / "sample", count=60)
    embedder = load_embedder(settings.model, "cpu")
    store = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", embedder, store)
    compute_map(store, settings.data_dir, settings.collection)
    store.close()
    made = generate_reference(tmp_path / "northwind", catalog)
    add_reference(settings, REFERENCE, made.catalog, made.images, embedder)
    with serve_app(settings) as url:
        yield url, made


def _rows(driver) -> list:
    return driver.find_elements("css selector", '[class*="st-key-gap-row-"]')


def test_gaps_page_lists_their_products_and_the_map_overlays_them(gaps_app, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    url, made = gaps_app
    wait = _wait(browser, 120)
    browser.get(url + "/gaps")
    wait.until(lambda d: len(_rows(d)) == len(made.copies) + len(made.unlike))
    # The tiny test model finds every photo alike at 0.8: raise the threshold to 0.99 with the keyboard.
    _idle(browser)
    slider = browser.find_element("css selector", '[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", slider)
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT * 19).perform()
    wait.until(lambda d: "0.99" in d.find_element("css selector", '[data-testid="stMain"] [data-testid="stSlider"]').text)
    _idle(browser)
    gap_ids = wait.until(lambda d: [r.text.rsplit("#", 2)[1].split()[0] for r in _rows(d) if "gap" in r.text][:len(made.unlike)] or None)
    assert set(gap_ids) == set(made.unlike)
    text = browser.find_element("css selector", '[data-testid="stMain"]').text
    assert "Gaps by category" in text and "Home" in text
    _shot(browser, tmp_path, "gaps.png", 1800)

    # Explore, in the same session: their products as a second layer, with a legend entry of their own.
    _click(browser, '[data-testid="stSidebarNav"] a[href$="/explore"]')
    wait.until(lambda d: d.find_elements("css selector", ".js-plotly-plot .main-svg"))
    _idle(browser)
    overlay = wait.until(lambda d: d.find_element("css selector",
                                                  'input[aria-label^="Overlay a reference catalogue"]'))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", overlay)
    overlay.click()
    option = wait.until(lambda d: [o for o in d.find_elements("css selector", '[role="option"]')
                                   if o.text.startswith(REFERENCE)])
    option[0].click()
    wait.until(lambda d: [t for t in d.find_elements("css selector", ".legend .legendtext")
                          if t.text.startswith(f"Theirs: {REFERENCE}")])
    _shot(browser, tmp_path, "explore-overlay.png", 1500)
