"""A real browser on the Catalog page: upload a generic CSV and a zip of its photos, correct the mapping, index,
read the report, find the products; a zip bomb and a zip with a '../' entry say so and write nothing outside."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.conftest import serve_app
from tests.helpers.browser import (
    go as _go, idle as _idle, result_titles as _result_titles, type_option, visible_text as _visible_text,
    wait as _wait,
)
from tests.helpers.catalog_files import UNKNOWN, UNKNOWN_ROWS, csv_bytes, everything, photo, photos_zip
from tests.helpers.catalog_upload import (
    start_indexing as _index, metrics as _metrics, open_upload_tab as _open_upload_tab,
    photos_from_a_zip as _photos_from_a_zip, upload as _upload
)


def _pick(driver, key: str, value: str) -> None:
    """Choose value in the selectbox with this key, and wait for the page to show it chosen."""
    type_option(driver, driver.find_element("css selector", f".st-key-{key} input"), value, f"for {key}")
    _wait(driver).until(lambda d: d.find_element("css selector", f".st-key-{key} input").get_attribute("value") == value)
    _idle(driver)


def _value(driver, key: str) -> str:
    return driver.find_element("css selector", f".st-key-{key} input").get_attribute("value")


def test_upload_a_generic_csv_and_its_photos_correct_the_mapping_index_and_find_them(settings, browser, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "items.csv").write_bytes(csv_bytes(UNKNOWN, UNKNOWN_ROWS))
    (files / "photos.zip").write_bytes(photos_zip({f"{r[0].lower()}.jpg": photo(r[0]) for r in UNKNOWN_ROWS}))
    with serve_app(settings) as url:
        _open_upload_tab(browser, url)
        _upload(browser, "idx_upload", files / "items.csv")
        _photos_from_a_zip(browser)
        _upload(browser, "idx_photos", files / "photos.zip")
        # The step shows what it detected: a generic file whose id column it cannot guess.
        wait = _wait(browser)
        wait.until(lambda d: "catalogue has no product id column" in _visible_text(d))
        assert (_value(browser, "columns_format"), _value(browser, "columns_role_product_id"),
                _value(browser, "columns_role_title"), _value(browser, "columns_role_image"),
                _value(browser, "columns_role_price")) == ("auto (detected: generic)", "(none)", "Product Name", "Picture",
                                                       "(none)")
        preview = browser.find_element("css selector", ".st-key-mapping_step [data-testid='stDataFrame']")
        assert preview.is_displayed()

        _pick(browser, "columns_role_product_id", "Item Code")
        _pick(browser, "columns_role_price", "Cost")
        _pick(browser, "columns_role_colour", "Colour Name")
        wait.until(lambda d: "catalogue has no product id column" not in _visible_text(d))
        assert _value(browser, "columns_role_image") == "Picture"
        _screenshot(browser, tmp_path)

        _index(browser)
        wait.until(lambda d: "Indexed" in _metrics(d))
        metrics = _metrics(browser)
        assert (metrics["Rows"], metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "3", "0", "0")
        text = _visible_text(browser)
        assert ("Format generic · Columns product_id = Item Code · price = Cost · colour = Colour Name · "
                "title = Product Name · image = Picture") in text
        # a priced catalogue has the on_sale flag and the discount number (issue 21)
        assert ("Filters gender, category, sub_category, product_type, colour, usage, on_sale · Numbers price, "
                "discount · Text title") in text
        assert "Photos 3 photos extracted from photos.zip" in text
        assert "skipped" not in text and not browser.find_elements("css selector", '[data-testid="stException"]')
        assert everything(settings.data_dir / "uploads") == {"items.csv", "items-photos", "items-photos/d1.jpg",
                                                             "items-photos/t2.jpg", "items-photos/s3.jpg"}

        # The products are there: browsed with no query, and one colour's filter finds exactly its product.
        _go(browser, "Search")
        wait.until(lambda d: sorted(_result_titles(d)) == ["Blue cotton tee", "Brown leather sandal",
                                                           "Red summer dress"])
        photos = browser.find_elements("css selector", '[data-testid="stMain"] [data-testid="stImage"] img')
        assert len(photos) == 3
        browser.get(url + "/?colour=Red")
        wait.until(lambda d: _result_titles(d) == ["Red summer dress"])


def test_a_zip_bomb_then_a_zip_with_a_parent_entry_say_so_and_write_nothing_outside(settings, browser, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "items.csv").write_bytes(csv_bytes(["SKU", "Name", "Photo"], [[r[0], r[1], r[4]] for r in UNKNOWN_ROWS]))
    (files / "bomb.zip").write_bytes(photos_zip({"d1.jpg": photo("D1"), "deep/bomb.jpg": bytes(30_000_000)}))
    (files / "evil.zip").write_bytes(photos_zip({"d1.jpg": photo("D1"), "t2.jpg": photo("T2"), "s3.jpg": photo("S3"),
                                                 "../evil.jpg": photo("D1"), "../../evil.jpg": photo("D1")}))
    assert (files / "bomb.zip").stat().st_size < 200_000
    before = everything(tmp_path)
    with serve_app(settings) as url:
        _open_upload_tab(browser, url)
        _upload(browser, "idx_upload", files / "items.csv")
        _photos_from_a_zip(browser)
        _upload(browser, "idx_photos", files / "bomb.zip")
        assert _value(browser, "columns_role_product_id") == "SKU"
        _index(browser)
        wait = _wait(browser)
        wait.until(lambda d: "was not imported" in _visible_text(d))
        errors = [e.text.replace("\u2060", "") for e in browser.find_elements("css selector", '[data-testid="stAlertContentError"]')]
        assert errors == ["The photos zip bomb.zip was not imported: deep/bomb.jpg expands more than 100 times "
                          "(a zip bomb?): nothing was imported"]
        assert _metrics(browser) == {}  # no report: nothing was indexed
        assert everything(settings.data_dir / "uploads") == {"items.csv"}

        _upload(browser, "idx_photos", files / "evil.zip")
        _index(browser)
        wait.until(lambda d: "Indexed" in _metrics(d))
        assert (_metrics(browser)["Indexed"], _metrics(browser)["Text only"]) == ("3", "0")
        warnings = [e.text for e in browser.find_elements("css selector", '[data-testid="stAlertContentWarning"]')]
        assert warnings == ["2 files in the zip were skipped: only photos (.jpg, .jpeg, .png, .webp, .gif) inside the "
                            "zip's own folder are imported."]
        listed = [c.text for c in browser.find_elements("css selector", '[data-testid="stMain"] [data-testid="stCode"] code')]
        assert listed == ["../evil.jpg: path leaves the folder (..)\n../../evil.jpg: path leaves the folder (..)"]
        assert everything(settings.data_dir / "uploads") == {"items.csv", "items-photos", "items-photos/d1.jpg",
                                                             "items-photos/t2.jpg", "items-photos/s3.jpg"}
        assert not any(p.name == "evil.jpg" for p in tmp_path.rglob("*"))
        outside = everything(tmp_path) - before
        assert {p for p in outside if p.split("/")[0] != "data"} == set()  # only the data dir changed


def _screenshot(driver, tmp_path: Path) -> None:
    """The mapping step as the user sees it after the corrections (docs/mapping.png)."""
    shot = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / "mapping.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    driver.set_window_size(1400, 1600)
    driver.execute_script("document.activeElement && document.activeElement.blur()")  # no focus ring in the shot
    _idle(driver)
    heading = driver.find_element("xpath", "//h3[normalize-space(.)='Index a catalogue']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", heading)
    time.sleep(0.5)
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    driver.set_window_size(size["width"], size["height"])
    _idle(driver)
