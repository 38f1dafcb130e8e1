"""The Search log page (issue 22) on the six-product index: a hand-made search-terms export whose verdicts are known
(a title word is found, a query meant as product 3's photo is 'words', nonsense is a gap), the lists and counts it
shows, the reader's errors, a UTF-16 export, hostile queries kept inert, the CSV exports and the cache.

Meaning is made by hand: each product's stored photo vector is replaced by its own axis (product i: e_i), and CLIP
by a fake with the tiny model's name and size that encodes a query listed in MEANS as that product's axis
(similarity 1 to it, 0 to the rest) and any other as ELSEWHERE: mostly an axis no product has, with a little of
product 1's (similarity NEAR to product 1, 0 to the rest). Each verdict then follows from the threshold alone."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from core.common.safe_text import md
from tests.conftest import write_catalog
from tests.helpers.apptest import shown, start

MEANS = {"flip flop": "3"}  # no product holds both words, but it "looks like" product 3, the sandal
NEAR = 0.2  # a gap query's similarity to product 1, its closest; below the default threshold (0.25)
HOSTILE = ['=HYPERLINK("http://x")', "[x](javascript:1)", "<b>", "shirt&like=6"]
LOG = [("Search term", "Searches"), ("dress", "40"), ("flip flop", "30"), ("teal lamp", "50"), ("men", "25"),
       (HOSTILE[0], "7"), (HOSTILE[1], "5"), (HOSTILE[2], "3"), (HOSTILE[3], "2"), ("Dress", "4")]
GAPS = [("teal lamp", 50), (HOSTILE[0], 7), (HOSTILE[1], 5), (HOSTILE[2], 3), (HOSTILE[3], 2)]
THRESHOLD = 0.5


def axis(dim: int, i: int) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[i] = 1.0
    return vector


class MeaningOf:
    """The tiny model's name and size, with texts encoded as hand-made vectors (see the module's note)."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim
        elsewhere = axis(dim, dim - 1) * np.sqrt(1 - NEAR ** 2) + axis(dim, 1) * NEAR
        self.vectors = {"elsewhere": elsewhere, **{q: axis(dim, int(p)) for q, p in MEANS.items()}}
        self.calls = 0

    def encode_texts(self, texts, batch_size: int = 64):
        self.calls += 1
        return np.array([self.vectors.get(t, self.vectors["elsewhere"]) for t in texts], dtype=np.float32)


@pytest.fixture
def meaning(indexed, monkeypatch):
    """Product i's photo vector is e_i, and the fake CLIP is the app's model (the page asks app.resources for it)."""
    from app import resources
    from core.index.store import point_id
    from core.models.embedder import load_embedder

    real = load_embedder(indexed.model, "cpu")
    store = resources.store(indexed)
    ids = [h.payload["product_id"] for h in store.scroll()]
    store.update_vectors({point_id(p): {"image": axis(real.dim, int(p)).tolist()} for p in ids})
    fake = MeaningOf(real.name, real.dim)
    monkeypatch.setattr(resources, "embedder_for", lambda config: fake)
    return fake


