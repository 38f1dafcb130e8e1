"""The Search page's words in a real browser (issue 22): the words a result matched are highlighted on its card, a
hostile title stays text (no link, no markup) around its highlights, and "Words only" survives a reload of the
page's link."""

from __future__ import annotations

import pytest

from tests.conftest import PRODUCTS, serve_app, write_catalog
from tests.helpers.browser import idle, params, shot, visible_text, wait

HOSTILE = "] [x](javascript:alert(1)) <b>Red</b> :red[Dress]{background=url(x)} **bold** https://evil.example"
TITLES = '[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong'
MARKED = "span.stMarkdownColoredBackground"


def highlights(driver) -> dict[str, list[str]]:
    """Each card's title as shown, with the exact text of every highlighted piece in it, in order."""
    out = {}
    for title in driver.find_elements("css selector", TITLES):
        out[title.text.replace("\u2060", "")] = [m.text for m in title.find_elements("css selector", MARKED)]
    return out


def reasons(driver) -> list[str]:
    """The reason line under each card's title (the captions that start with the search icon), as it reads."""
    captions = driver.find_elements("css selector", '[data-testid="stMain"] [data-testid="stCaptionContainer"]')
    return [c.text.replace("\u2060", "").removeprefix("manage_search").strip() for c in captions
            if c.find_elements("css selector", 'span[aria-label="manage_search icon"]')]


def match_choice(driver) -> str:
    """The option of "Match the text by" that is checked, as its label reads."""
    chosen = driver.find_elements("css selector", '[data-testid="stRadioOption"][data-selected="true"]')
    return chosen[0].text.strip() if chosen else ""


def open_options(driver) -> None:
    summary = driver.find_element("xpath", '//*[@data-testid="stExpander"]//summary[.//p[text()="Options"]]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    wait(driver).until(lambda d: d.find_elements("css selector", '[data-testid="stRadio"] label'))


def test_matched_words_are_highlighted_and_words_only_survives_a_reload(served_app, browser, tmp_path):
    browser.get(served_app + "/?q=women+red+dresses")
    wait(browser).until(lambda d: d.find_elements("css selector", f"{TITLES} {MARKED}"))
    idle(browser)
    cards = highlights(browser)
    assert len(cards) == 6
    assert cards.pop("Mango Women Red Dress") == ["Women", "Red", "Dress"]
    assert cards.pop("Bata Women Brown Sandal") == ["Women"]
    assert all(marked == [] for marked in cards.values()), cards  # the other four hold no query word
    assert next(iter(highlights(browser))) == "Mango Women Red Dress"  # every word it holds: first
    assert reasons(browser)[0].startswith("matched: women, red, dress · similarity ")
    open_options(browser)
    wait(browser).until(lambda d: match_choice(d) == "Words and meaning", message="the default is not checked")
    shot(browser, tmp_path, "search-words.png", height=1400)
    label = browser.find_element("xpath", '//*[@data-testid="stRadioOption"][.//p[text()="Words only"]]')
    label.click()
    wait(browser).until(lambda d: params(d).get("match") == ["keywords"])
    idle(browser)
    # Words only: the two products holding a query word, nothing CLIP guessed.
    assert highlights(browser) == {"Mango Women Red Dress": ["Women", "Red", "Dress"],
                                   "Bata Women Brown Sandal": ["Women"]}

    browser.get(browser.current_url)  # the page's link, reloaded: a new session reads the choice from it
    wait(browser).until(lambda d: d.find_elements("css selector", f"{TITLES} {MARKED}"))
    idle(browser)
    assert params(browser).get("match") == ["keywords"] and params(browser).get("q") == ["women red dresses"]
    open_options(browser)
    wait(browser).until(lambda d: match_choice(d) == "Words only", message="the link's choice is not checked")
    assert list(highlights(browser)) == ["Mango Women Red Dress", "Bata Women Brown Sandal"]


@pytest.fixture
def hostile_app(settings, tmp_path):
    """The six products and a seventh whose title tries every way out of the text, served."""
    from core.index.indexer import index_catalog
    from core.index.store import EdgeStore
    from core.models.embedder import load_embedder

    rows = [*PRODUCTS, ("7", "Women", "Apparel", "Dress", "Dresses", "Red", "Party", HOSTILE)]
    catalog = write_catalog(tmp_path / "hostile", rows)
    store = EdgeStore(settings.data_dir, settings.collection)
    index_catalog(catalog, catalog.parent / "images", load_embedder(settings.model, "cpu"), store)
    store.close()
    with serve_app(settings) as url:
        yield url


def test_a_hostile_title_stays_text_around_its_highlighted_words(hostile_app, browser):
    browser.get(hostile_app + "/?q=red+dress&match=keywords")
    wait(browser).until(lambda d: d.find_elements("css selector", f"{TITLES} {MARKED}"))
    idle(browser)
    assert highlights(browser) == {"Mango Women Red Dress": ["Red", "Dress"], HOSTILE: ["Red", "red", "Dress"]}
    main = browser.find_element("css selector", '[data-testid="stMain"]')
    links = [a.get_attribute("href") or "" for a in main.find_elements("css selector", "a")]
    assert links and not [h for h in links if "javascript" in h.lower() or "evil" in h], links
    title = next(t for t in main.find_elements("css selector", TITLES) if t.text.replace("\u2060", "") == HOSTILE)
    assert not title.find_elements("css selector", "*:not(span.stMarkdownColoredBackground)")  # no tag but ours
    assert not main.find_elements("css selector", "span.stMarkdownColoredText")  # `:red[` stayed text
    assert HOSTILE in visible_text(browser)
