"""A real browser: `streamlit run` on a free port, headless Chromium types a query and sees result photos;
hostile catalogue values show as text and make the browser fetch nothing."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from core.map.figure import LEGEND_CHARS
from tests.conftest import serve_app
from tests.helpers.browser import (
    button as _button, chips as _chips, choose as _choose, click as _click, go as _go, idle as _idle,
    params as _params, result_titles as _result_titles, selectbox_value as _selectbox_value,
    visible_text as _visible_text, wait as _wait
)


def test_typing_a_query_shows_result_photos(served_app, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(served_app)
    box = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, 'input[aria-label="Describe what you are looking for"]')))
    box.send_keys("red dress", Keys.ENTER)
    # With no query the page already lists the catalogue's six photos: wait for the search itself first.
    wait.until(lambda d: "q=red+dress" in d.current_url or "q=red%20dress" in d.current_url)

    def loaded_photos(driver):
        images = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"] img')
        done = [i for i in images if driver.execute_script("return arguments[0].complete && "
                                                           "arguments[0].naturalWidth > 0", i)]
        return done if len(done) >= 6 else False

    photos = wait.until(loaded_photos)
    assert len(photos) == 6
    assert "q=red+dress" in browser.current_url or "q=red%20dress" in browser.current_url
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "search.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_a_shared_link_to_a_page_opens_it_inside_the_app(served_app, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served_app + "/boards")  # the new server's very first request
    # The navigation is redrawn while the page reruns: a link found a moment ago may be gone; look again.
    wait = WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,))

    def nav_labels(driver):  # each link reads "<icon ligature>\n<label>"
        return [a.text.splitlines()[-1] for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
                if a.text.strip()]

    wait.until(lambda d: nav_labels(d) == ["Search", "Explore", "Boards", "Catalog", "Audit", "Gaps", "Search log",
                                           "Health", "Enrich"])
    wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1") and d.find_element(By.TAG_NAME, "h1").text == "Boards")


@pytest.fixture
def tracker():
    """A tiny HTTP server on 127.0.0.1 that records every request: a browser that fetches from it was tricked."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def hostile_values(tracker_host: str) -> dict[str, str]:
    return {
        "1": f"![t](http://{tracker_host}/title.png)",
        "2": "[site](https://evil.example/link)",
        "3": "Bare https://evil.example/bare and www.evil.example",
        "4": f"<b>html</b> <img src=http://{tracker_host}/tag.png>",
        "5": ":red[x] $x^2$ :material/home: :smile:",
        "6": "Roadster **Men** White Shirt",
    }


@pytest.fixture
def hostile_app(settings, tmp_path, tracker):
    """The app over six products whose titles, colour and type are Markdown/HTML, with the map computed."""
    from core.models.embedder import load_embedder
    from core.index.indexer import index_catalog
    from core.map.build import compute_map
    from core.index.store import EdgeStore
    from tests.conftest import PRODUCTS, write_catalog

    host, _ = tracker
    titles = hostile_values(host)
    colour = f"![c](http://{host}/colour.png)"
    rows = [(*row[:5], colour if row[0] == "1" else row[5], row[6], titles[row[0]]) for row in PRODUCTS]
    rows[1] = (*rows[1][:4], '<a href="https://evil.example/type">Tshirts</a>', *rows[1][5:])
    catalog = write_catalog(tmp_path / "hostile", rows)
    store = EdgeStore(settings.data_dir, settings.collection)
    try:
        index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
        compute_map(store, settings.data_dir, settings.collection, "image")
    finally:
        store.close()
    with serve_app(settings) as url:
        yield url, titles, colour


def _legend(driver) -> list[str]:
    """The Plotly legend's entries as shown (textContent: what the SVG text reads, tags included)."""
    return [e.get_attribute("textContent") for e in driver.find_elements("css selector", ".legendtext")]


def every_image_settled(driver) -> bool:
    """Whether the page has loaded and every <img> on it has finished, loaded or failed (img.complete)."""
    return driver.execute_script("return document.readyState === 'complete' && "
                                 "[...document.images].every(i => i.complete)")


def fetched_from(driver, host: str) -> list[str]:
    """Every resource the browser fetched whose address names `host` (from it, or a smuggled address turned into
    a path on our own server), as the browser records them: images, styles, scripts, beacons."""
    return driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                 ".filter(n => n.includes(arguments[0]))", host)


