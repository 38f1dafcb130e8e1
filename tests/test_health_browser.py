"""The Health page in headless Chromium against `streamlit run` on the six-product index, checked for real: the
score, a category x kind cell clicked in the table (and the pickers it sets), that cell's products, and a product's
"View product" link landing on its product page (the address changes to /product?id=...); and the generated Shopify
export (one planted product per kind) as the README shows it. Screenshot: health.png (LENS_SCREENSHOT_DIR, else the
test's tmp folder).

The six products have no price and no description or brand column, so every one of them has a problem whatever the
tiny random model makes of their photos: the score is 0.0, and "No price" in Footwear is product 3 alone."""

from __future__ import annotations

import os

from tests.helpers.browser import idle, params, shot, type_option, visible_text, wait

HEADER_PX = 35  # Streamlit's dataframe: the header row's and each row's height
ROW_PX = 35


def _headings(driver) -> list[str]:
    return [h.text for h in driver.find_elements("css selector", '[data-testid="stMain"] h3')]


def _pick(driver, key: str, value: str) -> None:
    type_option(driver, driver.find_element("css selector", f".st-key-{key} input"), value, f"for {key}")


def _click_cell(driver, row: int, column: str) -> None:
    """Choose a cell of the category table as a user does on the grid: click the row's category name (the first
    column, always at the grid's left edge), then the arrow keys to the column (the grid's own accessible table
    gives the columns' order)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    grid = driver.find_element("css selector", '.st-key-health_table [data-testid="stDataFrameResizable"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    headers = [h.get_attribute("textContent").strip()
               for h in grid.find_elements("css selector", 'table[role="grid"] thead th')]
    size = grid.size
    ActionChains(driver).move_to_element_with_offset(
        grid, 20 - size["width"] // 2, HEADER_PX + ROW_PX * row + ROW_PX // 2 - size["height"] // 2).click().perform()
    idle(driver)
    for _ in range(headers.index(column)):
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
        idle(driver)


def test_the_score_a_clicked_cell_its_products_and_a_product_link(served_app, browser):
    wait_ = wait(browser, 180)
    browser.get(served_app + "/health")
    wait_.until(lambda d: "Health score" in visible_text(d))
    idle(browser)
    text = visible_text(browser)
    assert "0.0" in text and "0 of 6 products have no problem" in text
    _click_cell(browser, 3, "No price")  # rows: All categories, Apparel (4), then Accessories and Footwear (1 each)
    wait_.until(lambda d: _headings(d)[-1:] == ["No price in Footwear (1)"])
    assert browser.find_element("css selector", ".st-key-health_category input").get_attribute("value") == "Footwear"
    rows = browser.find_elements("css selector", '[class*="st-key-health-row-"]')
    assert [r.find_element("css selector", "strong").text for r in rows] == ["Bata Women Brown Sandal"]

    _pick(browser, "health_category", "Apparel")  # the pickers choose a cell too
    wait_.until(lambda d: _headings(d)[-1:] == ["No price in Apparel (4)"])
    rows = browser.find_elements("css selector", '[class*="st-key-health-row-"]')
    assert sorted(r.find_element("css selector", "strong").text for r in rows) == [
        "Mango Women Red Dress", "Nike Men Blue T-shirt", "Puma Girls Yellow Shorts", "Roadster Men White Shirt"]

    _pick(browser, "health_category", "Footwear")
    wait_.until(lambda d: _headings(d)[-1:] == ["No price in Footwear (1)"])
    link = browser.find_element("css selector", '.st-key-health-row-0 [data-testid="stPageLink"] a')
    assert link.text.splitlines()[-1] == "View product"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    wait_.until(lambda d: d.find_elements("tag name", "h1") and d.find_element("tag name", "h1").text == "Product")
    idle(browser)
    assert browser.current_url.split("?")[0].endswith("/product") and params(browser) == {"id": ["3"]}
    assert "Bata Women Brown Sandal" in visible_text(browser)


def test_the_planted_shop_shows_every_kind_and_is_the_readme_screenshot(settings, browser, tmp_path, capsys,
                                                                        monkeypatch):
    """The export indexed and checked through the CLI; the served page's first render is that cached report. The
    tiny random CLIP puts every drawn photo near every other, so both this process and the server check duplicates
    at the tiny model's threshold (the server through a sitecustomize that sets it at start)."""
    import core.insights.health
    from app.health_panel import kind_name
    from core.cli import main
    from tests.conftest import ROOT, serve_app
    from tests.helpers.health_catalog import TINY_MODEL_DUPLICATE_THRESHOLD, honest_ids, planted_shop, product_count

    monkeypatch.setattr(core.insights.health, "DUPLICATE_THRESHOLD", TINY_MODEL_DUPLICATE_THRESHOLD)
    csv_path, images, expected = planted_shop(tmp_path / "shop")
    assert main(["index", "--catalog", str(csv_path), "--images", str(images), "--no-health"]) == 0
    assert main(["health", "--json"]) == 0
    capsys.readouterr()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import core.insights.health\n"
                                           f"core.insights.health.DUPLICATE_THRESHOLD = {TINY_MODEL_DUPLICATE_THRESHOLD!r}\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT)]))
    with serve_app(settings) as url:
        wait_ = wait(browser, 180)
        browser.get(url + "/health")
        wait_.until(lambda d: "Health score" in visible_text(d))
        idle(browser)
        text = visible_text(browser)
        assert f"{len(honest_ids())} of {product_count()} products have no problem" in text
        assert f"{100 * len(honest_ids()) / product_count():.1f}" in text
        assert _headings(browser)[-1] == "Duplicate photo (2)"  # the largest kind is chosen first
        rows = browser.find_elements("css selector", '[class*="st-key-health-row-"]')
        assert sorted(r.find_element("css selector", "strong").text for r in rows) == ["Purple Pique Polo",
                                                                                        "Purple Polo Shirt"]
        grid = browser.find_elements("css selector", '[data-testid="stDataFrame"]')[0]  # the kinds, then the categories
        listed = [c.get_attribute("textContent") for c in grid.find_elements("css selector", 'td[aria-colindex="1"]')]
        assert sorted(listed) == sorted(kind_name(k) for k in expected)
        shot(browser, tmp_path, "health.png", 1900)
