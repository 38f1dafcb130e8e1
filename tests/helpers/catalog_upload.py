"""The Catalog page's upload tab in a real browser: give it files, start indexing, read the metrics."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.browser import idle, wait


def upload(driver, key: str, path: Path) -> None:
    """Give a file to the uploader with this key, as a user picking it in the file dialog would."""
    field = driver.find_element("css selector", f".st-key-{key} input[type=file]")
    field.send_keys(str(path))
    name = path.name
    wait(driver).until(lambda d: name in [e.text for e in d.find_elements(
        "css selector", f'.st-key-{key} [data-testid="stFileChipName"]')])
    idle(driver)


def photos_from_a_zip(driver) -> None:
    """Choose "Upload a .zip" for the photos, and wait for its uploader to show."""
    option = driver.find_element("xpath", "//*[contains(@class, 'st-key-idx_photos_from')]//label"
                                          "[.//p[normalize-space(.)='Upload a .zip']]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", option)
    option.click()
    wait(driver).until(lambda d: d.find_elements("css selector", ".st-key-idx_photos input[type=file]"))
    idle(driver)


def open_upload_tab(driver, url: str) -> None:
    browser_tab = "//*[@role='tab'][.//p[normalize-space(text())='Upload a CSV']]"
    driver.get(url + "/catalog")
    wait(driver).until(lambda d: d.find_elements("xpath", browser_tab))
    idle(driver)
    driver.find_element("xpath", browser_tab).click()
    wait(driver).until(lambda d: d.find_element("css selector", ".st-key-idx_upload input[type=file]"))
    idle(driver)


def start_indexing(driver) -> None:
    button = driver.find_element("css selector", ".st-key-idx_go button")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    idle(driver)  # its quiet looks in a row also see a run that starts a moment after the click


def metrics(driver) -> dict[str, str]:
    out = {}
    for m in driver.find_elements("css selector", '[data-testid="stMetric"]'):
        label = m.find_element("css selector", '[data-testid="stMetricLabel"]').text
        out[label] = m.find_element("css selector", '[data-testid="stMetricValue"]').text
    return out
