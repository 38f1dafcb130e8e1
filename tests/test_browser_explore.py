"""The Explore map in a real browser (issue 9, defect 11): the page's width and a tall map, a legend clear of
Plotly's toolbar, photos large enough to see and never stacked. (That a selection survives "Photos" is checked
in tests/test_explore_page.py: a lasso drawn by Selenium's pointer does not reach Plotly here.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import serve_app


@pytest.fixture
def mapped_app(indexed_settings):
    """The six-product index with its map computed, served."""
    from core.map.build import compute_map
    from core.index.store import EdgeStore

    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    compute_map(store, indexed_settings.data_dir, indexed_settings.collection)
    store.close()
    with serve_app(indexed_settings) as url:
        yield url


def _rect(driver, element) -> dict:
    return driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return {l: r.left, t: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height};",
                                 element)


def _overlap(a: dict, b: dict) -> bool:
    return a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]


def _shot(driver, tmp_path, name: str) -> None:
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(shot))


def test_the_map_takes_the_page_with_legend_clear_of_the_toolbar_and_photos_side_by_side(mapped_app, browser,
                                                                                         tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(mapped_app + "/explore")
    plot = wait.until(lambda d: (d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")
                                 and d.find_elements(By.CSS_SELECTOR, ".legend .traces")
                                 and d.find_element(By.CSS_SELECTOR, ".js-plotly-plot")))
    ActionChains(browser).move_to_element(plot).perform()  # the toolbar shows on hover
    block = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMainBlockContainer"]')
    content = browser.execute_script("const s = getComputedStyle(arguments[0]); return arguments[0].clientWidth"
                                     " - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);", block)
    chart = _rect(browser, plot)
    toolbar = _rect(browser, browser.find_element(By.CSS_SELECTOR, ".modebar"))
    assert toolbar["w"] > 0
    for entry in browser.find_elements(By.CSS_SELECTOR, ".legend .traces"):
        assert not _overlap(_rect(browser, entry), toolbar)
    assert chart["h"] >= 800 and chart["w"] >= 0.98 * content  # the page's whole width
    _shot(browser, tmp_path, "explore.png")

    # Photos on: the six products' photos, large and side by side (one that would cover another stays a dot).
    toggle = browser.find_element(By.XPATH, '//*[@data-testid="stCheckbox" or @data-testid="stToggle"]'
                                            '[.//p[text()="Photos"]]//label')
    toggle.click()
    photos = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .imagelayer image"))
    assert len(photos) >= 5  # two of the six sit 30 px apart: one of them stays a dot
    rects = [_rect(browser, p) for p in photos]
    assert all(r["w"] >= 40 and r["h"] >= 40 for r in rects), rects
    assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:] if _overlap(a, b)]
    _shot(browser, tmp_path, "explore-photos.png")


def test_a_large_map_draws_everyone_as_shading_under_a_bounded_set_of_points(indexed_settings, browser, tmp_path):
    """A 40,000-product map (stored over the six-product index, as fresh): the density image under at most
    MAX_POINTS WebGL points, the note saying so, and the page's width and height as for a small map."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from core.map.figure import MAX_POINTS
    from core.map.storage import CatalogMap, index_key, save_map
    from core.index.store import EdgeStore

    rng = np.random.default_rng(2)
    n = 40_000
    centres = rng.uniform(-20, 20, size=(24, 2))
    group = rng.integers(0, 24, n)
    xy = (centres[group] + rng.normal(0, 1.2, size=(n, 2))).astype(np.float32)
    types = [f"Type {g}" for g in range(24)]
    attrs = {"title": [f"Product {i}" for i in range(n)], "gender": ["Women"] * n, "category": ["Apparel"] * n,
             "sub_category": [types[g] for g in group], "product_type": [types[g] for g in group],
             "colour": ["Red"] * n, "usage": ["Casual"] * n, "image_path": [""] * n}
    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    key = index_key(store)[0]
    store.close()
    from core.map.storage import params_key

    save_map(indexed_settings.data_dir, indexed_settings.collection,
             CatalogMap("image", [f"S{i}" for i in range(n)], xy, group.astype(np.int32),
                        {g: types[g] for g in range(24)}, ["image"] * n, [""] * n, key, params_key("image"),
                        attrs=attrs, fitted=n))
    with serve_app(indexed_settings) as url:
        wait = WebDriverWait(browser, 90)
        browser.get(url + "/explore")
        plot = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .imagelayer image")
                          and d.find_element(By.CSS_SELECTOR, ".js-plotly-plot"))
        shading = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .imagelayer image")
        assert len(shading) == 1 and shading[0].get_attribute("href").startswith("data:image/png;base64,")
        drawn = browser.execute_script("return arguments[0]._fullData.reduce((n, t) => n + (t._length || 0), 0);", plot)
        assert 0 < drawn <= MAX_POINTS
        assert browser.find_elements(By.XPATH, '//*[contains(text(), "the shading shows where all of them are")]')
        chart = _rect(browser, plot)
        assert chart["h"] >= 800
        _shot(browser, tmp_path, "explore-40000.png")
