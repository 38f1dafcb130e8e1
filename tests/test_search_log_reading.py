"""Reading search-terms exports: Shopify's report, GA4 and Universal Analytics with their comment lines, any CSV of
queries; encodings, --columns, and each bad input with its message."""

from __future__ import annotations

import io

import pytest

import core.ingest.search_log as search_log
from core.common.errors import CatalogError
from core.ingest.search_log import (MAX_COUNT, ColumnNeeded, LoggedQuery, check_columns, parse_count,
                                     read_search_log)

SHOPIFY = ("Search query,Searches,Searches with no clicks\n"
           "rashguard,12,12\n"
           "Levi's 501,3,3\n"
           "RASHGUARD ,4,4\n"
           "maillot de bain,2,2\n")

GA4 = ("# ----------------------------------------\n"
       "# Search terms\n"
       "# Account: Demo Shop, Inc\n"
       "# Property: demo\n"
       "# ----------------------------------------\n"
       "#\n"
       "# Start date: 20240101\n"
       "# End date: 20240131\n"
       "Search term,Event count,Total users,Views\n"
       "swim shirt,\"1,234\",300,\"2,000\"\n"
       "kimono,17,9,20\n"
       "#1 bestseller,3,1,3\n")

UA = ("# ----------------------------------------\n"
      "# All Web Site Data\n"
      "# Search Terms\n"
      "# 20240101-20240131\n"
      "# ----------------------------------------\n"
      "\n"
      "Search Term,Total Unique Searches,Results Pageviews / Search,% Search Exits\n"
      "sun hat,\"2,001\",1.50,10.00%\n"
      "beach bag,40,1.20,5.00%\n"
      ",\"2,041\",1.49,9.80%\n"
      "\n"
      "# ----------------------------------------\n"
      "Day Index,Total Unique Searches\n"
      "1/1/24,100\n")


def pairs(log):
    return [(q.query, q.count) for q in log.queries]


def test_shopify_report_sums_one_query_spelt_two_ways(tmp_path):
    path = tmp_path / "shopify.csv"
    path.write_text(SHOPIFY, encoding="utf-8")
    log = read_search_log(path)
    assert (log.query_column, log.count_column, log.rows) == ("Search query", "Searches", 4)
    assert pairs(log) == [("rashguard", 16), ("Levi's 501", 3), ("maillot de bain", 2)]
    assert log.searches == 21 and log.notes == []


def test_ga4_export_skips_its_comment_lines_and_reads_thousands_separators():
    log = read_search_log(GA4.encode())
    assert (log.query_column, log.count_column) == ("Search term", "Event count")
    # a query starting with '#' is a query: GA's comment lines end a table only after a blank line
    assert pairs(log) == [("swim shirt", 1234), ("kimono", 17), ("#1 bestseller", 3)]


def test_ga4_query_starting_with_a_hash_is_a_query_only_without_a_commented_preamble():
    log = read_search_log(b"Query,Searches\n#1 bestseller,3\nhat,2\n")
    assert pairs(log) == [("#1 bestseller", 3), ("hat", 2)]


def test_universal_analytics_export_stops_at_the_next_section_and_skips_the_totals_row():
    log = read_search_log(UA.encode())
    assert (log.query_column, log.count_column) == ("Search Term", "Total Unique Searches")
    assert pairs(log) == [("sun hat", 2001), ("beach bag", 40)]
    assert log.notes == ["1 row with an empty query skipped"]


def test_utf16_with_bom_and_tabs_is_read():
    raw = "Search term\tEvent count\nCafé crème\t3\nrobe\t1\n".encode("utf-16")  # BOM + UTF-16-LE
    assert raw[:2] == b"\xff\xfe"
    assert pairs(read_search_log(raw)) == [("Café crème", 3), ("robe", 1)]


def test_utf8_with_bom_is_read_and_the_bom_is_not_in_the_header():
    log = read_search_log("\ufeffQuery;Count\nkimono;5\n".encode("utf-8"))
    assert (log.query_column, pairs(log)) == ("Query", [("kimono", 5)])


def test_utf16_without_bom_says_save_as_utf8():
    with pytest.raises(CatalogError, match="looks like UTF-16 without a byte-order mark.*save it as UTF-8"):
        read_search_log("Query\nkimono\n".encode("utf-16-le"))


def test_invalid_utf8_row_is_skipped_and_named():
    log = read_search_log(b"Query,Searches\nhat,2\n\xff\xfe bad,3\n")
    assert pairs(log) == [("hat", 2)]
    assert log.notes == ["skipped row 3: the query is not valid UTF-8 text"]


def test_a_log_without_a_count_column_counts_each_row_once():
    log = read_search_log(b"keyword\nhat\nHat\nscarf\n")
    assert (log.count_column, pairs(log)) == (None, [("hat", 2), ("scarf", 1)])


