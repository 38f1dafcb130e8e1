"""Text search by words and meaning on hand-made products, both backends: the products holding every query word
first whatever CLIP says, stemming, the three match modes, filters in both tiers, threshold and diversity, each
result's reasons, bad queries, and a keyword index that is incomplete.

The expected orders are worked by hand. For "levis jeans" (CLIP's query vector (1, 0, 0, 0)):
- keyword list (BM25, the engine's IDF; levi and jean are each in 3 visible products, so one IDF): 1 (levi twice:
  title and brand), 2 (both words, a longer title), 5 (jean), 6 (levi); 5 before 6: a shorter document.
- CLIP list: 3 (1.0), 4 (0.95), 5 (0.6), 6 (0.2), 1 (0.1), 2 (0.0), 7 (-0.2).
- RRF (k = 60, positions from 0) over everything: 1 = 1/60 + 1/64, 5 = 1/62 + 1/62, 2 = 1/61 + 1/65,
  6 = 1/63 + 1/63, 3 = 1/60, 4 = 1/61, 7 = 1/66: 1, 5, 2, 6, 3, 4, 7.
- Tier 1 (every word: 1 and 2): 1 before 2 in both lists. So: 1, 2, then the rest of the RRF list: 5, 6, 3, 4, 7.
"""

import contextlib
import json
import re

import pytest

from core.common.errors import BadQuery
from core.common.filters import Filters
from core.index.keywords import query_weights
from core.index.store import Fused, Nearest, Sparse, StoredPoint, point_id
from core.search.query import SearchRequest, search, search_notes
from core.search.words import NO_WORDS_NOTE
from tests.helpers.keyword_shop import DIM, TextEncoder, keyword_point, unit

#         id   CLIP vector (image = text)   title                          attributes
CATALOGUE = [
    ("1", (0.1, 0.994987, 0, 0),  "Levi's 501 Jeans",           {"brand": "Levi's", "colour": "Blue"}),
    ("2", (0, 0, 1, 0),           "Levi's 505 straight jeans",  {"colour": "Black"}),
    ("3", (1, 0, 0, 0),           "Blue denim trousers",        {"colour": "Blue"}),
    ("4", (0.95, 0.31225, 0, 0),  "Indigo denim pants",         {"colour": "Blue"}),
    ("5", (0.6, 0.8, 0, 0),       "Slim jeans",                 {"colour": "Black"}),
    ("6", (0.2, 0, 0.979796, 0),  "Levi's trucker jacket",      {"colour": "Blue"}),
    ("7", (-0.2, 0, 0, 0.979796), "Red summer dress",           {"colour": "Red"}),
    ("8", (-0.3, 0, 0, 0.953939), "Levi's 550 jeans",           {"colour": "Blue", "status": "draft"}),
]
CLIP_QUERY = (1, 0, 0, 0)
QUERIES = {"levis jeans": CLIP_QUERY, "jeans levis": CLIP_QUERY, "Levis": CLIP_QUERY, "jeans": CLIP_QUERY,
           "the of and": CLIP_QUERY, "?!... --- ,,,": CLIP_QUERY}
MEANING_ORDER = ["3", "4", "5", "6", "1", "2", "7"]


@pytest.fixture
def shop(store):
    store.ensure(TextEncoder.name, DIM)
    store.upsert([keyword_point(pid, vector, title, **extra) for pid, vector, title, extra in CATALOGUE])
    return store


def run(store, **kw):
    return search(store, SearchRequest(**kw), TextEncoder(QUERIES))


def ids(results):
    return [r.product_id for r in results]


def test_products_holding_every_word_come_first_then_the_fused_rest(shop):
    results = run(shop, text="levis jeans")
    assert ids(results) == ["1", "2", "5", "6", "3", "4", "7"]
    assert [r.rank for r in results] == [1, 2, 3, 4, 5, 6, 7]  # the order is not by similarity: the rank says it
    assert [r.matched_words for r in results] == [["levi", "jean"], ["levi", "jean"], ["jean"], ["levi"], [], [], []]


