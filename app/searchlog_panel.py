"""The Search log page's parts: the upload and its options, the reading and the diagnosis (cached per upload and
settings), the counts per verdict, a table per verdict, the products found by meaning beside the words they lack,
"Search this" links and the CSV exports. The diagnosis itself is core.insights.searchlog's.

Every query is public input (whatever a shopper typed): it is shown through md() or in a dataframe's text cell,
and reaches a link only URL-encoded, as the value of the Search page's q parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from app import references, resources, upload_panel
from core.common.config import Settings
from core.common.errors import LensError
from core.common.safe_text import md
from core.curation.urlstate import SearchState
from core.index.store import ProductStore
from core.ingest.search_log import COUNT, QUERY, ColumnNeeded, SearchLog, read_search_log
from core.insights.searchlog import (FOUND, GAP, MAX_PRODUCTS, TEXT_MATCH_THRESHOLD, THRESHOLD_WHY, VERDICTS, WORDS,
                                     Diagnosis, gaps_csv, keyword_notes, summary, synonyms_csv)

SEARCH_PAGE = "./"  # the Search page is the app's default page: it is served at the app's root
# Each verdict's heading and what it asks of the merchandiser.
HEADINGS = {
    GAP: ("Not stocked", "Neither our words nor the meaning of our photos find it: a gap in the range to buy for."),
    WORDS: ("Stocked under other words", ("No product holds every word, but CLIP finds products that look like "
                                          "the query: add the words they lack as tags or synonyms.")),
    FOUND: ("Found", "Our products' words already find it."),
}
CARDS = 10        # query cards per verdict before "Show more"
UPLOADER = "searchlog_upload"
SAVED = "searchlog_saved"  # the page's choices and its upload, kept across visits to other pages (see _restore)
KEPT = {"searchlog_query_col": "", "searchlog_count_col": "", "searchlog_threshold": TEXT_MATCH_THRESHOLD,
        "searchlog_reference": ""}
PHOTO_PX = 120    # a product's thumbnail on a card


@dataclass(frozen=True)
class Upload:
    """The uploaded export: its name and bytes (the cache key of what is read and diagnosed from it)."""

    name: str
    data: bytes


# ---- the upload and its options ----------------------------------------------------------------------------

def _restore() -> dict:
    """Put back the page's choices after a visit to another page, and return what was kept. Streamlit drops the
    state of widgets a run does not draw, so a page left and opened again would start afresh; a value assigned
    before a widget is drawn is its value (as the Search page keeps its query)."""
    kept = st.session_state.setdefault(SAVED, {})
    for key, default in KEPT.items():
        if key not in st.session_state:
            st.session_state[key] = kept.get(key, default)
    return kept


def upload() -> tuple[Upload | None, dict[str, str]]:
    """The uploaded export (None before one is; the last one after a visit to another page, which drops an
    uploader's file) and the columns named by hand ({} to detect them)."""
    kept = _restore()
    came_back = UPLOADER not in st.session_state  # the uploader was not drawn in the last run: a page switch
    left, right = st.columns([3, 2])
    file = upload_panel.catalogue_uploader(left, "Search-terms export (CSV)", key=UPLOADER)
    with right.expander("Columns", expanded=bool(st.session_state["searchlog_query_col"])):
        st.caption("Only when the query column is not found: its header as the file has it.")
        query = st.text_input("Query column", key="searchlog_query_col", placeholder="e.g. Search term").strip()
        count = st.text_input("Count column", key="searchlog_count_col", placeholder="e.g. Searches").strip()
    columns = {role: header for role, header in ((QUERY, query), (COUNT, count)) if header}
    if file is not None:
        kept.update(upload=Upload(file.name, file.getvalue()), earlier=False)
    elif came_back or kept.get("earlier"):
        kept["earlier"] = kept.get("upload") is not None
    else:  # the user removed the file
        kept.update(upload=None, earlier=False)
    if kept.get("earlier"):
        note, forget = left.columns([4, 1], vertical_alignment="center")
        note.caption(f"Showing {md(kept['upload'].name)}, uploaded earlier: upload another file to replace it.")
        forget.button("Clear", key="searchlog_forget", on_click=kept.update, kwargs={"upload": None, "earlier": False})
    return kept.get("upload"), columns


def options(config: Settings) -> tuple[float, str | None]:
    """The threshold of a match by meaning, and the reference catalogue whose products a gap names (if any)."""
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    threshold = left.slider("A product means the query at a similarity of at least", 0.0, 1.0, step=0.01,
                            key="searchlog_threshold",
                            help=f"CLIP's similarity of the query's text to a product's photo: {THRESHOLD_WHY}.")
    with right:
        reference = references.pick_reference(references.references(config), key="searchlog_reference",
                                              label="Name a gap's closest products from", none="(no reference)")
    kept = st.session_state[SAVED]
    kept.update({key: st.session_state.get(key) for key in KEPT})
    return float(threshold), reference


# ---- reading and diagnosing (cached) -------------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner="Reading the search log…")
def _read(data: bytes, name: str, columns: tuple) -> SearchLog:
    return read_search_log(data, dict(columns) or None, name=name)


def read(file: Upload, columns: dict[str, str]) -> SearchLog | None:
    """The log's distinct queries, the rows it skipped said; None, with the reader's error shown, when the file
    cannot be a search log."""
    try:
        log = _read(file.data, file.name, tuple(sorted(columns.items())))
    except ColumnNeeded as exc:
        st.error(f"{md(exc.said('under “Columns” above, as the header row has it'))}.")
        return None
    except LensError as exc:
        st.error(f"{md(exc)}.")
        return None
    counted = f" (counts from “{md(log.count_column)}”)" if log.count_column else " (each row one search)"
    st.caption(f"{len(log.queries):,} distinct queries from {log.rows:,} rows of “{md(log.query_column)}”"
               f"{counted}, {log.searches:,} searches in all.")
    if log.notes:
        with st.expander(f"Rows left out ({len(log.notes)} notes)"):
            for note in log.notes:
                st.caption(md(note))
    return log


@st.cache_data(max_entries=8, show_spinner=False)
def _diagnosis(store_key: str, index_stamp, model: str, data: bytes, columns: tuple, threshold: float,
               reference: str | None, reference_stamp, _config: Settings, _store: ProductStore, _embedder,
               _log: SearchLog) -> list[Diagnosis]:
    """Every query diagnosed; recomputed only for another upload (its bytes), columns, threshold, reference, or
    when an index changes (the stamps). The progress bar is emptied at the end, so a cached answer shows none."""
    from core.insights.searchlog import diagnose

    total = len(_log.queries)
    bar = st.progress(0.0, text=f"Diagnosing {total:,} queries…")

    def progress(done: int, of: int) -> None:
        bar.progress(done / of if of else 1.0, text=f"Diagnosing the queries: {done:,} of {of:,}")

    try:
        if reference is None:
            return diagnose(_store, _embedder, _log, threshold, progress=progress)
        with references.opened(_config, reference) as theirs:
            return diagnose(_store, _embedder, _log, threshold, reference=theirs, progress=progress)
    finally:
        bar.empty()


def diagnose(config: Settings, store: ProductStore, meta: dict, file: Upload, columns: dict[str, str],
             log: SearchLog, threshold: float, reference: str | None) -> list[Diagnosis] | None:
    """The diagnoses, gap then words then found; None, with the error shown, when the diagnosis cannot run."""
    try:
        diagnoses = _diagnosis(resources.store_key(config), meta.get("last_indexed"), config.model, file.data,
                               tuple(sorted(columns.items())), threshold, reference,
                               references.stamp_of(config, reference) if reference else None, config, store,
                               resources.embedder_for(config), log)
    except LensError as exc:
        st.error(md(exc))
        return None
    for note in keyword_notes(store):
        st.warning(md(note))
    return diagnoses


# ---- showing it ----------------------------------------------------------------------------------------------

def search_url(query: str) -> str:
    """The Search page searching for `query`: a relative link whose only parameter is the URL-encoded query, cut as
    the Search page reads a link (SearchState's own limits, so the link opens what the page will search)."""
    params = SearchState.from_params({"q": [query]}).to_params()
    return SEARCH_PAGE + "?" + urlencode(params, doseq=True)


def counts(diagnoses: list[Diagnosis]) -> None:
    """Per verdict: its queries, and the searches they stand for (lost ones, for a gap)."""
    totals = summary(diagnoses)
    for column, verdict in zip(st.columns(len(VERDICTS)), VERDICTS):
        searches = totals[verdict]["searches"]
        column.metric(HEADINGS[verdict][0], _queries(totals[verdict]["queries"]),
                      f"{searches:,} {'lost ' if verdict != FOUND else ''}searches", delta_color="off",
                      delta_arrow="off", border=True, help=HEADINGS[verdict][1])


def exports(diagnoses: list[Diagnosis]) -> None:
    """The synonyms list (words) and the gap list as CSV downloads; every cell formula-safe (core's exports)."""
    totals = summary(diagnoses)
    left, right = st.columns(2)
    words, gaps = totals[WORDS]["queries"], totals[GAP]["queries"]
    left.download_button(f"Synonyms list: {_queries(words)} (CSV)", synonyms_csv(diagnoses),
                         file_name="search-log-synonyms.csv", mime="text/csv", key="searchlog_synonyms",
                         icon=":material/download:", disabled=not words, width="stretch")
    right.download_button(f"Gap list: {_queries(gaps)} (CSV)", gaps_csv(diagnoses), file_name="search-log-gaps.csv",
                          mime="text/csv", key="searchlog_gaps", icon=":material/download:", disabled=not gaps,
                          width="stretch")


def _queries(n: int) -> str:
    return f"{n:,} {'query' if n == 1 else 'queries'}"


def _titles(products) -> str:
    return "; ".join(p.title or f"#{p.product_id}" for p in products or ())


def _similarity(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table_of(diagnoses: list[Diagnosis], verdict: str, reference: str | None = None) -> pd.DataFrame:
    """One verdict's queries as a table of plain values, most searched first."""
    rows = [d for d in diagnoses if d.verdict == verdict]
    frame = {"Query": [d.query for d in rows], "Searches": [d.count for d in rows]}
    if verdict == FOUND:
        frame["Keyword hits"] = [d.keyword_hits for d in rows]
        frame["Products"] = [_titles(d.products) for d in rows]
    elif verdict == WORDS:
        frame["Words to add"] = [", ".join(d.suggested_words) for d in rows]
        frame["Found by meaning"] = [_titles(d.products) for d in rows]
        frame["Similarity"] = [_similarity(d.best_similarity) for d in rows]
    else:
        frame["Closest of ours"] = [_titles(d.products[:1]) for d in rows]
        frame["Similarity"] = [_similarity(d.best_similarity) for d in rows]
        if reference:
            frame[f"Closest in {reference}"] = [_titles(d.reference_products) for d in rows]
    return pd.DataFrame(frame)


def table(diagnoses: list[Diagnosis], verdict: str, reference: str | None = None) -> None:
    """The table: text columns stay text (a query "https://…" is no link, "**x**" no bold), numbers stay numbers."""
    frame = table_of(diagnoses, verdict, reference)
    config = {name: (st.column_config.NumberColumn(name, format="%.3f") if name == "Similarity" else
                     st.column_config.NumberColumn(name, format="%d") if name in ("Searches", "Keyword hits") else
                     st.column_config.TextColumn(name)) for name in frame.columns}
    st.dataframe(frame, hide_index=True, column_config=config)


def _product(config: Settings, result, match) -> None:
    """A product found for a query: thumbnail, title and, for 'words', what it lacks; all as plain text."""
    thumb = resources.thumbnail_for(result.image_path, config, PHOTO_PX) if result else None
    if thumb:
        st.image(thumb, width=PHOTO_PX)
    st.caption(md(match.title or "#" + match.product_id))
    if match.lacks:
        st.caption(f"lacks: {md(', '.join(match.lacks))}")


def _about(diagnosis: Diagnosis) -> None:
    """The query as typed, its searches, and what the verdict adds: the words to add, the reference's closest."""
    st.markdown(f"**{md(diagnosis.query)}**")
    hits = diagnosis.keyword_hits
    hits = f" · {hits:,} keyword hit{'' if hits == 1 else 's'}" if diagnosis.verdict == FOUND else ""
    st.caption(f"{diagnosis.count:,} search{'' if diagnosis.count == 1 else 'es'}{hits}")
    if diagnosis.suggested_words:
        st.markdown(f"Words to add: **{md(', '.join(diagnosis.suggested_words))}**")
    if diagnosis.reference_products:
        st.caption(f"Closest in the reference: {md(_titles(diagnosis.reference_products))}")
    for note in diagnosis.notes:
        st.caption(md(note))


def _search_this(diagnosis: Diagnosis) -> None:
    st.link_button("Search this", search_url(diagnosis.query), icon=":material/search:",
                   help="Opens the Search page with this query, in a new tab")


def card(config: Settings, diagnosis: Diagnosis, results: dict, n: int) -> None:
    """One query and "Search this"; for 'words', the products found by meaning beside the words they lack (a gap's
    closest of ours are not what it means, and the table lists a found query's products)."""
    with st.container(border=True, key=f"searchlog-{diagnosis.verdict}-{n}"):
        if diagnosis.verdict != WORDS:
            text, action = st.columns([5, 1], vertical_alignment="center")
            with text:
                _about(diagnosis)
            with action:
                _search_this(diagnosis)
            return
        text, found = st.columns([2, 5], gap="medium")
        with text:
            _about(diagnosis)
            _search_this(diagnosis)
        with found:
            for column, match in zip(st.columns(MAX_PRODUCTS), diagnosis.products):
                with column:
                    _product(config, results.get(match.product_id), match)


def section(config: Settings, store: ProductStore, diagnoses: list[Diagnosis], verdict: str,
            reference: str | None = None) -> None:
    """A verdict's heading, table and query cards (a page at a time)."""
    from core.search.query import get_products

    rows = [d for d in diagnoses if d.verdict == verdict]
    title, explained = HEADINGS[verdict]
    st.subheader(f"{title} ({len(rows):,})", anchor=False)
    st.caption(explained)
    if not rows:
        st.caption("No query of the log.")
        return
    table(diagnoses, verdict, reference)
    shown_key, listing = f"searchlog_shown_{verdict}", (len(rows), rows[0].query, rows[-1].query)
    if st.session_state.get(f"searchlog_listing_{verdict}") != listing:  # another log, or threshold: one page again
        st.session_state[f"searchlog_listing_{verdict}"], st.session_state[shown_key] = listing, CARDS
    shown = st.session_state[shown_key]
    listed = rows[:shown]
    results = {r.product_id: r for r in get_products(store, list(dict.fromkeys(
        p.product_id for d in listed if d.verdict == WORDS for p in d.products)))}
    for n, diagnosis in enumerate(listed):
        card(config, diagnosis, results, n)
    if len(rows) > shown:
        st.button(f"Show {min(CARDS, len(rows) - shown)} more", key=f"searchlog_more_{verdict}",
                  on_click=st.session_state.update, kwargs={shown_key: shown + CARDS})