def csv_bytes(rows, encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def _page(data: bytes | None = None, threshold: float | None = THRESHOLD, name: str = "searches.csv", **columns):
    at = start("pages/searchlog.py")
    if threshold is not None:
        at.slider(key="searchlog_threshold").set_value(threshold)
    for role, header in columns.items():
        at.text_input(key=f"searchlog_{role}_col").set_value(header)
    if data is not None:
        at.file_uploader(key="searchlog_upload").upload(name, data, "text/csv")
    at.run()
    assert not at.exception, at.exception
    return at


KIND_COLUMN = {"gap": "Closest of ours", "words": "Words to add", "found": "Keyword hits"}


def _table(at, verdict: str) -> list[list]:
    """A verdict's table: its header, then its rows as values."""
    frame = next(d.value for d in at.dataframe if KIND_COLUMN[verdict] in d.value.columns)
    return [list(frame.columns)] + frame.astype(object).values.tolist()


def _link_urls(at) -> list[str]:
    return [e.proto.url for e in at.get("link_button")]


def test_each_verdict_lists_its_queries_with_their_counts_and_lost_searches(meaning):
    at = _page(csv_bytes(LOG))
    metrics = [(m.label, m.value, m.delta) for m in at.metric]
    assert metrics == [("Not stocked", "5 queries", "67 lost searches"),
                       ("Stocked under other words", "1 query", "30 lost searches"),
                       ("Found", "2 queries", "69 searches")]
    gap_rows = _table(at, "gap")
    assert gap_rows[0] == ["Query", "Searches", "Closest of ours", "Similarity"]
    assert gap_rows[1:] == [[q, n, "Mango Women Red Dress", NEAR] for q, n in GAPS]
    assert _table(at, "words") == [["Query", "Searches", "Words to add", "Found by meaning", "Similarity"],
                                   ["flip flop", 30, "flip, flop", "Bata Women Brown Sandal", 1.0]]
    # "Dress" is "dress" folded: one query, its counts summed (40 + 4); "men" is held by three titles.
    found = _table(at, "found")
    assert found[:2] == [["Query", "Searches", "Keyword hits", "Products"], ["dress", 44, 1, "Mango Women Red Dress"]]
    assert found[2][:3] == ["men", 25, 3]
    assert sorted(found[2][3].split("; ")) == ["Fossil Men Black Watch", "Nike Men Blue T-shirt",
                                               "Roadster Men White Shirt"]
    assert "8 distinct queries from 9 rows" in " ".join(shown(c.value) for c in at.caption)


def test_a_words_query_shows_the_products_found_by_meaning_beside_the_words_they_lack(meaning):
    at = _page(csv_bytes(LOG))
    card = [m.value for m in at.markdown]
    assert f"**{md('flip flop')}**" in card
    assert f"Words to add: **{md('flip, flop')}**" in card
    captions = [c.value for c in at.caption]
    assert "Bata Women Brown Sandal" in captions and f"lacks: {md('flip, flop')}" in captions
    assert len(at.get("image")) == 1  # the sandal's thumbnail: the only product above the threshold


def test_search_this_links_carry_only_the_url_encoded_query(meaning):
    at = _page(csv_bytes(LOG))
    urls = _link_urls(at)
    # One per card, in the page's order: gaps, words, found.
    assert [parse_qs(urlsplit(u).query) for u in urls] == [{"q": [q]} for q, _ in GAPS] + [
        {"q": ["flip flop"]}, {"q": ["dress"]}, {"q": ["men"]}]
    assert all(u.startswith("./?q=") for u in urls)
    assert "./?q=shirt%26like%3D6" in urls and "./?q=%5Bx%5D%28javascript%3A1%29" in urls


def test_hostile_queries_are_shown_as_typed_never_as_markup(meaning):
    at = _page(csv_bytes(LOG))
    markdown = [m.value for m in at.markdown]
    for query in HOSTILE:
        assert f"**{md(query)}**" in markdown
        assert shown(f"**{md(query)}**") == f"**{query}**"
    assert not [m for m in markdown if "<b>" in m or "](javascript" in m or "=HYPERLINK(" in m]
    # The dataframe holds them as text cells of a TextColumn (never a LinkColumn or Markdown).
    assert [r[0] for r in _table(at, "gap")[1:]][1:4] == HOSTILE[:3]


def test_the_gap_and_synonym_exports_are_formula_safe(meaning, monkeypatch):
    import app.searchlog_panel as panel

    exported = {}
    for name in ("gaps_csv", "synonyms_csv"):
        real = getattr(panel, name)
        monkeypatch.setattr(panel, name, lambda d, real=real, name=name: exported.setdefault(name, real(d)))
    at = _page(csv_bytes(LOG))
    gaps = list(csv.reader(io.StringIO(exported["gaps_csv"].removeprefix("\ufeff"))))
    assert [row[:2] for row in gaps] == [["query", "count"], ["teal lamp", "50"], ["'" + HOSTILE[0], "7"],
                                         [HOSTILE[1], "5"], [HOSTILE[2], "3"], [HOSTILE[3], "2"]]
    synonyms = list(csv.reader(io.StringIO(exported["synonyms_csv"].removeprefix("\ufeff"))))
    assert synonyms == [["query", "count", "suggested_words", "products"],
                        ["flip flop", "30", "flip; flop", "3 Bata Women Brown Sandal (lacks: flip, flop)"]]
    assert [b.proto.label for b in at.get("download_button")] == ["Synonyms list: 1 query (CSV)",
                                                                  "Gap list: 5 queries (CSV)"]


def test_a_log_without_a_query_column_says_so_and_the_column_can_be_named(meaning):
    data = csv_bytes([("Phrase", "Times"), ("dress", "3"), ("teal lamp", "2")])
    at = _page(data)
    assert len(at.error) == 1 and "no query column" in shown(at.error[0].value)
    assert "Phrase" in shown(at.error[0].value)  # the columns found are named
    # how to name it is the page's (its Columns expander), not the command line's --columns
    assert shown(at.error[0].value).endswith("; name the query column under “Columns” above, as the header row has "
                                             "it.")
    assert "--columns" not in shown(at.error[0].value)
    assert not at.metric and not at.dataframe
    at = _page(data, query="Phrase", count="Times")
    assert not at.error
    assert [(m.label, m.value) for m in at.metric] == [("Not stocked", "1 query"),
                                                      ("Stocked under other words", "0 queries"), ("Found", "1 query")]
    assert _table(at, "found")[1][:3] == ["dress", 3, 1]


def test_a_count_that_is_no_number_is_an_error_not_a_traceback(meaning):
    at = _page(csv_bytes([("Search term", "Searches"), ("dress", "lots"), ("men", "many")]))
    assert len(at.error) == 1 and "holds no search counts" in shown(at.error[0].value)
    assert "name the count column under “Columns” above, as the header row has it, or leave the count out" in \
        shown(at.error[0].value) and "--columns" not in shown(at.error[0].value)


def test_the_threshold_slider_says_why_its_default_is_not_the_gaps_pages(indexed):
    from core.insights.searchlog import THRESHOLD_WHY

    at = _page(threshold=None)
    slider = at.slider(key="searchlog_threshold")
    assert slider.value == 0.25 and THRESHOLD_WHY in slider.help and "Gaps page's 0.8" in slider.help


def test_a_utf16_export_reads_as_its_utf8_copy(meaning):
    at = _page(csv_bytes(LOG, "utf-16"))
    assert [(m.label, m.value, m.delta) for m in at.metric][0] == ("Not stocked", "5 queries", "67 lost searches")
    assert [(r[0], r[1]) for r in _table(at, "gap")[1:]] == GAPS


def test_the_diagnosis_is_cached_per_upload_and_threshold(meaning):
    at = _page(csv_bytes(LOG))
    assert meaning.calls == 1  # eight queries: one chunk, one encode
    at.run()
    assert meaning.calls == 1 and not at.exception
    at.slider(key="searchlog_threshold").set_value(0.1).run()
    assert meaning.calls == 2
    at.slider(key="searchlog_threshold").set_value(THRESHOLD).run()
    assert meaning.calls == 2  # back to a threshold already diagnosed
    assert not at.get("progress")  # the bar is gone once the diagnosis is done


def test_the_threshold_starts_at_the_cores_default_and_moves_the_verdict(meaning):
    from core.insights.searchlog import TEXT_MATCH_THRESHOLD

    at = _page(csv_bytes(LOG), threshold=None)
    assert at.slider(key="searchlog_threshold").value == TEXT_MATCH_THRESHOLD
    assert [m.value for m in at.metric] == ["5 queries", "1 query", "2 queries"]  # NEAR is below the default
    at.slider(key="searchlog_threshold").set_value(0.15).run()
    # Product 1 now means every former gap: each is 'words', lacking all its words.
    assert [m.value for m in at.metric] == ["0 queries", "6 queries", "2 queries"]
    assert [r[:4] for r in _table(at, "words")[1:]] == [
        ["teal lamp", 50, "teal, lamp", "Mango Women Red Dress"], ["flip flop", 30, "flip, flop", "Bata Women Brown Sandal"],
        [HOSTILE[0], 7, "HYPERLINK, http, x", "Mango Women Red Dress"], [HOSTILE[1], 5, "x, javascript", "Mango Women Red Dress"],
        [HOSTILE[2], 3, "b", "Mango Women Red Dress"], [HOSTILE[3], 2, "shirt, like, 6", "Mango Women Red Dress"]]


def test_without_an_upload_the_page_asks_for_one(indexed):
    at = _page(None, threshold=None)
    assert [i.value for i in at.info] == ["Upload a search-terms export (CSV) to see its queries diagnosed."]
    assert not at.metric


def test_a_reference_names_a_gaps_closest_products(indexed, meaning, tmp_path):
    from core.insights.reference import add_reference
    from core.models.embedder import load_embedder

    rows = [("r1", "Unisex", "Home", "Decor", "Lamps", "Teal", "Casual", "Teal Table Lamp")]
    catalog = write_catalog(tmp_path / "rival", rows)
    add_reference(indexed, "rival", catalog, catalog.parent / "images", load_embedder(indexed.model, "cpu"))
    at = start("pages/searchlog.py")
    at.slider(key="searchlog_threshold").set_value(THRESHOLD)
    at.selectbox(key="searchlog_reference").set_value("rival")
    at.file_uploader(key="searchlog_upload").upload("s.csv", csv_bytes(LOG), "text/csv")
    at.run()
    assert not at.exception, at.exception
    gap_rows = _table(at, "gap")
    assert gap_rows[0][-1] == "Closest in rival"
    assert [r[-1] for r in gap_rows[1:]] == ["Teal Table Lamp"] * len(GAPS)


def test_query_cards_come_ten_at_a_time_while_the_table_lists_every_query(meaning):
    log = [("Search term", "Searches"), *((f"zzz{i:02d}", str(100 - i)) for i in range(12))]
    at = _page(csv_bytes(log))
    assert len(_table(at, "gap")) == 1 + 12

    def cards():
        return [m.value for m in at.markdown if m.value.startswith("**zzz")]

    assert cards() == [f"**zzz{i:02d}**" for i in range(10)]
    assert at.button(key="searchlog_more_gap").label == "Show 2 more"
    at.button(key="searchlog_more_gap").click().run()
    assert cards() == [f"**zzz{i:02d}**" for i in range(12)]
    assert "searchlog_more_gap" not in [b.key for b in at.button]


def test_a_search_link_holds_the_query_alone_and_cut_as_the_search_page_reads_it():
    from app.searchlog_panel import search_url
    from core.curation.urlstate import SearchState

    url = search_url("red dress&mode=image&like=6#top")
    assert url == "./?q=red+dress%26mode%3Dimage%26like%3D6%23top"
    long = search_url("x" * 10_000)
    assert parse_qs(urlsplit(long).query) == {"q": [SearchState.from_params({"q": ["x" * 10_000]}).text]}
    assert len(long) < 600  # the Search page reads 500 characters of q: the link carries no more


def test_rows_the_reader_left_out_are_listed(meaning):
    log = [("Search term", "Searches"), ("dress", "3"), ("", "9"), ("men", "lots"), ("teal lamp", "2")]
    at = _page(csv_bytes(log))
    notes = [shown(c.value) for c in at.caption]
    assert "1 row with an empty query skipped" in notes
    assert "skipped row 4: Searches 'lots' is not a whole number of searches" in notes
    assert [m.value for m in at.metric] == ["1 query", "0 queries", "1 query"]


def test_the_upload_and_the_choices_are_kept_through_a_visit_to_another_page(meaning):
    at = _page(csv_bytes(LOG), threshold=0.15)
    assert [m.value for m in at.metric] == ["0 queries", "6 queries", "2 queries"]
    at.switch_page("pages/gaps.py").run()
    at.switch_page("pages/searchlog.py").run()
    assert not at.exception, at.exception
    assert at.slider(key="searchlog_threshold").value == 0.15
    assert [m.value for m in at.metric] == ["0 queries", "6 queries", "2 queries"]
    assert "Showing searches.csv, uploaded earlier: upload another file to replace it." in [
        shown(c.value) for c in at.caption]
    at.slider(key="searchlog_threshold").set_value(THRESHOLD).run()  # still the kept upload, another threshold
    assert [m.value for m in at.metric] == ["5 queries", "1 query", "2 queries"]
    at.button(key="searchlog_forget").click().run()
    assert not at.metric and [i.value for i in at.info] == [
        "Upload a search-terms export (CSV) to see its queries diagnosed."]