def test_every_word_beats_no_word_even_where_plain_rrf_interleaves_clip_s_guesses(shop):
    # At a minimum similarity of 0.5 CLIP's list is 3, 4, 5 alone; the keyword list is still 1, 2, 5, 6. Plain RRF
    # then scores 3 (1/60) above 2 (1/61): a product holding no query word above one holding both.
    visible = Filters().visible()
    plain = shop.query(Fused(((Sparse(*query_weights(["levi", "jean"])), 100), (Nearest(unit(CLIP_QUERY)), 100))),
                       visible, limit=10, threshold=0.5)
    plain_ids = [h.payload["product_id"] for h in plain]
    assert plain_ids.index("3") < plain_ids.index("2")
    # The tiers: 1, 2 (every word), then the rest by RRF: 5 (1/62 + 1/62), 3 (1/60), 4 (1/61), 6 (1/63).
    results = run(shop, text="levis jeans", threshold=0.5)
    assert ids(results) == ["1", "2", "5", "3", "4", "6"]


def test_threshold_cuts_clip_s_list_only_and_keyword_matches_keep_their_similarity(shop):
    results = {r.product_id: r for r in run(shop, text="levis jeans", threshold=0.5)}
    assert "7" not in results  # no word, and below the threshold by meaning
    assert results["1"].similarity == pytest.approx(0.1, abs=1e-5)  # kept by its words, below the threshold
    assert results["2"].similarity == pytest.approx(0.0, abs=1e-5)
    assert results["3"].similarity == pytest.approx(1.0, abs=1e-5)
    assert ids(run(shop, text="levis jeans", threshold=0.5, match="meaning")) == ["3", "4", "5"]


def test_stems_match_plural_and_possessive_forms(shop):
    jeans = ids(run(shop, text="jeans", match="keywords"))
    assert jeans[0] == "5" and sorted(jeans[1:]) == ["1", "2"]  # jean once each: the shortest document first
    assert [r.matched_words for r in run(shop, text="jeans", match="keywords")] == [["jean"]] * 3
    # "Levis" is "Levi's": 1 holds it twice (title and brand), then 6 before 2 (a shorter document).
    assert ids(run(shop, text="Levis", match="keywords")) == ["1", "6", "2"]


def test_match_modes_give_their_own_orders(shop):
    assert ids(run(shop, text="levis jeans", match="keywords")) == ["1", "2", "5", "6"]
    meaning = run(shop, text="levis jeans", match="meaning")
    assert ids(meaning) == MEANING_ORDER
    # Meaning alone is the search as before the keyword index: ordered by similarity, which is the score.
    assert [(r.rank, r.matched_words, r.score) for r in meaning][:2] == [(None, [], 1.0), (None, [], 0.95)]


def test_matched_words_follow_the_query_s_order(shop):
    assert run(shop, text="jeans levis")[0].matched_words == ["jean", "levi"]


def test_why_says_the_words_and_the_similarity(shop):
    results = run(shop, text="levis jeans")
    assert [r.why() for r in results[:5]] == [
        "matched: levi, jean · similarity 0.10", "matched: levi, jean · similarity 0.00",
        "matched: jean · similarity 0.60", "matched: levi · similarity 0.20", "similarity 1.00"]


@pytest.mark.parametrize("match, expected", [
    ("both", ["1", "6", "3", "4"]),  # tier 1: 1; then RRF: 1 (1/60 + 1/63), 6 (1/61 + 1/62), 3 (1/60), 4 (1/61)
    ("keywords", ["1", "6"]),
])
def test_filters_hold_in_both_tiers(shop, match, expected):
    # 2 holds both words and 5 holds one; both are black: never returned under colour=Blue.
    results = ids(run(shop, text="levis jeans", match=match, filters=Filters.of({"colour": ["Blue"]})))
    assert results == expected


def test_drafts_stay_out_of_both_tiers_unless_asked_for(shop):
    assert "8" not in ids(run(shop, text="levis jeans", limit=20))
    shown = run(shop, text="levis jeans", limit=20, show_hidden=True)
    assert sorted(ids(shown)[:3]) == ["1", "2", "8"]  # 8 holds every word: tier 1


def test_pages_continue_the_merged_order(shop):
    whole = ids(run(shop, text="levis jeans"))
    pages = [run(shop, text="levis jeans", limit=3, offset=offset) for offset in (0, 3, 6)]
    assert [pid for page in pages for pid in ids(page)] == whole
    assert [r.rank for r in pages[1]] == [4, 5, 6]


def paging_shop(store, n=200):
    """n products, a few holding both "foo" and "bar" (every 35th), many one of them (every 5th "foo", every 7th
    "bar", with other words), the rest neither; varied CLIP vectors: CLIP's list is longer than a few pages."""
    import numpy as np

    rng = np.random.default_rng(5)
    words = ["shirt", "dress", "coat", "bag", "hat"]
    points = []
    for i in range(n):
        title = " ".join(["foo"] * (i % 5 == 0) + ["bar"] * (i % 7 == 0) + [words[i % 5]] * (i % 4 + 1) + [f"n{i}"])
        points.append(keyword_point(f"p{i:03d}", rng.normal(size=DIM), title))
    store.ensure(TextEncoder.name, DIM)
    store.upsert(points)
    return store


