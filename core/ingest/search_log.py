"""Reading a search-terms export: Shopify's "searches with no results" report, Google Analytics site search (GA4
and Universal Analytics, '#' comment lines and all), or any CSV with a query column and an optional count column,
into one list of distinct queries with their summed search counts.

The bytes are read as a catalogue is (core.ingest.catalog: byte-order marks, UTF-16/32, invalid UTF-8, the
separator sniffed from the header line) and bounded by the catalogue's upload limit. A query is public input: it is
kept as typed, never interpreted.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

from core.common.errors import CatalogError
from core.common.text import folded
from core.ingest.catalog import DELIMITER_NAMES, NUL_PROBE_BYTES, encoding_of, sniff_delimiter
from core.ingest.formats.registry import check_role, columns_found, parse_mapping
from core.ingest.uploads import CATALOGUE, MB
from core.ingest.values import column_key, shown

QUERY, COUNT = "query", "count"  # the roles --columns may name
# Headers that hold the query, best first, compared as column_key compares them ("Search term" = "searchterm"):
# Shopify's report ("Search query"), GA4 ("Search term"), Universal Analytics ("Search Term"), then the usual.
QUERY_HEADERS = ("searchquery", "searchterm", "searchterms", "query", "queries", "term", "searchphrase",
                 "searchstring", "keyword", "keywords", "search", "q")
# Headers that hold how often it was searched, best first: Shopify's "Searches"/"Total searches", GA4's "Event
# count" (each search is one view_search_results event; "Views" and "Sessions" are fallbacks some exports carry
# instead), Universal Analytics' "Total Unique Searches", then the usual.
COUNT_HEADERS = ("searches", "totalsearches", "searchcount", "numberofsearches", "eventcount", "totaluniquesearches",
                 "uniquesearches", "count", "views", "sessions", "frequency", "hits", "total")
MAX_BYTES = CATALOGUE.max_bytes  # the catalogue's limit: a log is read with the catalogue's reader, bounded alike
MAX_NOTES = 20  # rows named one by one in the notes; the rest are counted
# Distinct queries kept, most searched first: each is CLIP-encoded and matched (the target is 10,000 in at most a
# minute), and a 200 MB log can hold millions, hours of work for queries searched once or twice. The rest are
# counted in a note.
MAX_QUERIES = 50_000
# The most searches one row may count: no shop's export comes near, and a longer run of digits is no count (summed
# over the most rows a log may hold, it stays a 64-bit integer, as a table column needs).
MAX_COUNT = 10_000_000_000
ROLES = (QUERY, COUNT)
EXAMPLE = "query=Search term,count=Event count"
CALLED = "the search log's column mapping"
# A count as GA and Shopify write one: digits, or thousands grouped by commas ("1,234"); "12.0" from a spreadsheet.
COUNT_TEXT = re.compile(r"\d{1,3}(?:,\d{3})+|\d+(?:\.0*)?")


@dataclass(frozen=True)
class LoggedQuery:
    """One distinct query (as first typed) and how many searches it stands for."""

    query: str
    count: int


@dataclass
class SearchLog:
    """A read log: its distinct queries (same when folded: case, accents and spacing ignored), most searched
    first, the columns they came from, and notes on every row left out."""

    queries: list[LoggedQuery] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    query_column: str = ""
    count_column: str | None = None
    rows: int = 0  # data rows read (after the header)
    left_out: int = 0  # distinct queries past MAX_QUERIES, not kept
    left_out_searches: int = 0  # the searches they stand for

    @property
    def searches(self) -> int:
        """Searches in all: the counts summed."""
        return sum(q.count for q in self.queries)


class ColumnNeeded(CatalogError):
    """The log's query or count column is not one to read: `role` says which. Its message ends "name the query
    column"; said(how) tells how where the user is ("with --columns query=COLUMN" in the command line)."""

    def __init__(self, before: str, role: str, after: str = ""):
        self.before, self.role, self.after = before, role, after
        super().__init__(self.said())

    def said(self, how: str = "") -> str:
        return f"{self.before}name the {self.role} column{' ' + how if how else ''}{self.after}"


def read_search_log(source, columns: dict | None = None, name: str | None = None,
                    max_queries: int | None = None) -> SearchLog:
    """The log in `source` (a path, bytes, or a binary file object such as an upload); `columns` names the query
    and count columns ({"query": "Search term", "count": "Event count"}) instead of detecting them. Only the
    `max_queries` (MAX_QUERIES unless given) most searched distinct queries are kept; a note counts the rest.

    CatalogError (a LensError), saying what to do, for a file that cannot be a search log: missing, empty, over
    the size limit, no header, no query column (the columns found are named), a count column holding no number.
    Single rows are skipped and noted instead: an empty query, a count that is not a whole number, a broken row.
    ColumnNeeded (a CatalogError) when the query column, or a count column's numbers, are not found.
    """
    columns = check_columns(columns)
    stream, name = _open(source, name)
    try:
        text, encoding = _text(stream, name)
    except BaseException:
        stream.close()
        raise
    with text:  # closes the stream under it too
        return _read(_decoded(text, name, encoding), name, columns, MAX_QUERIES if max_queries is None else max_queries)


