"""The Search page's words and meaning (issue 22), with AppTest: the Options choice of how the text is matched
reaches the search and travels in the link; a SKU typed in the box puts its product first; the words a result
matched are highlighted in its title, and a hostile title stays plain text around them."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PRODUCTS, index_into, write_catalog
from tests.helpers.apptest import result_ids, shown, start, url

# A title made to break out: Markdown links, raw HTML, a Streamlit directive left open, a closing bracket, an
# attribute block after a word, an autolink; it holds the words "red" and "dress" to highlight among them.
HOSTILE = "] [x](javascript:alert(1)) <b>Red</b> :red[Dress]{background=url(x)} **bold** https://evil.example"
SKUS = {"1": "TS-0042-RED", "2": "NK 0007/blue", "3": "BATA-3", "4": "FOS-41", "5": "PU.MA-5", "6": "RD-6", "7": "HX-7"}
HIGHLIGHT = ":yellow-background[{}]"  # the card's highlight, as Streamlit Markdown


@pytest.fixture
def sku_shop(app_settings, tmp_path):
    """The six products and a seventh with the hostile title, each with its own SKU, indexed the real way."""
    rows = [*PRODUCTS, ("7", "Women", "Apparel", "Dress", "Dresses", "Red", "Party", HOSTILE)]
    index_into(app_settings, write_catalog(tmp_path / "skus", rows, extra_header=["SKU"],
                                           extra_values={pid: [sku] for pid, sku in SKUS.items()}))
    return app_settings


@pytest.fixture
def requests_made(monkeypatch):
    """Every SearchRequest the page hands to core.search.query.search, in order (the search still runs)."""
    import core.search.query

    made, real = [], core.search.query.search

    def recording(store, request, *args, **kwargs):
        made.append(request)
        return real(store, request, *args, **kwargs)

    monkeypatch.setattr(core.search.query, "search", recording)
    return made


def titles(at) -> dict[str, str]:
    """Each result card's title Markdown, by product id (cards and titles come in the same order)."""
    cards = [m.value for m in at.markdown if m.value.startswith("**")]
    return dict(zip(result_ids(at), cards))


def reasons(at) -> list[str]:
    """The reason line under each card's title, as the merchandiser reads it."""
    icon = ":material/manage_search: "
    return [shown(c.value.removeprefix(icon)) for c in at.caption if c.value.startswith(icon)]


# ---- the choice of how the text is matched ----------------------------------------------------------------

@pytest.mark.parametrize("choice", ["keywords", "meaning", "both"])
def test_the_match_choice_reaches_the_search_and_the_link(indexed, requests_made, choice):
    at = start(q="red dress", match="meaning" if choice == "both" else "both")
    at.radio(key="match").set_value(choice).run()
    assert not at.exception
    assert requests_made[-1].match == choice and requests_made[-1].text == "red dress"
    assert url(at, "match") == ([] if choice == "both" else [choice])  # the default stays out of the link


def test_words_and_meaning_is_the_default_and_says_so(indexed, requests_made):
    at = start(q="red dress")
    assert at.radio(key="match").value == "both"
    assert at.radio(key="match").options == [
        "Words and meaning", "Words only", "Meaning only"]
    assert requests_made[-1].match == "both" and url(at, "match") == []


@pytest.mark.parametrize("raw, read", [("keywords", "keywords"), ("meaning", "meaning"), ("both", "both"),
                                       ("KEYWORDS", "both"), ("<script>", "both"), ("", "both")])
def test_a_link_sets_the_match_choice_and_an_unknown_one_is_the_default(indexed, requests_made, raw, read):
    at = start(q="dress", match=raw)
    assert not at.exception
    assert at.radio(key="match").value == read and requests_made[-1].match == read
    assert url(at, "match") == ([] if read == "both" else [read])


def test_the_match_choice_survives_a_photo_search_and_a_page_change(indexed, requests_made):
    at = start(q="dress")
    at.radio(key="match").set_value("keywords").run()
    at.segmented_control(key="mode").set_value("image").run()
    assert not at.exception and not [r for r in at.radio if r.key == "match"]  # a photo has no words to match
    assert url(at, "match") == ["keywords"]  # kept in the link, for the text that comes back
    at.segmented_control(key="mode").set_value("text").run()
    assert at.radio(key="match").value == "keywords"
    at.switch_page("pages/catalog.py").run()
    at.switch_page("pages/search.py").run()
    assert not at.exception
    assert at.radio(key="match").value == "keywords" and requests_made[-1].match == "keywords"
    assert url(at, "match") == ["keywords"]


def test_the_link_form_of_the_match_choice():
    from core.curation.urlstate import SearchState, build_request, filter_param

    for raw, read in (("keywords", "keywords"), ("meaning", "meaning"), ("both", "both"), ("Keywords", "both"),
                      ("x" * 10_000, "both")):
        state = SearchState.from_params({"q": ["levis"], "match": [raw, "meaning"]})  # the first value counts
        assert state.match == read and build_request(state).match == read
        assert state.to_params().get("match") == (None if read == "both" else read)
    photo = SearchState.from_params({"mode": ["hybrid"], "q": ["levis"], "like": ["1"], "match": ["keywords"]})
    assert photo.to_params()["match"] == "keywords" and build_request(photo).match == "both"  # kept, not used
    assert filter_param("match") == "filter.match"  # a catalogue field named "match" stays a filter in a link