def pages_and_whole(store, pages, per_page=20, **kw):
    paged = [run(store, text="foo bar", limit=per_page, offset=per_page * k, **kw) for k in range(pages)]
    whole = run(store, text="foo bar", limit=per_page * pages, **kw)
    return [pid for page in paged for pid in ids(page)], ids(whole), [r.rank for page in paged for r in page]


@pytest.mark.parametrize("kw", [{}, {"match": "keywords"}, {"diverse": True}, {"threshold": 0.2}])
def test_pages_of_20_over_200_products_are_slices_of_one_list(store, kw):
    # Each page fuses the same candidate lists (FUSION_POOL each), so page k is the k-th slice of one list: no
    # product on two pages, none skipped. (A pool growing with the page, 100 candidates for page 1 and 120 for page
    # 2, moved the order between them: products shown twice, others never.)
    paging_shop(store)
    paged, whole, ranks = pages_and_whole(store, pages=10, **kw)
    assert paged == whole and len(set(paged)) == len(paged)
    assert ranks == list(range(1, len(paged) + 1))
    if not kw:
        assert len(paged) == 200  # words and meaning: every product (CLIP's list has them all)


def test_a_list_ends_where_its_pool_does_and_pages_still_continue_it(store, monkeypatch):
    from core.search import query

    monkeypatch.setattr(query, "FUSION_POOL", 30)
    paging_shop(store)
    paged, whole, _ = pages_and_whole(store, pages=8, match="keywords")
    # Words only: the 6 products holding both words (tier 1), then the rest of the keyword list's 30 best (tier 2;
    # the 6 among them, shown once): the list ends at 30 of the 63 products holding a word.
    assert paged == whole and len(set(paged)) == len(paged) == 30
    results = run(store, text="foo bar", limit=100, match="keywords")
    assert ids(results) == whole and [r.matched_words for r in results[:7]] == [["foo", "bar"]] * 6 + [["bar"]]


def test_diversity_zero_orders_each_tier_by_similarity(shop):
    results = run(shop, text="levis jeans", diverse=True, diversity=0.0)
    assert ids(results) == ["1", "2", "3", "4", "5", "6", "7"]


def test_diversity_one_spreads_the_fused_list(shop):
    # MMR with no weight on relevance over all seven: 3 first (most similar), then each next the least like those
    # chosen: 7, 2, 1, 5, 4, 6. Tier 1 (1, 2) comes first; the rest keeps MMR's order.
    results = run(shop, text="levis jeans", diverse=True, diversity=1.0)
    assert ids(results) == ["1", "2", "3", "7", "5", "4", "6"]
    assert SearchRequest(text="levis jeans", diverse=True, use_text_vectors=True).notes() == []


def test_likes_move_clip_s_list_but_the_words_still_lead(shop):
    results = run(shop, text="levis jeans", positives=("3",))
    assert ids(results)[:2] == ["1", "2"] and "3" not in ids(results)  # a liked product is not shown again
    assert sorted(ids(results)) == ["1", "2", "4", "5", "6", "7"]
    # The similarity shown is to the query, not the recommend score.
    assert [round(r.similarity, 4) for r in results[:2]] == [0.1, 0.0]


def add_photo_less(store):
    """Two text-only products (a text vector and words, no "image" vector): "nophoto" holds both words of
    "levis jeans", "jeanbag" holds "jeans" alone."""
    for pid, title in (("nophoto", "Levis jeans"), ("jeanbag", "Jeans tote bag")):
        point = keyword_point(pid, (0, 0, 0, 1), title)
        point.vectors.pop("image")
        store.upsert([point])


# Without the two, MMR's orders (tier 1, then tier 2) by diversity; see the two tests above.
DIVERSE_ORDERS = {0.0: ["1", "2", "3", "4", "5", "6", "7"], 0.5: ["1", "2", "3", "4", "7", "5", "6"],
                  1.0: ["1", "2", "3", "7", "5", "4", "6"]}