def test_no_query_column_names_the_columns_found():
    with pytest.raises(CatalogError) as err:
        read_search_log(b"Date,Sessions,Bounce rate\n2024-01-01,5,0.4\n")
    assert str(err.value) == ("the search log has no query column (Search term, Search query, Query...); 3 column(s) "
                              "found (comma-separated): Date, Sessions, Bounce rate; name the query column")
    assert "--columns" not in str(err.value)  # the message is the page's too: how to name it is each caller's


def test_a_missing_column_says_which_role_to_name_and_each_caller_says_how():
    for raw, columns, role in [(b"Date\n2024-01-01\n", None, "query"), (b"Query,Searches\nhat,x\n", None, "count"),
                               (b"Query\nhat\n", {"query": "Phrase"}, "query")]:
        with pytest.raises(ColumnNeeded) as err:
            read_search_log(raw, columns)
        assert err.value.role == role and f"name the {role} column" in str(err.value)
        assert err.value.said("HOW") == str(err.value).replace(f"the {role} column", f"the {role} column HOW")


def test_a_count_that_is_not_a_number_skips_that_row_and_says_which():
    log = read_search_log(b"Query,Searches\nhat,2\nscarf,lots\nbag,-3\nbelt,2.5\ncap,4.0\n")
    assert pairs(log) == [("cap", 4), ("hat", 2)]
    assert log.notes == ["3 rows skipped: the count is not a whole number of searches",
                         "skipped row 3: Searches 'lots' is not a whole number of searches",
                         "skipped row 4: Searches '-3' is not a whole number of searches",
                         "skipped row 5: Searches '2.5' is not a whole number of searches"]


def test_a_count_column_without_a_single_number_is_an_error_naming_the_first_row():
    with pytest.raises(CatalogError, match=r"column 'Searches' holds no search counts \(row 2: Searches 'many' is "
                                           r"not a whole number of searches\); name the count column, or leave"):
        read_search_log(b"Query,Searches\nhat,many\nscarf,few\n")


def test_counts_as_exports_write_them():
    assert [parse_count(t) for t in ("0", "12", "1,234", "12,345,678", "7.0", " 3 ")] == [0, 12, 1234, 12345678, 7, 3]
    for bad in ("", "1,23", "1.234,5", "-1", "2.5", "1e3", "nan", "twelve", "1_000"):
        with pytest.raises(ValueError):
            parse_count(bad)


def test_a_count_too_large_for_a_float_or_an_int_is_a_note_never_an_exception():
    assert parse_count("10,000,000,000") == MAX_COUNT == parse_count("0" * 5000 + "10000000000.00")
    for huge in ("1" * 400 + ".0", "9" * 5000, "10,000,000,001", "10000000001"):  # inf as a float; past int()'s digits
        with pytest.raises(ValueError, match=r"^is more searches than a row may count \(at most 10,000,000,000\)$"):
            parse_count(huge)
    log = read_search_log(f"Query,Searches\nhat,{'1' * 400}.0\nscarf,2\nbelt,{'9' * 5000}\n".encode())
    assert pairs(log) == [("scarf", 2)]
    too_many = "is more searches than a row may count (at most 10,000,000,000)"
    assert log.notes == [f"2 rows skipped: the count {too_many}", f"skipped row 2: Searches '{'1' * 40}…' {too_many}",
                         f"skipped row 4: Searches '{'9' * 40}…' {too_many}"]
    only_huge = read_search_log(f"Query,Searches\nhat,{'1' * 400}.0\n".encode())
    assert (only_huge.queries, len(only_huge.notes)) == ([], 2)


LONG_TAIL = b"Query,Searches\na,5\nb,4\nc,3\nd,2\nD,1\ne,1\n"  # five distinct queries, 16 searches


def test_only_the_most_searched_queries_are_kept_and_the_rest_are_counted_in_a_note():
    log = read_search_log(LONG_TAIL, max_queries=2)
    assert pairs(log) == [("a", 5), ("b", 4)] and log.searches == 9
    assert (log.left_out, log.left_out_searches, log.rows) == (3, 7, 6)
    assert log.notes == [("only the 2 most searched of 5 distinct queries are kept: 3 less searched queries (7 "
                          "searches) left out")]
    one = read_search_log(LONG_TAIL, max_queries=4)
    assert pairs(one) == [("a", 5), ("b", 4), ("c", 3), ("d", 3)]
    assert one.notes == [("only the 4 most searched of 5 distinct queries are kept: 1 less searched query (1 "
                          "search) left out")]
    whole = read_search_log(LONG_TAIL, max_queries=5)
    assert (len(whole.queries), whole.left_out, whole.left_out_searches, whole.notes) == (5, 0, 0, [])


