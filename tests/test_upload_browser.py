"""A real browser on the Catalog page (issue 19: 6, 7): a Merchant Center .tsv feed is accepted and indexed, and a
photos zip the browser refuses (over the server's cap) is a visible error that stops the run, the index unchanged."""

from __future__ import annotations

import os
import zipfile

from tests.conftest import serve_app, write_catalog
from tests.helpers.browser import visible_text as _visible_text, wait as _wait
from tests.helpers.catalog_files import everything, photo
from tests.helpers.catalog_upload import (
    start_indexing as _index, metrics as _metrics, open_upload_tab as _open_upload_tab,
    photos_from_a_zip as _photos_from_a_zip, upload as _upload
)

# A Google Merchant Center feed, tab-separated as Merchant Center exports it; its photos are files on the server.
FEED_HEADER = ["id", "title", "description", "link", "image_link", "availability", "price", "brand", "color",
               "gender", "product_type"]
FEED_ROWS = [["D1", "Red summer dress", "Light", "https://shop.example/d1", "d1.jpg", "in_stock", "49.90 EUR", "Acme",
              "Red", "female", "Apparel > Women > Dresses"],
             ["T2", "Blue cotton tee", "Soft", "https://shop.example/t2", "t2.jpg", "in_stock", "19.99 EUR", "Acme",
              "Blue", "male", "Apparel > Men > Tshirts"],
             ["S3", "Brown leather sandal", "Flat", "https://shop.example/s3", "s3.jpg", "out_of_stock", "35.00 EUR",
              "Loom", "Brown", "female", "Footwear > Women > Sandals"]]


def _errors(driver) -> list[str]:
    return [e.text.replace("\u2060", "") for e in driver.find_elements("css selector",
                                                                        '[data-testid="stAlertContentError"]')]


def test_a_merchant_center_tsv_feed_is_accepted_by_the_uploader_and_indexed(settings, browser, tmp_path):
    files = tmp_path / "files"
    (files / "photos").mkdir(parents=True)
    (files / "rival_feed.tsv").write_text("\n".join("\t".join(row) for row in [FEED_HEADER, *FEED_ROWS]) + "\n")
    for row in FEED_ROWS:
        (files / "photos" / row[4]).write_bytes(photo(row[0]))
    with serve_app(settings) as url:
        _open_upload_tab(browser, url)
        _upload(browser, "idx_upload", files / "rival_feed.tsv")
        wait = _wait(browser)
        wait.until(lambda d: "Columns of rival_feed.tsv" in _visible_text(d))  # taken, and read for the mapping
        assert "not allowed" not in _visible_text(browser)
        field = browser.find_element("css selector", ".st-key-idx_images input")
        field.send_keys(str(files / "photos"))
        _index(browser)  # the click also commits the typed path
        wait.until(lambda d: "Indexed" in _metrics(d))
        metrics = _metrics(browser)
        assert (metrics["Rows"], metrics["Indexed"], metrics["Text only"], metrics["Failed"]) == ("3", "3", "0", "0")
        assert "Format google · Columns" in _visible_text(browser) and _errors(browser) == []
        assert everything(settings.data_dir / "uploads") == {"rival_feed.tsv"}


def test_a_zip_the_browser_refuses_is_a_visible_error_and_nothing_is_indexed(indexed_settings, browser, tmp_path,
                                                                              monkeypatch):
    from core.index.store import EdgeStore

    files = tmp_path / "files"
    files.mkdir()
    write_catalog(files / "shop")
    with zipfile.ZipFile(files / "photos.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("1.jpg", os.urandom(1_500_000))  # over the 1 MB this server allows
    assert (files / "photos.zip").stat().st_size > 1024 * 1024
    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    before = (store.count(), store.meta())
    store.close()
    monkeypatch.setenv("STREAMLIT_SERVER_MAX_UPLOAD_SIZE", "1")
    with serve_app(indexed_settings) as url:
        _open_upload_tab(browser, url)
        _upload(browser, "idx_upload", files / "shop" / "catalog.csv")
        _photos_from_a_zip(browser)
        assert "at most 1 MB" in browser.find_element("css selector", ".st-key-idx_photos").text
        _upload(browser, "idx_photos", files / "photos.zip")  # chosen, and refused by the browser
        assert "File must be 1.0MB or smaller" in browser.find_element("css selector", ".st-key-idx_photos") \
            .get_attribute("textContent")
        _index(browser)
        wait = _wait(browser)
        wait.until(lambda d: _errors(d))
        assert _errors(browser) == [
            "No zip of photos arrived, so nothing was indexed. Choose the .zip above and wait until its name shows "
            "without an error: a file over 1 MB is refused by the browser. For a larger zip, give its path on this "
            "server (up to 2,000 MB), or unzip it there and give the folder."]
        assert "Rows" not in _metrics(browser) and not browser.find_elements("css selector", '[data-testid="stProgress"]')
    assert not (indexed_settings.data_dir / "uploads").exists()
    store = EdgeStore(indexed_settings.data_dir, indexed_settings.collection)
    try:
        assert (store.count(), store.meta()) == before
    finally:
        store.close()
