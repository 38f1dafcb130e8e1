"""A real browser: the app asks nothing of the internet (a machine without it shows the whole page, favicon too)."""

from __future__ import annotations

from urllib.parse import urlparse



def test_the_favicon_is_served_by_the_app_itself(served_app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served_app)
    icons = WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, 'link[rel~="icon"][href*="media"], link[rel~="icon"][href^="data:"]')
        or False)
    for icon in browser.find_elements(By.CSS_SELECTOR, 'link[rel~="icon"]'):
        href = icon.get_attribute("href")
        assert href.startswith("data:") or urlparse(href).netloc == urlparse(served_app).netloc, href
    assert icons