def test_the_cap_on_distinct_queries_applies_by_default(monkeypatch):
    assert search_log.MAX_QUERIES == 50_000
    monkeypatch.setattr(search_log, "MAX_QUERIES", 3)
    log = read_search_log(LONG_TAIL)
    assert pairs(log) == [("a", 5), ("b", 4), ("c", 3)] and (log.left_out, log.left_out_searches) == (2, 4)


def test_empty_queries_are_skipped_and_counted():
    log = read_search_log(b"Query,Searches\n,5\n   ,2\nhat,1\n\"\",3\n")
    assert pairs(log) == [("hat", 1)]
    assert log.notes == ["3 rows with an empty query skipped"]


def test_empty_file_and_header_only_file():
    with pytest.raises(CatalogError, match="the search log is empty or has no header row"):
        read_search_log(b"")
    with pytest.raises(CatalogError, match="empty or has no header row"):
        read_search_log(b"# only comments\n\n")
    log = read_search_log(b"Query,Searches\n")
    assert (log.queries, log.rows) == ([], 0)


def test_columns_override_detection_by_dict_or_text():
    raw = b"Term,Hits,What people typed,How often\nx,1,shawl,4\ny,2,Shawl,5\n"
    assert pairs(read_search_log(raw)) == [("y", 2), ("x", 1)]  # detected: Term, Hits
    chosen = read_search_log(raw, {"query": "What people typed", "count": "How often"})
    assert (chosen.query_column, chosen.count_column, pairs(chosen)) == ("What people typed", "How often",
                                                                         [("shawl", 9)])
    assert pairs(read_search_log(raw, "query=what people typed,count=HOW OFTEN")) == [("shawl", 9)]


def test_columns_naming_a_missing_column_or_role_is_an_error():
    with pytest.raises(CatalogError, match="no column 'Phrase' for the query; 2 column\\(s\\) found"):
        read_search_log(b"Query,Searches\nhat,1\n", {"query": "Phrase"})
    with pytest.raises(CatalogError, match=r"^unknown role 'title' in the search log's column mapping; roles: query, "
                                           "count$"):
        check_columns("title=Query")
    with pytest.raises(CatalogError, match=r"^unknown role 'title' in the search log's column mapping"):
        check_columns({"title": "Query"})
    with pytest.raises(CatalogError, match=r"^column mapping 'query' must look like role=Column, as in "
                                           "query=Search term,count=Event count$"):
        check_columns("query")
    with pytest.raises(CatalogError, match="^column mapping names query twice$"):
        check_columns("query=A,Query=B")
    with pytest.raises(CatalogError, match="cannot be one column"):
        read_search_log(b"Query,Searches\nhat,1\n", {"query": "Query", "count": "Query"})


def test_a_query_of_ten_thousand_characters_is_kept_whole():
    query = "silk " * 2000
    log = read_search_log(f"Query,Searches\n{query},3\n".encode())
    assert pairs(log) == [(query.strip(), 3)] and len(log.queries[0].query) == 9_999


def test_a_file_over_the_catalogues_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(search_log, "MAX_BYTES", 64)
    path = tmp_path / "big.csv"
    path.write_bytes(b"Query\n" + b"hat\n" * 20)  # 86 bytes
    with pytest.raises(CatalogError, match=r"is 0.0 MB; a search log may be at most 0 MB \(the catalogue's limit\)"):
        read_search_log(path)
    with pytest.raises(CatalogError, match="the catalogue's limit"):
        read_search_log(path.read_bytes())


def test_the_default_limit_is_the_catalogue_uploads():
    from core.ingest.uploads import CATALOGUE

    assert search_log.MAX_BYTES == CATALOGUE.max_bytes


def test_an_upload_is_read_by_its_name(tmp_path):
    upload = io.BytesIO(SHOPIFY.encode())
    upload.name = "no-results.csv"
    assert pairs(read_search_log(upload))[0] == ("rashguard", 16)
    with pytest.raises(CatalogError, match="search log no-results.csv is empty"):
        empty = io.BytesIO(b"")
        empty.name = "no-results.csv"
        read_search_log(empty)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CatalogError, match="search log not found"):
        read_search_log(tmp_path / "nope.csv")
    with pytest.raises(CatalogError, match="is a folder"):
        read_search_log(tmp_path)


def test_a_broken_row_is_skipped_and_named():
    log = read_search_log(b'Query,Searches\nhat,2\n"broken"x,3\nscarf,1\n')
    assert pairs(log) == [("hat", 2), ("scarf", 1)]
    assert len(log.notes) == 1 and log.notes[0].startswith("skipped row 3: unreadable CSV row")


def test_logged_queries_are_ordered_most_searched_first_then_by_query():
    log = read_search_log(b"Query,Searches\nb,1\na,1\nc,5\n")
    assert log.queries == [LoggedQuery("c", 5), LoggedQuery("a", 1), LoggedQuery("b", 1)]
