"""Commands that read the index: `search`, `browse`, `facets` and `duplicates`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.common import filter_args, filters_of, model_for, open_reader, runtime_arg, sort_arg
from core.common.config import Settings

SHOWN_PAIRS = 5  # per group in the text output of `duplicates`; --json has them all


def add_search_commands(sub) -> None:
    search = sub.add_parser("search", help="text, image or hybrid search")
    search.add_argument("query", nargs="?", default="",
                        help="query text (or --text): words, a SKU, a handle or a product id, or a description")
    search.add_argument("--text", default="", help="query text")
    match = search.add_mutually_exclusive_group()
    match.add_argument("--keywords-only", action="store_const", dest="match", const="keywords",
                       help="text: match the keyword index alone (a SKU, a brand, a rare title word)")
    match.add_argument("--meaning-only", action="store_const", dest="match", const="meaning",
                       help="text: match by CLIP alone, as a description of what the product looks like")
    search.set_defaults(match="both")
    search.add_argument("--image", type=Path, help="query image file (reverse image search)")
    search.add_argument("--like", default="", help="a catalogue product id to find look-alikes of")
    search.add_argument("--weight", type=float, default=0.5, help="hybrid: share of the text query, 0..1")
    search.add_argument("--fusion", choices=["weighted", "rrf"], default="weighted")
    search.add_argument("--text-vectors", action="store_true", help="text mode: also match product texts (RRF)")
    filter_args(search)
    hidden_arg(search)
    search.add_argument("--limit", type=int, default=12)
    search.add_argument("--offset", type=int, default=0)
    sort_arg(search, "; by a field, every result takes its place in that order, an exact SKU/id match too")
    search.add_argument("--threshold", type=float,
                        help="drop results below this CLIP similarity (a text search keeps its keyword and SKU "
                             "matches whatever CLIP says)")
    search.add_argument("--diverse", action="store_true",
                        help="re-rank with MMR for variety (a text search: the fused list of words and meaning, "
                             "products without a photo kept in place; not with --keywords-only)")
    search.add_argument("--positive", action="append", default=[], help="liked product id (repeatable)")
    search.add_argument("--negative", action="append", default=[], help="disliked product id (repeatable)")
    runtime_arg(search)
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=cmd_search)

    browse = sub.add_parser("browse", help="list products with no query: filters, ranges and a sort")
    filter_args(browse)
    hidden_arg(browse)
    sort_arg(browse)
    browse.add_argument("--limit", type=int, default=24)
    browse.add_argument("--offset", type=int, default=0)
    browse.add_argument("--json", action="store_true")
    browse.set_defaults(run=cmd_browse)

    facet = sub.add_parser("facets", help="counts per attribute value (and number ranges) under the filters")
    filter_args(facet)
    hidden_arg(facet)
    facet.add_argument("--json", action="store_true")
    facet.set_defaults(run=cmd_facets)

    dupes = sub.add_parser("duplicates", help="groups of near-identical product images")
    dupes.add_argument("--threshold", type=float, default=0.95)
    filter_args(dupes)
    hidden_arg(dupes)
    dupes.add_argument("--json", action="store_true")
    dupes.set_defaults(run=cmd_duplicates)


def hidden_arg(parser) -> None:
    parser.add_argument("--show-hidden", action="store_true",
                        help="also draft and archived products (left out by default; --filter status=draft "
                             "asks for those alone)")


def cmd_search(args, settings: Settings) -> int:
    from core.common.errors import BadQuery
    from core.common.fields import SortKey
    from core.search.query import SearchRequest, search, search_notes

    if args.query and args.text:
        raise BadQuery("give the query text once: as the argument or with --text, not both")
    image = None
    if args.image is not None:
        from core.ingest.images import open_image

        # Read and decode it first: a missing file, a folder, a pipe or a non-image fails before the model loads.
        image = open_image(args.image, settings.max_pixels)
    request = SearchRequest(text=args.query or args.text, match=args.match, image=image, like=args.like, weight=args.weight,
                            fusion=args.fusion, use_text_vectors=args.text_vectors, filters=filters_of(args),
                            limit=args.limit, offset=args.offset, threshold=args.threshold, diverse=args.diverse,
                            positives=tuple(args.positive), negatives=tuple(args.negative),
                            sort=SortKey.parse(args.sort), show_hidden=args.show_hidden)
    settings = settings.with_overrides(runtime=args.runtime)
    embedder = model_for(settings) if request.needs_model else None
    store = open_reader(settings)
    try:
        results = search(store, request, embedder, settings.max_pixels)
        notes = search_notes(store, request)
    finally:
        store.close()
    for note in notes:  # on stderr: stdout stays the results alone (--json parses)
        print(f"note: {note}", file=sys.stderr)
    if args.json:  # each result says why: the query words it holds, a SKU/handle/id match, its CLIP similarity
        print(json.dumps([dict(r.as_dict(), matched_words=r.matched_words, exact_match=r.exact,
                               similarity=r.similarity) for r in results]))
    else:
        print_results(results, args.offset, scores=True)
    return 0


def print_results(results, offset: int, scores: bool) -> None:
    """One line per result. Ordered by similarity, the line leads with it (the score); ranked otherwise (words and
    meaning, feedback), it ends with why the result is there ("SKU match · matched: red, tee · similarity 0.31")
    instead of an RRF or recommend score nobody can read."""
    for rank, r in enumerate(results, start=offset + 1):
        price = f"  {r.price}" if r.price else ""
        why = r.why() if scores and r.rank is not None else ""
        score = f"{r.score:.3f}  " if scores and r.score is not None and not why else ""
        print(f"{rank:>3}. {score}[{r.product_id}] {r.title}{price}" + (f"  · {why}" if why else ""))
    if not results:
        print("no results")


def cmd_browse(args, settings: Settings) -> int:
    from core.common.fields import SortKey
    from core.search.query import browse

    store = open_reader(settings)
    try:
        page = browse(store, filters_of(args), SortKey.parse(args.sort), args.limit, args.offset, args.show_hidden)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"total": page.total, "products": [r.as_dict() for r in page.results]}))
    else:
        print(f"{page.total:,} products match")
        print_results(page.results, args.offset, scores=False)
    return 0


def cmd_facets(args, settings: Settings) -> int:
    from core.search.query import facets, number_ranges

    store = open_reader(settings)
    try:
        filters = filters_of(args)
        counts = facets(store, filters, show_hidden=args.show_hidden)
        ranges = number_ranges(store, filters, show_hidden=args.show_hidden)
    finally:
        store.close()
    if args.json:  # keyword fields: value counts; number fields: their min and max under the other filters
        print(json.dumps({**{k: [{"value": v, "count": c} for v, c in vc] for k, vc in counts.items()},
                          **{k: {"min": low, "max": high} for k, (low, high) in ranges.items()}}))
    else:
        for name, vc in counts.items():
            print(f"{name}: " + ", ".join(f"{v} ({c})" for v, c in vc))
        for name, (low, high) in ranges.items():
            print(f"{name}: {low:g} to {high:g}")
    return 0


def cmd_duplicates(args, settings: Settings) -> int:
    from core.curation.duplicate_dismissals import DuplicateDismissals
    from core.search.duplicates import near_duplicates

    # "not duplicates" on the Catalog page, for this collection: left out
    dismissed = DuplicateDismissals(settings.data_dir, settings.collection).pairs()
    store = open_reader(settings)
    try:
        groups = near_duplicates(store, args.threshold, filters_of(args), dismissed=dismissed,
                                 show_hidden=args.show_hidden)
    finally:
        store.close()
    if args.json:
        print(json.dumps([g.as_dict() for g in groups]))
    else:
        for g in groups:  # the closest pairs only: a loose threshold links thousands
            more = f", {len(g.pairs) - SHOWN_PAIRS:,} more" if len(g.pairs) > SHOWN_PAIRS else ""
            print(f"{len(g.product_ids)} products: " + ", ".join(g.product_ids) + "  ("
                  + ", ".join(f"{a}~{b} {s:.3f}" for a, b, s in g.pairs[:SHOWN_PAIRS]) + more + ")")
        if not groups:
            print(f"no near-duplicates at threshold {args.threshold}")
    return 0
