"""`searchlog`: diagnose a search-terms export (Shopify's searches with no results, Google Analytics site search)
against the index: found, words (add them as tags or synonyms), gap (we don't stock it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.common import close_store, model_for, open_reader, progress_bar, runtime_arg
from core.cli.search import hidden_arg
from core.common.config import Settings
from core.insights.searchlog import TEXT_MATCH_THRESHOLD, THRESHOLD_WHY

SHOWN_CHARS = 120  # a query longer than this is cut in the text output (JSON keeps it whole)
HEADINGS = {"gap": "gaps: we don't stock it", "words": "words: found by meaning, not by its words",
            "found": "found: our keywords find it"}


def add_searchlog_command(sub) -> None:
    log = sub.add_parser("searchlog", help="diagnose a search log (no-result searches): found, words to add, gaps")
    log.add_argument("--log", required=True, type=Path, help="the export: Shopify's searches with no results, "
                                                              "Google Analytics site search, or any CSV of queries")
    log.add_argument("--columns", default="", metavar="query=COLUMN,count=COLUMN",
                     help="the query and count columns, when their headers are not recognised")
    log.add_argument("--threshold", type=float, default=TEXT_MATCH_THRESHOLD,
                     help=f"CLIP text-to-photo similarity at which a product means the query (0..1); "
                          f"{THRESHOLD_WHY}")
    log.add_argument("--reference", metavar="NAME", help="name each gap's closest products in this reference "
                                                         "catalogue (see `reference list`)")
    hidden_arg(log)
    runtime_arg(log)
    log.add_argument("--json", action="store_true")
    log.set_defaults(run=cmd_searchlog)


def cmd_searchlog(args, settings: Settings) -> int:
    from core.common.errors import CatalogError
    from core.ingest.search_log import ColumnNeeded, check_columns, read_search_log
    from core.insights.gaps import check_threshold
    from core.insights.reference import check_name, open_reference
    from core.insights.searchlog import diagnose, keyword_notes, summary

    check_threshold(args.threshold)  # bad input before the log is read or a model loads
    if args.reference is not None:
        check_name(args.reference, settings.collection)
    try:
        log = read_search_log(args.log, check_columns(args.columns))
    except ColumnNeeded as exc:
        raise CatalogError(exc.said(f"with --columns {exc.role}=COLUMN")) from None
    for note in log.notes:
        print(f"note: {plain(note)}", file=sys.stderr)
    settings = settings.with_overrides(runtime=args.runtime)
    store = open_reader(settings)
    failing = True
    reference = None
    try:
        store.require_meta()  # "there is no index yet: run `python -m core index ...`" (not the reference one's words)
        if args.reference is not None:
            reference = open_reference(settings, args.reference)
            if reference.note:
                print(f"note: {reference.note}", file=sys.stderr)
        embedder = model_for(settings)
        for note in keyword_notes(store):
            print(f"note: {note}", file=sys.stderr)
        bar, progress = progress_bar("diagnosing", unit="query")
        try:
            diagnoses = diagnose(store, embedder, log, args.threshold, reference, args.show_hidden, progress)
        finally:
            bar.close()
        failing = False
    finally:
        if reference is not None:
            close_store(reference, failing)
        close_store(store, failing)
    if args.json:
        print(json.dumps([d.as_dict() for d in diagnoses]))
        return 0
    totals = summary(diagnoses)
    print(f"{len(diagnoses):,} queries, {log.searches:,} searches (query column {plain(log.query_column)!r}, "
          f"count column {plain(log.count_column or '-')!r}), threshold {args.threshold}")
    for verdict in ("gap", "words", "found"):
        rows = [d for d in diagnoses if d.verdict == verdict]
        queries, searches = totals[verdict]["queries"], totals[verdict]["searches"]
        print(f"\n{HEADINGS[verdict]}: {queries:,} quer{'y' if queries == 1 else 'ies'}, "
              f"{searches:,} search{'' if searches == 1 else 'es'}")
        for d in rows:
            print(describe(d))
    return 0


def describe(d) -> str:
    """A query's lines: its count, verdict, keyword hits, best match and similarity, suggested words, products."""
    best = "-" if d.best_id is None else f"[{plain(d.best_id)}] {d.best_similarity:.3f}"
    lines = [f"  {d.count:>7,}  {shown(d.query)}  ({d.verdict}; keyword hits {d.keyword_hits:,}; best {best})"]
    if d.suggested_words:
        lines.append(f"           add: {', '.join(plain(w) for w in d.suggested_words)}")
    for p in d.products:
        similarity = "" if p.similarity is None else f" {p.similarity:.3f}"
        lacks = f"  lacks: {', '.join(plain(w) for w in p.lacks)}" if p.lacks else ""
        lines.append(f"           [{plain(p.product_id)}] {shown(p.title)}{similarity}{lacks}")
    for p in d.reference_products or ():
        lines.append(f"           reference: [{plain(p.product_id)}] {shown(p.title)} {p.similarity:.3f}")
    for note in d.notes:
        lines.append(f"           note: {note}")
    return "\n".join(lines)


def plain(text) -> str:
    """Text for a terminal: control characters (an escape sequence could recolour or retitle the terminal) shown
    as escapes, never sent."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def shown(text) -> str:
    """plain(text), cut to SHOWN_CHARS."""
    text = str(text)
    return plain(text[:SHOWN_CHARS]) + ("…" if len(text) > SHOWN_CHARS else "")
