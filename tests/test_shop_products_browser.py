"""Real shop products end to end in a real browser (issue 21): the Shopify export of tests/helpers/shop_catalogues.py
indexed with the tiny random CLIP, `streamlit run` on it, headless Chromium. The product view shows every photo with
the red variant's photo marked and the variants table; search leaves drafts and archived products out until the
sidebar's toggle brings them back, each with its badge; an on-sale card shows the old price struck through. A
Google feed with photo URLs shows its additional photos from the indexer's cache and says why a dead one is not."""

from __future__ import annotations

import pytest

from tests.conftest import serve_app
from tests.helpers.browser import idle, params, result_titles, shot, toggle, toggled, visible_text, wait

TEE_PHOTOS = ["Photo 1 of 4 (main) · tee-front.jpg", "Photo 2 of 4 · tee-back.jpg",
              "Photo 3 of 4 · tee-sky.jpg\nVariant photo: TS-0042-SKY (Sky Blue / S)",
              "Photo 4 of 4 · tee-red.jpg\nVariant photo: TS-0042-RED (Red / M)"]
ACTIVE_BY_PRICE = ["Two-Tone Tee", "Leather Belt", "Wool Coat"]  # 20, 35, 120
ALL_BY_PRICE = ["Silk Scarf", "Two-Tone Tee", "Linen Shorts", "Leather Belt", "Wool Coat"]  # 15, 20, 30, 35, 120


@pytest.fixture
def shop(settings, tmp_path):
    """The Shopify export indexed as the CLI would (photos as local files beside the CSV)."""
    from tests.helpers.shop_catalogues import index_shopify_export

    index_shopify_export(settings, tmp_path / "shop")
    return settings


def _text(element) -> str:
    return element.text.replace("\u2060", "")


def _gallery(driver) -> list[str]:
    """The captions of the photos that are drawn and loaded, in page order (the gallery's; the main photo has none)."""
    return driver.execute_script("""
        return [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')]
          .filter(box => { const img = box.querySelector('img'); return img && img.complete && img.naturalWidth > 0; })
          .map(box => box.querySelector('[data-testid="stImageCaption"]'))
          .filter(c => c).map(c => c.innerText.replace(/\\u2060/g, '').trim());""")


def _tables(driver) -> list[list[list[str]]]:
    """Every st.table of the main area, as rows of cell texts (header row first)."""
    return [[[_text(c).strip() for c in row.find_elements("css selector", "th, td")]
             for row in table.find_elements("css selector", "tr")]
            for table in driver.find_elements("css selector", '[data-testid="stMain"] [data-testid="stTable"]')]


def _struck(driver) -> list[str]:
    """The struck-through prices on the page, in page order."""
    return [_text(d) for d in driver.find_elements("css selector", '[data-testid="stMain"] del')]


def test_a_shopify_product_view_shows_every_photo_the_variant_photos_and_the_variants(shop, browser, tmp_path):
    with serve_app(shop) as url:
        browser.get(f"{url}/product?id=sky-red-tee")
        wait(browser).until(lambda d: len(_gallery(d)) >= 4, message="the gallery's four photos did not load")
        idle(browser)
        assert _gallery(browser)[:4] == TEE_PHOTOS
        heading = browser.find_element("css selector", '[data-testid="stMain"] h2')
        assert _text(heading) == "Two-Tone Tee"
        assert _struck(browser)[:1] == ["25.00"]  # the price line: 25.00 struck, 20.00, 20% off
        variants = next(t for t in _tables(browser) if t and t[0][:1] == ["SKU"])
        assert variants == [["SKU", "Colour", "Size", "Other options", "Price", "Compare-at price", "Inventory",
                             "Photo"],
                            ["TS-0042-SKY", "Sky Blue", "S", "", "20.00", "25.00", "3", "Photo 3"],
                            ["TS-0042-RED", "Red", "M", "", "22.00", "30.00", "5", "Photo 4"]]
        assert "Traceback" not in visible_text(browser)
        # The README's picture: photo, facts, gallery and variants in one view (LENS_SCREENSHOT_DIR=docs keeps it).
        shot(browser, tmp_path, "product.png", height=1900)


