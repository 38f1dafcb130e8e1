"""The first map in headless Chromium against `streamlit run` (issue 19, item 13): on a fresh data dir, "Compute
the map" draws a PCA map, labelled as such, while UMAP is fitted in a background process (held at
LENS_MAP_FIT_GATE); once the gate opens, the UMAP map replaces it without a click. Screenshots: explore-pca.png,
explore-umap.png (LENS_SCREENSHOT_DIR, else the test's tmp folder)."""

from __future__ import annotations

import pytest

from core import map_job
from core.projection import UMAP, load_map
from tests.conftest import serve_app
from tests.test_browser import _button, _idle, _shot, _wait
from tests.test_map_background import FIT_SECONDS, held_at_gate, wait_for

PCA_LABEL = "PCA map: a first look"


@pytest.fixture
def fresh_app(settings, tmp_path, monkeypatch):
    """40 generated products indexed, no map; the server's background fits wait for the gate file."""
    from core.embedder import load_embedder
    from core.indexer import index_catalog
    from core.sample import generate
    from core.store import EdgeStore

    catalog = generate(tmp_path / "sample", count=40)
    store = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
    store.close()
    monkeypatch.setenv("LENS_MAP_FIT_GATE", str(tmp_path / "gate"))
    with serve_app(settings) as url:
        yield url
    (tmp_path / "gate").write_text("go")  # a worker still waiting finishes and exits


def _main_text(driver) -> str:
    return driver.find_element("css selector", '[data-testid="stMain"]').text


def test_a_pca_map_is_drawn_at_once_and_the_umap_map_replaces_it(fresh_app, settings, browser, tmp_path):
    wait = _wait(browser, 120)
    browser.get(fresh_app + "/explore")
    wait.until(lambda d: "There is no map for these vectors yet." in _main_text(d))
    _idle(browser)
    button = _button(browser, "Compute the map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    # The PCA map, said to be one, while the fit waits at the gate: drawn before UMAP has finished.
    wait.until(lambda d: d.find_elements("css selector", ".js-plotly-plot .main-svg") and PCA_LABEL in _main_text(d))
    assert held_at_gate(settings) is not None and load_map(settings.data_dir, settings.collection) is None
    wait.until(lambda d: "UMAP is laying out 40 products in a background process" in _main_text(d))
    assert browser.find_elements("css selector", ".legend .traces")  # grouped by product type meanwhile
    _shot(browser, tmp_path, "explore-pca.png")

    (tmp_path / "gate").write_text("go")
    # No click: the page follows the fit and draws the UMAP map when the worker has written it.
    _wait(browser, FIT_SECONDS).until(lambda d: PCA_LABEL not in _main_text(d)
                                      and "background process" not in _main_text(d)
                                      and d.find_elements("css selector", ".js-plotly-plot .main-svg"))
    wait_for(lambda: map_job.fit_state(settings.data_dir, settings.collection, "image") is None, 60, "job cleared")
    assert load_map(settings.data_dir, settings.collection).method == UMAP
    assert "could not be fitted" not in _main_text(browser)
    _shot(browser, tmp_path, "explore-umap.png")