def check_columns(columns: dict | str | None) -> dict[str, str]:
    """{'query': header, 'count': header} from a dict or 'query=Search term,count=Event count'; CatalogError for
    another role or an empty header."""
    if isinstance(columns, str):
        columns = parse_mapping(columns, ROLES, EXAMPLE, CALLED)
    out = {}
    for role, header in (columns or {}).items():
        role = str(role).strip().lower()
        check_role(role, ROLES, CALLED)
        if not str(header or "").strip():
            raise CatalogError(f"the search log's column mapping gives {role} no column")
        out[role] = str(header).strip()
    return out


def aggregate(pairs: Iterable[tuple[str, int]]) -> list[LoggedQuery]:
    """(query, count) pairs as distinct queries, counts summed: queries the same when folded are one (the first
    spelling kept). Most searched first, then by query; empty queries are left out."""
    merged: dict[str, list] = {}
    for query, count in pairs:
        query = str(query or "").strip()
        key = folded(query)
        if not key:
            continue
        if key in merged:
            merged[key][1] += int(count)
        else:
            merged[key] = [query, int(count)]
    return sorted((LoggedQuery(q, c) for q, c in merged.values()), key=lambda q: (-q.count, q.query))


class TooManySearches(ValueError):
    """A count past MAX_COUNT."""


def parse_count(text: str) -> int:
    """A search count: '12', '1,234' (GA's thousands), '12.0'; ValueError, saying why, for anything else (a
    negative or fractional count, a word, an empty cell, more than MAX_COUNT)."""
    text = text.strip()
    if not COUNT_TEXT.fullmatch(text):
        raise ValueError("is not a whole number of searches")
    digits = text.partition(".")[0].replace(",", "").lstrip("0") or "0"
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:  # length first: int() of 5,000 digits refuses
        raise TooManySearches(f"is more searches than a row may count (at most {MAX_COUNT:,})")
    return int(digits)


# ---- reading ------------------------------------------------------------------------------------