# ---- what the cards show ---------------------------------------------------------------------------------------

def test_a_sku_typed_in_the_box_puts_its_product_first(sku_shop):
    at = start()
    for pid, sku in SKUS.items():
        at.text_input(key="q").input(sku).run()
        assert not at.exception
        assert result_ids(at)[0] == pid, (sku, result_ids(at))
        assert reasons(at)[0].startswith("SKU match · "), reasons(at)  # found by the lookup, and says so


def test_the_words_a_result_matched_are_highlighted_in_its_title(indexed):
    at = start(q="red dresses")
    assert result_ids(at)[0] == "1"  # the one product holding both words comes first
    cards = titles(at)
    assert cards["1"] == f"**Mango Women {HIGHLIGHT.format('Red')} {HIGHLIGHT.format('Dress')}**"
    assert cards["2"] == "**Nike Men Blue T\\-shirt**"  # neither word: nothing highlighted
    assert re.fullmatch(r"matched: red, dress · similarity -?\d\.\d\d", reasons(at)[0]), reasons(at)
    # The similarity is said once: in the reason line, not again in the score line of the same card.
    assert "rank 1 · Red · Women · Dresses · Party · #1" in [shown(c.value) for c in at.caption]


def test_the_count_line_says_how_the_list_was_matched(indexed):
    at = start(q="women red dresses")
    count = "Showing the 6 best matches by words, then meaning, of 6 products in the catalogue"
    assert count in [m.value for m in at.markdown]
    at.radio(key="match").set_value("keywords").run()
    assert result_ids(at) == ["1", "3"]  # the two products holding a query word; nothing by meaning
    assert "All 2 products holding a query word, of 6 products in the catalogue" in [m.value for m in at.markdown]
    at.text_input(key="q").input("velvet").run()
    assert result_ids(at) == []
    assert [w.value for w in at.warning] == [
        "No product holds a query word. Loosen the filters, or match by words and meaning."]
    at.radio(key="match").set_value("meaning").run()
    assert len(result_ids(at)) == 6
    assert "Showing the 6 most similar, of 6 products in the catalogue" in [m.value for m in at.markdown]


def test_words_only_highlights_and_meaning_only_does_not(indexed):
    at = start(q="red dresses", match="keywords")
    assert titles(at)["1"] == f"**Mango Women {HIGHLIGHT.format('Red')} {HIGHLIGHT.format('Dress')}**"
    at.radio(key="match").set_value("meaning").run()
    assert titles(at)["1"] == "**Mango Women Red Dress**" and reasons(at) == []


def test_a_hostile_title_renders_as_plain_text_around_its_highlighted_words(sku_shop):
    at = start(q="red dress", match="keywords")
    card = titles(at)["7"]
    words = {w: HIGHLIGHT.format(w) for w in ("Red", "red", "Dress")}
    assert card == ("**\\] \\[x\\]\\(javascript\\:alert\\(1\\)\\) \\<b\\>" + words["Red"] + "\\<\\/b\\> \\:"
                    + words["red"] + "\\[" + words["Dress"] + "\\]\\{background\\=url\\(x\\)\\} \\*\\*bold\\*\\* "
                    "https\\:\u2060\\/\\/evil\\.example**")
    # Without the highlight directives, the title reads exactly as the catalogue wrote it.
    plain = card[2:-2]
    for word, marked in words.items():
        plain = plain.replace(marked, word)
    assert shown(plain) == HOSTILE


def notes(at) -> list[str]:
    return [shown(c.value.removeprefix(":material/info: ")) for c in at.caption if c.value.startswith(":material/info:")]


def test_a_query_with_no_words_to_match_is_searched_by_meaning_and_says_so(indexed):
    at = start(q="the of ??")
    assert not at.exception and len(result_ids(at)) == 6
    assert notes(at) == ["No words to match in the query (only punctuation or stop words): searched by meaning."]


def test_words_only_with_no_words_to_match_says_why_and_lists_nothing(indexed):
    at = start(q="the of ??", match="keywords")
    assert not at.exception and result_ids(at) == []
    said = ("a words-only search needs a word to match, and this query has only punctuation or stop words: search by "
            "meaning instead")
    assert [shown(w.value) for w in at.warning] == [said]


def test_an_incomplete_keyword_index_is_said_above_the_results(indexed):
    from core.index.store import EdgeStore

    store = EdgeStore(indexed.data_dir, indexed.collection)
    store.update_meta(keywords_complete=False)  # as an index run leaves it when a product's words are missing
    store.close()
    at = start(q="red dress")
    assert not at.exception and result_ids(at)[0] == "1"
    said = ("The keyword index is incomplete: run `python -m core index --catalog <csv>` again to add the missing "
            "words (no photo is embedded again). Until then, keyword matches miss those products.")
    assert notes(at) == [said]
    at.radio(key="match").set_value("meaning").run()
    assert notes(at) == []  # a search by meaning alone misses nothing
