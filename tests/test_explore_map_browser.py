"""The first map in headless Chromium against `streamlit run` (issue 19, item 13): on a fresh data dir, "Compute
the map" draws a PCA map, labelled as such, while UMAP is fitted in a background process (held at
LENS_MAP_FIT_GATE); once the gate opens, the UMAP map replaces it without a click. Screenshots: explore-pca.png,
explore-umap.png (LENS_SCREENSHOT_DIR, else the test's tmp folder)."""

from __future__ import annotations

import pytest

from core.map import job as map_job
from core.map.storage import UMAP, load_map
from tests.conftest import serve_app
from tests.helpers.browser import button as _button, idle as _idle, shot as _shot, wait as _wait
from tests.helpers.map_jobs import FIT_SECONDS, held_at_gate, wait_for

PCA_LABEL = "PCA map: a first look"


@pytest.fixture
def fresh_app(settings, tmp_path, monkeypatch):
    """40 generated products indexed, no map; the server's background fits wait for the gate file."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.ingest.sample import generate
    from core.index.store import EdgeStore

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
    # While the fit runs, the page's polling fragment reruns every second: two quiet looks, not five, for the shot.
    _shot(browser, tmp_path, "explore-pca.png", looks=2)

    (tmp_path / "gate").write_text("go")
    # No click: the page follows the fit and draws the UMAP map when the worker has written it.
    _wait(browser, FIT_SECONDS).until(lambda d: PCA_LABEL not in _main_text(d)
                                      and "background process" not in _main_text(d)
                                      and d.find_elements("css selector", ".js-plotly-plot .main-svg"))
    wait_for(lambda: map_job.fit_state(settings.data_dir, settings.collection, "image") is None, 60, "job cleared")
    assert load_map(settings.data_dir, settings.collection).method == UMAP
    assert "could not be fitted" not in _main_text(browser)
    _shot(browser, tmp_path, "explore-umap.png")


# ---- item 14: the overlay's verdicts are the Gaps page's ----------------------------------------------------------

@pytest.fixture
def overlay_app(settings):
    """Ours and the reference of tests/test_overlay_verdicts (a bag of theirs nearest our beanie), mapped, served."""
    from core.map.build import compute_map
    from tests.helpers.overlay_points import fill

    ours, theirs = fill(settings)
    theirs.close()
    compute_map(ours, settings.data_dir, settings.collection)
    ours.close()
    with serve_app(settings) as url:
        yield url


def _choose(driver, wait, label: str, option: str) -> None:
    box = wait.until(lambda d: d.find_element("css selector", f'[data-testid="stMain"] input[aria-label*="{label}"]'))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    wait.until(lambda d: [o for o in d.find_elements("css selector", '[role="option"]')
                          if o.text.startswith(option)])[0].click()


def test_a_box_over_the_overlay_gives_the_gaps_pages_verdict_within_the_same_product_type(overlay_app, browser,
                                                                                         tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    wait = _wait(browser, 120)
    browser.get(overlay_app + "/gaps")
    wait.until(lambda d: "Match within the same" in _main_text(d))
    _idle(browser)
    _choose(browser, wait, "Match within the same", "product type")
    wait.until(lambda d: "2 of their 3 products have no match" in _main_text(d).replace("**", ""))
    _idle(browser)

    browser.find_element("css selector", '[data-testid="stSidebarNav"] a[href$="/explore"]').click()
    wait.until(lambda d: d.find_elements("css selector", ".js-plotly-plot .main-svg"))
    _idle(browser)
    _choose(browser, wait, "Overlay a reference catalogue", "rival")
    wait.until(lambda d: [t for t in d.find_elements("css selector", ".legend .legendtext")
                          if t.text.startswith("Theirs: rival")])
    _idle(browser)
    same = browser.find_element("xpath", '//*[@data-testid="stSelectbox"][.//*[text()="Match within the same"]]')
    assert same.find_element("css selector", "input").get_attribute("value") == "product type"  # the Gaps page's
    # A box over the whole map with Plotly's own box tool, dragged by the pointer.
    browser.set_window_size(1400, 2200)  # the whole map in view: the pointer drags from corner to corner
    plot = browser.find_element("css selector", ".js-plotly-plot")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    browser.execute_script("arguments[0].click()", browser.find_element("css selector",
                                                                        '.modebar-btn[data-val="select"]'))
    drag = browser.find_element("css selector", ".js-plotly-plot .nsewdrag")
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", drag)
    chain = ActionChains(browser).move_to_element_with_offset(drag, -rect[0] / 2 + 3, -rect[1] / 2 + 3).click_and_hold()
    for step in range(1, 11):
        chain.move_by_offset((rect[0] - 6) / 10, (rect[1] - 6) / 10)
    chain.release().perform()
    wait.until(lambda d: "3 of theirs selected: 2 gaps" in _main_text(d))
    rows = [[c.text.strip() for c in r.find_elements("css selector", "td, th")]
            for r in browser.find_elements("css selector", '[data-testid="stTable"] tbody tr')]
    assert rows == [["Their Lamp", "t-lamp", "gap", "-", "", ""],
                    ["Their Bag", "t-bag", "gap", "0.000", "Leather Bag", "o-bag"],
                    ["Their Hat", "t-hat", "match", "0.950", "Wool Beanie", "o-beanie"]]
    assert "0.996" not in _main_text(browser)
    _shot(browser, tmp_path, "explore-overlay-verdicts.png")