def _open(source, name: str | None) -> tuple[IO[bytes], str]:
    """A binary stream of the source and the name messages use; CatalogError when it cannot be read or is larger
    than MAX_BYTES."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        name = name or ""
        _check_size(name, len(raw))
        return io.BytesIO(raw), name
    if hasattr(source, "read"):
        name = name or getattr(source, "name", None) or ""
        size = getattr(source, "size", None)
        if size is not None:
            _check_size(name, size)
        source.seek(0)
        raw = source.read(MAX_BYTES + 1)
        _check_size(name, len(raw))
        return io.BytesIO(raw), name
    path = Path(source)
    name = name or str(path)
    try:
        if path.is_dir():
            raise CatalogError(f"{_called(name)} is a folder, not a CSV file")
        stream = open(path, "rb")
    except FileNotFoundError:
        raise CatalogError(f"search log not found: {name}") from None
    except OSError as exc:
        raise CatalogError(f"search log cannot be read: {name}: {exc.strerror or exc}") from None
    try:
        _check_size(name, os.fstat(stream.fileno()).st_size)
    except BaseException:
        stream.close()
        raise
    return stream, name


def _called(name: str) -> str:
    return f"search log {name}" if name else "the search log"


def _check_size(name: str, size: int) -> None:
    if size > MAX_BYTES:
        raise CatalogError(f"{_called(name)} is {size / MB:,.1f} MB; a search log may be at most "
                           f"{MAX_BYTES // MB:,} MB (the catalogue's limit); export a shorter period")


def _text(stream: IO[bytes], name: str) -> tuple[io.TextIOWrapper, str]:
    """The stream as text, decoded as a catalogue is: UTF-8 (invalid bytes kept visible, the row then reported),
    or UTF-16/32 after a byte-order mark (which must then be valid); and the encoding."""
    head = stream.read(NUL_PROBE_BYTES)
    try:
        encoding, skip = encoding_of(head, Path(name or 'search log'))
    except CatalogError:  # encoding_of's one refusal: NUL bytes and no byte-order mark
        raise CatalogError(f"{_called(name)} looks like UTF-16 without a byte-order mark (it is full of NUL "
                           "bytes); save it as UTF-8 (in Excel: CSV UTF-8)") from None
    stream.seek(skip)
    errors = "surrogateescape" if encoding == "utf-8" else "strict"
    return io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline=""), encoding


def _decoded(text: io.TextIOWrapper, name: str, encoding: str) -> Iterator[str]:
    try:
        yield from text
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{_called(name)} starts with a {encoding} byte-order mark but is not valid "
                           f"{encoding} ({exc.reason}); save it as UTF-8") from None


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _read(lines: Iterator[str], name: str, columns: dict[str, str], max_queries: int) -> SearchLog:
    """Skip the comment lines (GA's report header) and blank lines before the header, sniff the separator from
    the header line, then read the rows. After a commented preamble, a blank line then a comment line starts GA's
    next table (Universal Analytics' totals by day): the queries end there. A query may start with '#' ("#1 tee")."""
    commented = False
    header_line = None
    line_no = 0
    for line in lines:
        line_no += 1
        if _comment(line):
            commented = True
        elif line.strip():
            header_line = line
            break
    if header_line is None:
        raise CatalogError(f"{_called(name)} is empty or has no header row: it needs a query column "
                           "(Search term, Search query, Query...) and may have a count column")
    delimiter = sniff_delimiter(header_line)
    rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter, strict=True)
    header = [h.strip() for h in next(rows)]
    found = columns_found(header, DELIMITER_NAMES[delimiter])
    query_at, count_at = _choose(header, columns, found)
    log = SearchLog(query_column=header[query_at], count_column=None if count_at is None else header[count_at])
    skipped = _Skipped()
    pairs: list[tuple[str, int]] = []
    blank = False  # the row before was blank
    while True:
        row_no = line_no + rows.line_num  # the file's line where the next row starts (line_no: the header's)
        try:
            fields = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            log.rows += 1
            skipped.add("broken", f"row {row_no}: unreadable CSV row ({exc})")
            continue
        if not any(f.strip() for f in fields):
            blank = True
            continue
        if commented and blank and _comment(fields[0]):
            break
        blank = False
        log.rows += 1
        query = fields[query_at] if query_at < len(fields) else ""
        if any("\udc80" <= ch <= "\udcff" for ch in query):
            skipped.add("broken", f"row {row_no}: the query is not valid UTF-8 text")
            continue
        if not folded(query):
            skipped.add("empty", "")
            continue
        count = 1
        if count_at is not None:
            cell = fields[count_at] if count_at < len(fields) else ""
            try:
                count = parse_count(cell)
            except ValueError as exc:
                skipped.add("large" if isinstance(exc, TooManySearches) else "count",
                            f"row {row_no}: {log.count_column} {shown(cell)} {exc}")
                continue
        pairs.append((query, count))
    if count_at is not None and skipped.counts.get("count") and not pairs:
        raise ColumnNeeded(f"{_called(name)}: column {log.count_column!r} holds no search counts "
                           f"({skipped.first_count}); ", COUNT, ", or leave the count out with a file of queries alone")
    queries = aggregate(pairs)
    log.queries = queries[:max_queries]
    log.notes = skipped.notes()
    if len(queries) > max_queries:
        log.left_out = len(queries) - max_queries
        log.left_out_searches = sum(q.count for q in queries[max_queries:])
        log.notes.insert(0, f"only the {max_queries:,} most searched of {len(queries):,} distinct queries are kept: "
                            f"{log.left_out:,} less searched quer{'y' if log.left_out == 1 else 'ies'} "
                            f"({log.left_out_searches:,} search{'' if log.left_out_searches == 1 else 'es'}) "
                            "left out")
    return log


def _choose(header: list[str], columns: dict[str, str], found: str) -> tuple[int, int | None]:
    """(query column, count column or None): the ones `columns` names, else the best known header of each."""
    keys = [column_key(h) for h in header]

    def named(role: str) -> int | None:
        wanted = columns.get(role)
        if wanted is None:
            return None
        for i, h in enumerate(header):
            if h == wanted:
                return i
        for i, key in enumerate(keys):  # 'search term' names 'Search Term'
            if key and key == column_key(wanted):
                return i
        raise ColumnNeeded(f"the search log has no column {wanted!r} for the {role}; {found}; ", role)

    def detected(candidates: tuple[str, ...], not_at: int | None = None) -> int | None:
        for candidate in candidates:
            for i, key in enumerate(keys):
                if key == candidate and i != not_at:
                    return i
        return None

    query_at = named(QUERY)
    if query_at is None:
        query_at = detected(QUERY_HEADERS)
    if query_at is None:
        raise ColumnNeeded(f"the search log has no query column (Search term, Search query, Query...); {found}; ",
                           QUERY)
    count_at = named(COUNT) if COUNT in columns else detected(COUNT_HEADERS, not_at=query_at)
    if count_at == query_at:
        raise CatalogError(f"the search log's query and count cannot be one column ({header[query_at]!r})")
    return query_at, count_at


class _Skipped:
    """Rows left out, by why: each named up to MAX_NOTES, then counted."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.named: list[str] = []
        self.first_count = ""

    def add(self, why: str, note: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        if why == "count" and not self.first_count:
            self.first_count = note
        if note and len(self.named) < MAX_NOTES:
            self.named.append(note)

    def notes(self) -> list[str]:
        out = []
        empty = self.counts.get("empty", 0)
        if empty:
            out.append(f"{empty:,} row{'s' if empty != 1 else ''} with an empty query skipped")
        bad = self.counts.get("count", 0)
        if bad:
            out.append(f"{bad:,} row{'s' if bad != 1 else ''} skipped: the count is not a whole number of searches")
        large = self.counts.get("large", 0)
        if large:
            out.append(f"{large:,} row{'s' if large != 1 else ''} skipped: the count is more searches than a row "
                       f"may count (at most {MAX_COUNT:,})")
        out += [f"skipped {n}" for n in self.named]
        more = sum(v for k, v in self.counts.items() if k != "empty") - len(self.named)
        if more > 0:
            out.append(f"... and {more:,} more rows skipped")
        return out