def test_search_hides_drafts_until_the_toggle_shows_them_marked_and_sale_prices_are_struck(shop, browser):
    with serve_app(shop) as url:
        browser.get(f"{url}/?sort=price")
        wait(browser).until(lambda d: result_titles(d) == ACTIVE_BY_PRICE, message="the active products, by price")
        idle(browser)
        assert _struck(browser) == ["25.00", "50.00"]  # the tee and the belt; the coat's compare-at equals its price
        words = _text(browser.find_element("css selector", '[data-testid="stMain"]')).split()
        assert "Draft" not in words and "Archived" not in words and not toggled(browser, "Show drafts and archived")
        assert "2 draft or archived left out" in visible_text(browser)

        toggle(browser, "Show drafts and archived")
        wait(browser).until(lambda d: result_titles(d) == ALL_BY_PRICE, message="drafts and archived shown")
        assert params(browser).get("hidden") == ["1"]
        main = browser.find_element("css selector", '[data-testid="stMain"]')
        words = _text(main).split()
        assert words.count("Draft") == 1 and words.count("Archived") == 1
        # each badge sits in its own product's card, right above its title
        cards = browser.find_elements("css selector", '[data-testid="stMain"] [class*="st-key-card-"]')
        marked = {}
        for card in cards:
            text = _text(card)
            for title in ALL_BY_PRICE:
                if title in text:
                    marked[title] = [w for w in ("Draft", "Archived") if w in text.split()]
        assert marked == {"Silk Scarf": ["Archived"], "Two-Tone Tee": [], "Linen Shorts": ["Draft"],
                          "Leather Belt": [], "Wool Coat": []}

        toggle(browser, "On sale only")
        wait(browser).until(lambda d: result_titles(d) == ["Two-Tone Tee", "Leather Belt"], message="on sale only")
        assert params(browser).get("on_sale") == ["yes"] and _struck(browser) == ["25.00", "50.00"]
        assert "Traceback" not in visible_text(browser)


@pytest.fixture
def google_shop(settings, tmp_path, photo_server, monkeypatch):
    """The Google feed with its photos as URLs on the local photo server (bag-3.jpg answers 404), fetched into the
    data dir's photo cache while indexing, where the served app finds them (it fetches nothing itself)."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.ingest.fetch import ImageFetcher
    from core.models.embedder import load_embedder
    from tests.helpers import photo_server as served
    from tests.helpers.shop_catalogues import google_feed, photos

    monkeypatch.setattr(served, "PHOTOS", {**served.PHOTOS, **photos()})
    feed = google_feed(tmp_path / "feed", photo_url=lambda name: f"{photo_server.url}/{name}")
    store = EdgeStore(settings.data_dir, settings.collection)
    with ImageFetcher(settings.data_dir / "image-cache", allow_private=True) as fetcher:
        index_catalog(feed, None, load_embedder(settings.model, "cpu"), store, fetcher=fetcher)
    store.close()
    return settings


def test_a_google_feeds_additional_photos_show_and_its_sale_price_is_struck(google_shop, browser):
    with serve_app(google_shop) as url:
        browser.get(f"{url}/product?id=G-BAG")
        wait(browser).until(lambda d: len(_gallery(d)) >= 9, message="the bag's nine live photos did not load")
        idle(browser)
        assert _gallery(browser)[:3] == ["Photo 1 of 10 (main) · bag.jpg", "Photo 2 of 10 · bag-1.jpg",
                                         "Photo 3 of 10 · bag-2.jpg"]
        assert _gallery(browser)[3:9] == [f"Photo {n} of 10 · bag-{n - 1}.jpg" for n in range(5, 11)]
        text = visible_text(browser)
        assert "Photo 4 of 10 · bag-3.jpg" in text and "Not shown: photo URL failed: HTTP 404" in text
        price = browser.find_element("css selector", '[data-testid="stMain"] h3')
        assert _text(price) == "80.00 USD" and not price.find_elements("css selector", "del")  # sale = price

        browser.get(f"{url}/?sort=price")
        wait(browser).until(lambda d: len(result_titles(d)) == 4, message="the feed's four products")
        idle(browser)
        assert result_titles(browser) == ["Sky Cap", "Wrap Dress", "Wrap Dress", "Canvas Bag"]  # 12, 40, 50, 80
        assert _struck(browser) == ["50.00"]  # the red dress: 50.00 struck, 40.00
        assert "Show drafts and archived" not in visible_text(browser)  # a feed without status: nothing to show
        toggle(browser, "On sale only")
        wait(browser).until(lambda d: result_titles(d) == ["Wrap Dress"], message="on sale only")
        assert params(browser).get("on_sale") == ["yes"]
