"""Driving the served app in headless Chromium: waits on the page's own state, reading it as a user does, clicks."""

from __future__ import annotations

import os
from pathlib import Path


def visible_text(driver) -> str:
    """The page's text as a user reads it (safe_text's invisible word joiners dropped)."""
    return driver.find_element("tag name", "body").text.replace("\u2060", "")


def wait(driver, seconds: float = 60, poll: float = 0.5):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # Streamlit redraws elements while a page reruns: an element found a moment ago may be gone; look again.
    return WebDriverWait(driver, seconds, poll_frequency=poll, ignored_exceptions=(StaleElementReferenceException,))


QUIET_LOOKS = 5   # looks in a row, LOOK_EVERY apart, that must find the page idle (over 0.8 s, as before)
LOOK_EVERY = 0.2  # seconds


def script_state(driver) -> str:
    """What the app says of its script: "initial" (no run yet, or no app drawn yet), "running", "rerunRequested",
    "notRunning" once a run has ended, ... (Streamlit's own data-test-script-state attribute)."""
    return driver.execute_script("const app = document.querySelector('[data-testid=\"stApp\"]');"
                                 "return app ? app.getAttribute('data-test-script-state') : 'initial';")


def idle(driver, seconds: float = 60, looks: int = QUIET_LOOKS) -> None:
    """Wait until the page's script run has finished: the app has run at least once, says no run is under way,
    shows no "Running…" indicator, and is still so at `looks` looks in a row. Streamlit shows nothing for a
    rerun a click has asked for until the server starts it, so one idle look right after a click proves nothing;
    looks in a row over LOOK_EVERY x looks seconds see the run start, and any look that sees one starts the count
    again. A page with a polling fragment (run_every) reruns it every second or so: pass fewer looks there (2), or
    five in a row may never come on a loaded machine."""
    quiet_looks = [0]

    def settled(d) -> bool:
        running = d.execute_script("return !!document.querySelector('[data-testid=\"stStatusWidget\"] "
                                   "[data-testid=\"stStatusWidgetRunningIcon\"], "
                                   "[data-testid=\"stStatusWidgetStopButton\"]')")
        quiet = script_state(d) == "notRunning" and not running
        quiet_looks[0] = quiet_looks[0] + 1 if quiet else 0
        return quiet_looks[0] >= looks

    wait(driver, seconds, poll=LOOK_EVERY).until(settled, message="the page's script run did not finish")


def shot(driver, tmp_path, name: str, height: int = 1500, looks: int = QUIET_LOOKS) -> Path:
    """A screenshot `height` px tall, enough for the whole page (LENS_SCREENSHOT_DIR=docs keeps it for the
    README), taken once the page is idle (`looks` as idle's); the window goes back to 1400x1000 after."""
    path = Path(os.environ.get("LENS_SCREENSHOT_DIR", tmp_path)) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1400, height)
    idle(driver, looks=looks)
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    driver.set_window_size(1400, 1000)
    return path


def params(driver) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(driver.current_url).query)


def result_titles(driver) -> list[str]:
    cards = driver.find_elements("css selector", '[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong')
    return [c.text.replace("\u2060", "") for c in cards]


def chips(driver, label: str) -> list[str]:
    """The chosen values a sidebar multiselect shows, as the merchandiser reads them."""
    box = multiselect(driver, label)
    tags = box.find_elements("css selector", ".react-aria-ComboBox span[data-tag] > span[title]")
    return [t.get_attribute("textContent") for t in tags]


def multiselect(driver, label: str):
    for box in driver.find_elements("css selector", '[data-testid="stMultiSelect"]'):
        if box.find_element("css selector", '[data-testid="stWidgetLabel"]').text.strip() == label:
            return box
    raise AssertionError(f"no multiselect {label!r}")


def choose(driver, label: str, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = multiselect(driver, label).find_element("css selector", "input")
    type_option(driver, field, value, f"under {label!r}")
    field.send_keys(Keys.ESCAPE)


def type_option(driver, field, value: str, where: str) -> None:
    """Type value into a select's input and press Enter once it is the first option offered (Enter picks that)."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.click()
    field.send_keys(value)
    wait(driver).until(lambda d: [o.text.strip() for o in d.find_elements("css selector", '[role="option"]')][:1]
                       == [value], message=f"no option {value!r} offered {where}")
    field.send_keys(Keys.ENTER)
    idle(driver)


def go(driver, page: str) -> None:
    """Click a page in the sidebar navigation, as a user would (the session goes with it)."""
    links = [a for a in driver.find_elements("css selector", '[data-testid="stSidebarNav"] a')
             if a.text.strip().splitlines()[-1:] == [page]]
    links[0].click()
    wait(driver).until(lambda d: d.find_elements("tag name", "h1") and d.find_element("tag name", "h1").text == page)
    idle(driver)


def selectbox_value(driver, label: str) -> str:
    return driver.find_element("css selector", f'input[aria-label="{label}"]').get_attribute("value")


def click(driver, css: str) -> None:
    button = driver.find_element("css selector", css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def button(driver, label: str):
    return driver.find_element("xpath", f'//button[.//p[normalize-space(text())="{label}"]]')


def toggle(driver, label: str) -> None:
    box = driver.find_element("xpath", f'//*[@data-testid="stSidebar"]//label[.//p[normalize-space(text())="{label}"]]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()
    idle(driver)


def toggled(driver, label: str) -> bool:
    box = driver.find_element("xpath", f'//*[@data-testid="stSidebar"]//label[.//p[normalize-space(text())="{label}"]]'
                                       '//input')
    return box.is_selected()