@pytest.mark.parametrize("diversity", [0.0, 0.5, 1.0])
def test_diversity_keeps_products_without_a_photo_at_their_fused_places(shop, diversity):
    # MMR compares "image" vectors, which the two lack, so the engine's MMR leaves them out. Each keeps its fused
    # place (nophoto third, in tier 1: only the keyword list has it, so 1/61 after 1 and 2 of both lists; jeanbag
    # eighth, in tier 2: 1/64 from the keyword list alone), and the other places hold MMR's order of the products it
    # can compare, as without the two. (jeanbag's "jean" moves the IDF: 6 now comes before 5 in the keyword list.)
    add_photo_less(shop)
    plain = ids(run(shop, text="levis jeans", limit=20))
    assert plain == ["1", "2", "nophoto", "6", "5", "3", "4", "jeanbag", "7"]
    diverse = ids(run(shop, text="levis jeans", limit=20, diverse=True, diversity=diversity))
    assert diverse.index("nophoto") == 2 and diverse.index("jeanbag") == 7
    assert [pid for pid in diverse if pid not in ("nophoto", "jeanbag")] == DIVERSE_ORDERS[diversity]
    # Pages of 2 give the same list.
    pages = [run(shop, text="levis jeans", limit=2, offset=k, diverse=True, diversity=diversity)
             for k in (0, 2, 4, 6, 8)]
    assert [pid for page in pages for pid in ids(page)] == diverse


def test_words_only_with_diversity_is_the_keyword_list_and_says_diversity_is_off(shop):
    # A words-only search uses no meaning: MMR around CLIP's vectors would re-rank it by meaning, and drop a product
    # without a photo (nophoto, which holds both words).
    add_photo_less(shop)
    request = SearchRequest(text="levis jeans", match="keywords", diverse=True, diversity=1.0)
    assert [n.split(":")[0] for n in request.notes()] == ["Diverse results are off"]
    assert "words-only search uses no meaning" in request.notes()[0]
    plain = ids(run(shop, text="levis jeans", match="keywords"))
    assert plain == ["1", "nophoto", "2", "6", "jeanbag", "5"]
    assert ids(search(shop, request, TextEncoder(QUERIES))) == plain


@pytest.mark.parametrize("text", ["the of and", "?!... --- ,,,"])
def test_a_query_without_words_searches_by_meaning_and_says_so(shop, text):
    request = SearchRequest(text=text)
    assert request.terms == () and request.notes() == [NO_WORDS_NOTE]
    assert ids(search(shop, request, TextEncoder(QUERIES))) == MEANING_ORDER
    with pytest.raises(BadQuery, match="words-only search needs a word"):
        SearchRequest(text=text, match="keywords")


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_query_is_a_clear_error(shop, text):
    with pytest.raises(BadQuery, match="nothing to search for"):
        run(shop, text=text)


def test_a_10000_character_query_uses_its_first_32_words_and_no_lookup(shop):
    text = " ".join(f"word{n}" for n in range(2000))[:10_000]
    encoder = TextEncoder(QUERIES, default=CLIP_QUERY)
    request = SearchRequest(text=text)
    assert len(request.terms) == 32
    results = search(shop, request, encoder)
    assert ids(results) == MEANING_ORDER and not any(r.exact for r in results)  # no product holds those words
    # The words added nothing, so the list is CLIP's own, shown as a meaning search: by similarity, no rank.
    assert [(r.rank, r.score) for r in results][:2] == [(None, 1.0), (None, 0.95)]
    long_words = "levis jeans " * 834
    assert len(long_words) > 10_000
    assert ids(search(shop, SearchRequest(text=long_words), encoder)) == ["1", "2", "5", "6", "3", "4", "7"]


def test_an_unknown_match_is_a_clear_error():
    with pytest.raises(BadQuery, match="match must be one of"):
        SearchRequest(text="jeans", match="exact")


def test_options_a_words_only_search_ignores_are_named():
    notes = SearchRequest(text="jeans", match="keywords", threshold=0.3, use_text_vectors=True).notes()
    assert [n.split(":")[0] for n in notes] == ["Minimum similarity is off", "“Also match product texts” is off"]


def test_an_incomplete_keyword_index_still_searches_and_says_how_to_complete_it(shop):
    # A product written before the keyword index: CLIP vectors, no keyword vector, no terms, no lookup keys.
    old = StoredPoint(point_id("9"), {"image": unit((0.9, 0, 0, 0.43589)), "text": unit((0.9, 0, 0, 0.43589))},
                      {"product_id": "9", "title": "Levi's 511 jeans", "image_path": "/img/9.jpg"})
    shop.upsert([old])
    shop.update_meta(keywords_complete=False)
    request = SearchRequest(text="levis jeans")
    notes = search_notes(shop, request)
    assert len(notes) == 1 and notes[0].startswith("The keyword index is incomplete: run `python -m core index")
    assert "the words of 1 product " in notes[0]
    results = run(shop, text="levis jeans")
    assert ids(results)[:4] == ["1", "2", "5", "6"] and "9" in ids(results)  # found by meaning, without its words
    assert search_notes(shop, SearchRequest(text="levis jeans", match="meaning")) == []


