"""A real browser: `streamlit run` on a free port, headless Chromium types a query and sees result photos;
hostile catalogue values show as text and make the browser fetch nothing."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {proc.stdout.read()}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture
def served_app(indexed_settings):
    with _serve(indexed_settings) as url:
        yield url


@contextlib.contextmanager
def _serve(settings):
    """`streamlit run` of the app on a free port for these settings; yields its URL."""
    port = _free_port()
    env = dict(os.environ, LENS_MODEL=settings.model, LENS_DATA_DIR=str(settings.data_dir), LENS_DEVICE="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


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

    wait.until(lambda d: nav_labels(d) == ["Search", "Explore", "Boards", "Catalog"])
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
    from core.embedder import load_embedder
    from core.indexer import index_catalog
    from core.projection import compute_map
    from core.store import EdgeStore
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
    with _serve(settings) as url:
        yield url, titles, colour


def _visible_text(driver) -> str:
    """The page's text as a user reads it (safe_text's invisible word joiners dropped)."""
    return driver.find_element("tag name", "body").text.replace("\u2060", "")


def _legend(driver) -> list[str]:
    """The Plotly legend's entries as shown (textContent: what the SVG text reads, tags included)."""
    return [e.get_attribute("textContent") for e in driver.find_elements("css selector", ".legendtext")]


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
    time.sleep(1)  # let any image a title smuggled in have its chance to load
    assert requests == []
    _no_hostile_links_or_images(browser, tracker_host)
    text = _visible_text(browser)
    assert [t for t in titles.values() if t not in text] == []
    assert colour in text and '<a href="https://evil.example/type">Tshirts</a>' in text
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "hostile-search.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))

    # The Explore map by product type: Plotly would make the type a link; the legend must show it as text.
    browser.get(url + "/explore")
    colour_by = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Colour by"]')))
    colour_by.click()
    colour_by.send_keys("Product type", Keys.ENTER)
    wait.until(lambda d: len(_legend(d)) == 6 and "Dresses (1)" in _legend(d))
    assert '<a href="https://evil.example/type">Tshirts</a> (1)' in _legend(browser)
    assert browser.execute_script("return document.querySelectorAll('.js-plotly-plot a').length") == 0
    _no_hostile_links_or_images(browser, tracker_host)
    browser.save_screenshot(str(shot.with_name("hostile-explore.png")))
    assert requests == []
