"""Browsing the catalogue with no query, in a real browser: the sidebar built from the index's schema (a brand
filter, an In stock toggle, a price slider), the sort picker, the count line, and one filter state that the URL
carries through reruns and page changes.

The shop index (tests/conftest.py shop_settings): products 1..6 priced 49.90, 19.99, 35.00, 129.00, 15.50 and
none; brands Mango, Nike, Bata, Fossil, Puma, Roadster; 3 and 6 out of stock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import serve_app
from tests.helpers.browser import (
    chips as _chips, choose as _choose, go as _go, idle as _idle, params as _params,
    selectbox_value as _selectbox_value, wait as _wait
)
from tests.helpers.browser import toggle as _toggle, toggled as _toggled

# With no query and no sort the listing is the engine's own stable order: by point id, a hash of the product id.
UNSORTED = ["2", "1", "6", "4", "3", "5"]
BY_PRICE = ["5", "2", "3", "1", "4", "6"]  # low to high; 6 has no price and comes last


@pytest.fixture
def shop_app(shop_settings):
    with serve_app(shop_settings) as url:
        yield url


def _shown(driver) -> list[str]:
    """Product ids of the cards on the Search page, in order (each card's "More like this" button is keyed by it)."""
    keys = [e.get_attribute("class") for e in driver.find_elements(
        "css selector", '[data-testid="stMain"] [class*="st-key-results-"][class*="-like"]')]
    return [k.split("st-key-results-", 1)[1].split("-like", 1)[0] for k in keys]


def _count_line(driver) -> str:
    lines = [e.text for e in driver.find_elements("css selector", '[data-testid="stMain"] [data-testid="stMarkdown"]')
             if " product" in e.text and ("catalogue" in e.text or "filters" in e.text)]
    return lines[0] if lines else ""


def _pick_sort(driver, label: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("css selector", 'input[aria-label="Sort by"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    box.send_keys(label, Keys.ENTER)
    _idle(driver)


def _slider_handle(driver, which: str):
    """A range slider's start or end handle (react-aria's hidden range input): keys move it one step."""
    return driver.find_element("css selector", f'input[aria-label="Price — {which}"]')


def _press(driver, element, key: str, times: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("arguments[0].focus()", element)
    ActionChains(driver).send_keys(key * times).perform()
    _idle(driver)


def test_browse_filter_by_brand_stock_and_price_sort_and_keep_it_all_through_reruns(shop_app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = _wait(browser)
    browser.get(shop_app)
    # No query: the whole catalogue, with its count, and no "type something" wall.
    wait.until(lambda d: _shown(d) == UNSORTED)
    assert _count_line(browser) == "6 products in the catalogue"
    assert _selectbox_value(browser, "Sort by") == "Unsorted"
    assert _params(browser) == {}

    # In stock only: products 3 and 6 go.
    _toggle(browser, "In stock only")
    wait.until(lambda d: _shown(d) == ["2", "1", "4", "5"])
    assert _count_line(browser) == "4 products match the filters"
    assert _params(browser) == {"in_stock": ["yes"]}

    # Brand, one of the catalogue's own columns, is a filter like the standard six.
    _choose(browser, "Brand", "Nike")
    _choose(browser, "Brand", "Mango")
    wait.until(lambda d: _shown(d) == ["2", "1"])
    assert _count_line(browser) == "2 products match the filters"
    assert _params(browser) == {"brand": ["Nike", "Mango"], "in_stock": ["yes"]}

    _pick_sort(browser, "Price: high to low")
    wait.until(lambda d: _shown(d) == ["1", "2"])
    assert _count_line(browser) == "2 products match the filters · by price, high to low"
    assert _params(browser) == {"brand": ["Nike", "Mango"], "in_stock": ["yes"], "sort": ["-price"]}
    expected = dict(_params(browser))

    def unchanged(query: str | None) -> None:
        _idle(browser)
        assert _params(browser) == ({**expected, "q": [query]} if query else expected)
        assert _shown(browser) == ["1", "2"]
        assert _chips(browser, "Brand") == ["Nike", "Mango"] and _toggled(browser, "In stock only")

    # 1. A query: a search now, sorted by price among its relevant results; the filters and the sort stay.
    box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Describe what you are looking for"]')
    box.send_keys("dress", Keys.ENTER)
    wait.until(lambda d: _params(d).get("q") == ["dress"])
    unchanged("dress")
    assert _selectbox_value(browser, "Sort by") == "Price: high to low"
    assert _count_line(browser) == ("The 2 most similar of 2 products that match the filters, by price, high to low: "
                                    "showing 2")
    # 2. Explore and back: the map page carries the same state in its own URL.
    _go(browser, "Explore")
    assert _params(browser) == expected
    assert _chips(browser, "Brand") == ["Nike", "Mango"] and _toggled(browser, "In stock only")
    _go(browser, "Search")
    wait.until(lambda d: _shown(d) == ["1", "2"])
    unchanged("dress")
    # 3. Clearing the query browses again, in the same order.
    box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Describe what you are looking for"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE, Keys.ENTER)
    wait.until(lambda d: "q" not in _params(d))
    unchanged(None)
    assert _count_line(browser) == "2 products match the filters · by price, high to low"


def test_a_link_with_a_price_range_and_a_sort_lists_exactly_those_products_and_the_slider_narrows_it(shop_app,
                                                                                                     browser):
    from selenium.webdriver.common.keys import Keys

    wait = _wait(browser)
    browser.get(shop_app + "/?range.price=:50&sort=-price")
    # Up to 50, dearest first: 129.00 (4) is out, and so is 6, which has no price once a range is set.
    wait.until(lambda d: _shown(d) == ["1", "3", "2", "5"])
    assert _count_line(browser) == "4 products match the filters · by price, high to low"
    assert _selectbox_value(browser, "Sort by") == "Price: high to low"
    start, end = _slider_handle(browser, "start"), _slider_handle(browser, "end")
    assert (start.get_attribute("value"), end.get_attribute("value")) == ("15", "50")  # 1-unit steps from 15.50 down

    # Five steps up from 15: 20 to 50 leaves 49.90 and 35.00.
    _press(browser, _slider_handle(browser, "start"), Keys.ARROW_RIGHT, 5)
    wait.until(lambda d: _shown(d) == ["1", "3"])
    assert _params(browser) == {"range.price": ["20:50"], "sort": ["-price"]}
    # The end handle back to the top of the slider: no upper bound, so the 129.00 watch is back.
    _press(browser, _slider_handle(browser, "end"), Keys.END, 1)
    wait.until(lambda d: _shown(d) == ["4", "1", "3"])
    assert _params(browser) == {"range.price": ["20:"], "sort": ["-price"]}
    # Both handles at their ends: no range at all, and the product without a price is listed again (last).
    _press(browser, _slider_handle(browser, "start"), Keys.HOME, 1)
    wait.until(lambda d: _shown(d) == ["4", "1", "3", "2", "5", "6"])
    assert _params(browser) == {"sort": ["-price"]}
    assert _count_line(browser) == "6 products in the catalogue · by price, high to low · 1 without a price last"


def test_sorting_low_to_high_puts_the_product_without_a_price_last(shop_app, browser):
    wait = _wait(browser)
    browser.get(shop_app + "/?sort=price")
    wait.until(lambda d: _shown(d) == BY_PRICE)
    assert _count_line(browser) == "6 products in the catalogue · by price, low to high · 1 without a price last"


def test_screenshot_of_browsing_with_filters_a_price_range_and_a_sort(shop_app, browser, tmp_path):
    wait = _wait(browser)
    browser.get(shop_app + "/?in_stock=yes&range.price=:50&sort=-price")
    wait.until(lambda d: _shown(d) == ["1", "2", "5"])
    wait.until(lambda d: len(d.find_elements("css selector", '[data-testid="stMain"] [data-testid="stImage"] img'))
               == 3)
    _idle(browser)
    time.sleep(0.5)
    assert _count_line(browser) == "3 products match the filters · by price, high to low"
    assert _toggled(browser, "In stock only")
    assert (_slider_handle(browser, "start").get_attribute("value"), _slider_handle(browser, "end").get_attribute(
        "value")) == ("15", "50")
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "browse.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