def _no_hostile_links_or_images(driver, tracker_host: str) -> None:
    hrefs = driver.execute_script("return [...document.querySelectorAll('a')].map(a => a.href || "
                                  "a.getAttribute('xlink:href') || '')")
    assert [h for h in hrefs if "evil.example" in h or tracker_host in h] == []
    srcs = driver.execute_script("return [...document.querySelectorAll('img, image')].map(i => i.src || "
                                 "i.getAttribute('href') || '')")
    assert [s for s in srcs if tracker_host in s] == []


def test_hostile_catalogue_values_show_as_text_and_fetch_nothing(hostile_app, browser, tracker, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, titles, colour = hostile_app
    tracker_host, requests = tracker
    wait = WebDriverWait(browser, 60)
    browser.get(url)
    box = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, 'input[aria-label="Describe what you are looking for"]')))
    box.send_keys("shirt", Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"] img')) == 6)
    _idle(browser)
    # Any image a title smuggled in has had its chance once every image on the page has loaded or failed: the
    # browser asked for it by then, and the tracker recorded the request before it answered.
    _wait(browser).until(every_image_settled, message="an image on the page never finished loading")
    assert requests == []
    assert fetched_from(browser, tracker_host) == []
    _no_hostile_links_or_images(browser, tracker_host)
    text = _visible_text(browser)
    assert [t for t in titles.values() if t not in text] == []
    assert colour in text and '<a href="https://evil.example/type">Tshirts</a>' in text
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "hostile-search.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))

    # The Explore map by product type: Plotly would make the type a link; the legend must show it as text.
    browser.get(url + "/explore")
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Colour by"]')))
    _idle(browser)  # typing into a widget the running script is about to redraw would be lost
    colour_by = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Colour by"]')
    colour_by.click()
    colour_by.send_keys("Product type", Keys.ENTER)
    _wait(browser).until(lambda d: len(_legend(d)) == 6 and "Dresses (1)" in _legend(d))
    hostile_type = '<a href="https://evil.example/type">Tshirts</a>'
    cut = hostile_type[:LEGEND_CHARS - 1] + "…"  # the legend cuts long values; what remains is still plain text
    assert f"{cut} (1)" in _legend(browser)
    assert browser.execute_script("return document.querySelectorAll('.js-plotly-plot a').length") == 0
    _no_hostile_links_or_images(browser, tracker_host)
    browser.save_screenshot(str(shot.with_name("hostile-explore.png")))
    assert requests == []


# --- Filters that survive reruns and page changes (issue 9: 1, 2) -----------------------------------------


def _filter_params(driver) -> dict[str, list[str]]:
    from core.ingest.catalog import FILTER_FIELDS

    return {k: v for k, v in _params(driver).items() if k in FILTER_FIELDS}


def test_chosen_filters_stay_what_they_are_through_three_kinds_of_rerun(served_app, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = _wait(browser)
    browser.get(served_app + "/?q=dress")
    wait.until(lambda d: len(_result_titles(d)) == 6)
    _choose(browser, "Gender", "Women")
    wait.until(lambda d: _filter_params(d) == {"gender": ["Women"]})
    _choose(browser, "Colour", "Red")
    wait.until(lambda d: _filter_params(d) == {"gender": ["Women"], "colour": ["Red"]})
    wait.until(lambda d: _result_titles(d) == ["Mango Women Red Dress"])
    browser.execute_script("document.querySelector('[data-testid=\"stSidebarContent\"]').scrollTop = 0")
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "search-two-filters.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))

    def unchanged(q: str) -> None:
        _idle(browser)
        assert _params(browser) == {"q": [q], "gender": ["Women"], "colour": ["Red"]}
        assert _result_titles(browser) == ["Mango Women Red Dress"]
        assert (_chips(browser, "Gender"), _chips(browser, "Colour")) == (["Women"], ["Red"])

    # 1. A new query.
    box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Describe what you are looking for"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("red dress", Keys.ENTER)
    wait.until(lambda d: _params(d).get("q") == ["red dress"])
    unchanged("red dress")
    # 2. A new board, from the sidebar.
    name = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="New board"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", name)
    name.send_keys("Summer reds", Keys.ENTER)  # Enter submits the sidebar's form
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'input[aria-label="Add results to"]')
               and _selectbox_value(d, "Add results to").startswith("Summer reds"))
    unchanged("red dress")
    # 3. A result's action: add it to the board.
    browser.find_element(By.CSS_SELECTOR, ".st-key-results-1-board button").click()
    wait.until(lambda d: "Added to the board" in _visible_text(d))
    unchanged("red dress")