def test_an_index_without_a_keyword_index_searches_by_meaning_and_says_how_to_add_it(shop):
    shop.update_meta(keyword_vectors=False, keywords_complete=False)  # as an index made before issue 22 reads
    notes = search_notes(shop, SearchRequest(text="levis jeans"))
    assert len(notes) == 1 and notes[0].startswith("This index has no keyword index yet: run `python -m core index")
    assert ids(run(shop, text="levis jeans")) == MEANING_ORDER
    with pytest.raises(BadQuery, match="no keyword index yet"):
        run(shop, text="levis jeans", match="keywords")


# ---- the CLI, on the sample catalogue indexed by the CLI ----------------------------------------------------------

RESULT_KEYS = {"product_id", "score", "title", "image_path", "payload", "matched_words", "exact_match", "similarity"}


@pytest.fixture
def sample_index(settings, tmp_path, capsys):
    from core.cli import main
    from tests.conftest import write_catalog

    # Six products; only 1 ("Mango Women Red Dress", colour Red) holds "red", and it alone holds "dress" too.
    assert main(["index", "--catalog", str(write_catalog(tmp_path / "c")), "--json"]) == 0
    capsys.readouterr()
    return main


def cli_json(main, capsys, *args):
    assert main(["search", *args, "--json"]) == 0, args
    return json.loads(capsys.readouterr().out)


def test_cli_matches_words_and_meaning_by_default_and_each_alone_with_a_flag(sample_index, capsys):
    both = cli_json(sample_index, capsys, "red dress")
    assert set(both[0]) == RESULT_KEYS and len(both) == 6
    assert (both[0]["product_id"], both[0]["matched_words"], both[0]["exact_match"]) == ("1", ["red", "dress"], False)
    assert [r["matched_words"] for r in both[1:]] == [[]] * 5
    assert all(isinstance(r["similarity"], float) for r in both)
    # the keyword index's own lists (how a product is found) stay out of the printed payload; its values stay in
    assert [("terms" in r["payload"], "lookup_keys" in r["payload"]) for r in both] == [(False, False)] * 6
    assert both[0]["payload"]["colour"] == ["Red"]
    words = cli_json(sample_index, capsys, "red dress", "--keywords-only")
    assert [(r["product_id"], r["matched_words"]) for r in words] == [("1", ["red", "dress"])]
    meaning = cli_json(sample_index, capsys, "--text", "red dress", "--meaning-only")
    assert len(meaning) == 6 and all(r["matched_words"] == [] and r["score"] == r["similarity"] for r in meaning)


def test_cli_text_output_says_why_each_result_is_there(sample_index, capsys):
    assert sample_index(["search", "red dress", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"  1\. \[1\] Mango Women Red Dress  · matched: red, dress · similarity -?\d\.\d\d", lines[0])
    assert re.fullmatch(r"  2\. \[\d\] .+  · similarity -?\d\.\d\d", lines[1]), lines


@pytest.mark.parametrize("args, message", [
    (["red", "--keywords-only", "--meaning-only"], "not allowed with argument"),
    (["red", "--text", "dress"], "give the query text once"),
    (["the of and", "--keywords-only"], "a words-only search needs a word to match"),
    ([""], "nothing to search for"),
])
def test_cli_bad_searches_are_one_line_errors(sample_index, capsys, args, message):
    with contextlib.suppress(SystemExit):  # argparse's own errors exit with 2 too
        assert sample_index(["search", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_a_10000_character_query_reaches_clip_truncated_and_its_words_still_rank(sample_index, capsys):
    results = cli_json(sample_index, capsys, ("red dress " * 1000)[:10_000])
    assert len(results) == 6 and results[0]["product_id"] == "1" and results[0]["matched_words"] == ["red", "dress"]


def test_cli_notes_go_to_stderr_and_json_stays_parseable(sample_index, capsys):
    assert sample_index(["search", "?!", "--limit", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 2  # searched by meaning
    assert captured.err == f"note: {NO_WORDS_NOTE}\n"