def test_filters_from_a_link_and_colour_by_survive_a_round_trip_through_the_pages(served_app, browser):
    from selenium.webdriver.common.keys import Keys

    wait = _wait(browser)
    browser.get(served_app + "/?q=dress&colour=Red")
    wait.until(lambda d: _result_titles(d) == ["Mango Women Red Dress"])
    assert _chips(browser, "Colour") == ["Red"]

    _go(browser, "Explore")
    assert _chips(browser, "Colour") == ["Red"]
    assert _filter_params(browser) == {"colour": ["Red"]}
    colour_by = browser.find_element("css selector", 'input[aria-label="Colour by"]')
    colour_by.click()
    colour_by.send_keys("Gender", Keys.ENTER)
    wait.until(lambda d: _selectbox_value(d, "Colour by") == "Gender")
    _idle(browser)

    _go(browser, "Search")
    wait.until(lambda d: _result_titles(d) == ["Mango Women Red Dress"])
    assert _chips(browser, "Colour") == ["Red"]
    assert _params(browser) == {"q": ["dress"], "colour": ["Red"]}

    _go(browser, "Boards")
    _go(browser, "Explore")
    assert _selectbox_value(browser, "Colour by") == "Gender"
    assert _chips(browser, "Colour") == ["Red"]
    assert _filter_params(browser) == {"colour": ["Red"]}


# --- Boards: labels that follow the data, deleting asks first (issue 9: 9, 13) ----------------------------


def _captions(driver) -> list[str]:
    return [c.get_attribute("textContent") for c in driver.find_elements("css selector", '[data-testid="stCaptionContainer"]')]


def test_board_names_and_counts_follow_renames_and_adds_and_deleting_asks_first(served_app, browser):
    from selenium.webdriver.common.keys import Keys

    wait = _wait(browser)
    browser.get(served_app + "/?q=dress")
    wait.until(lambda d: len(_result_titles(d)) == 6)
    name = browser.find_element("css selector", 'input[aria-label="New board"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", name)
    name.send_keys("Summer reds", Keys.ENTER)
    wait.until(lambda d: "0 products on this board" in _captions(d))
    _idle(browser)  # the cards' board buttons were disabled until the board existed: let them redraw
    for count, product in enumerate(("1", "2", "3"), start=1):
        _click(browser, f".st-key-results-{product}-board button")
        shown = f"{count} product{'' if count == 1 else 's'} on this board"
        wait.until(lambda d, text=shown: text in _captions(d), message=f"waiting for {shown!r}")
        _idle(browser)
    assert _selectbox_value(browser, "Add results to") == "Summer reds"

    _go(browser, "Boards")
    assert _selectbox_value(browser, "Board") == "Summer reds" and "3 products on this board" in _captions(browser)
    rename = browser.find_element("css selector", 'input[aria-label="Rename to"]')
    rename.send_keys(Keys.CONTROL, "a")
    rename.send_keys("SS26 red edit", Keys.ENTER)
    wait.until(lambda d: _selectbox_value(d, "Board") == "SS26 red edit")
    _idle(browser)
    assert _selectbox_value(browser, "Board") == "SS26 red edit"

    _go(browser, "Search")
    wait.until(lambda d: len(_result_titles(d)) == 6)
    assert _selectbox_value(browser, "Add results to") == "SS26 red edit"
    assert "3 products on this board" in _captions(browser)

    # Deleting asks first; "Keep it" keeps the board, "Delete it" deletes it.
    _go(browser, "Boards")
    _button(browser, "Delete board").click()
    wait.until(lambda d: "Delete the board SS26 red edit and its 3 products?" in _visible_text(d))
    wait.until(lambda d: _button(d, "Keep it")).click()
    wait.until(lambda d: "Delete the board" not in _visible_text(d))
    assert _selectbox_value(browser, "Board") == "SS26 red edit"
    _button(browser, "Delete board").click()
    wait.until(lambda d: "Delete the board SS26 red edit" in _visible_text(d))
    wait.until(lambda d: _button(d, "Delete it")).click()
    wait.until(lambda d: "No boards yet" in _visible_text(d))
