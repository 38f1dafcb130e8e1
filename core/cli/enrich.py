"""`enrich`: missing attributes proposed zero-shot from the stored vectors, and their review (issue 23)."""

from __future__ import annotations

import json
import shlex

from core.cli.common import close_store, filter_args, filters_of, model_for, open_reader, open_writer, progress_bar
from core.common.config import Settings
from core.common.errors import LensError

SHOWN = 20  # proposals printed after the summary (--json gives them all)


def add_enrich_commands(sub) -> None:
    """`enrich` (propose values, saved as the review queue) and its review: `enrich accept|reject|undo`."""
    enr = sub.add_parser("enrich", help="propose a missing attribute's values from the stored photo (or text) "
                                        "vectors, with a confidence; review them (enrich accept|reject|undo)")
    enr.add_argument("--attribute", metavar="NAME", help="the attribute to fill, like pattern")
    enr.add_argument("--values", metavar="V1,V2,...", help="the values to choose between (2 to 100)")
    enr.add_argument("--from", dest="source", choices=["photo", "text", "both"], default="photo",
                     help="what to read: every photo's vector (default), the product's text vector, or both")
    enr.add_argument("--overwrite", action="store_true",
                     help="propose changes to values the products already have too (default: empty ones only)")
    filter_args(enr)
    enr.add_argument("--json", action="store_true")
    enr.set_defaults(run=cmd_enrich)
    actions = enr.add_subparsers(dest="enrich_action", metavar="{accept,reject,undo}")  # none: propose
    accept = actions.add_parser("accept", help="accept a proposal (or every one above a confidence): the value is "
                                               "stored at once and re-applied at every index run")
    accept.add_argument("--attribute", metavar="NAME", required=True)
    way = accept.add_mutually_exclusive_group(required=True)
    way.add_argument("--product", metavar="ID", help="the product whose proposal is accepted")
    way.add_argument("--min-confidence", type=float, metavar="C",
                     help="accept every pending proposal with confidence C (0-1) or more")
    accept.add_argument("--value", metavar="V", help="your own value instead of the proposed one (with --product)")
    accept.set_defaults(run=cmd_enrich_accept)
    reject = actions.add_parser("reject", help="reject a proposal: it leaves the review queue")
    reject.add_argument("--attribute", metavar="NAME", required=True)
    reject.add_argument("--product", metavar="ID", required=True)
    reject.set_defaults(run=cmd_enrich_reject)
    undo = actions.add_parser("undo", help="take back a decision: an accepted value is replaced by the one before")
    undo.add_argument("--attribute", metavar="NAME", required=True)
    undo.add_argument("--product", metavar="ID", required=True)
    undo.set_defaults(run=cmd_enrich_undo)


def cmd_enrich(args, settings: Settings) -> int:
    from core.insights.enrich import check_request, check_scope, enrich
    from core.insights.enrich_decisions import EnrichmentDecisions

    if not args.attribute or args.values is None:
        raise LensError("enrich needs --attribute NAME and --values V1,V2,... (or an action: accept, reject, undo)")
    attribute, values = check_request(args.attribute, args.values)  # bad input is reported before the model loads
    filters = filters_of(args)
    store = open_reader(settings)
    failing = True
    bar, progress = progress_bar("enrich")
    try:
        store.require_meta()
        check_scope(store, attribute, args.source, filters)  # an empty filter result too: before the model loads
        result = enrich(store, model_for(settings), attribute, values, args.source, args.overwrite, filters,
                        progress)
        failing = False
    finally:
        bar.close()
        close_store(store, failing)
    EnrichmentDecisions(settings.data_dir).save(result)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    for line in summary_lines(result):
        print(line)
    for p in result.proposals[:SHOWN]:
        current = f"{p.current} -> " if p.current else ""
        print(f"{p.product_id}  {current}{p.proposed}  confidence {p.confidence:.2f}")
    if len(result.proposals) > SHOWN:
        print(f"... {len(result.proposals) - SHOWN} more (--json lists them all; the Enrich page reviews them)")
    if result.proposals:
        print(f"accept: python -m core enrich accept --attribute {attribute} --product ID  "
              f"(or --min-confidence C for every one above C)")
    return 0


def summary_lines(result) -> list[str]:
    """What a run found, and how far to trust it, in plain words."""
    s, skipped = result.summary, result.details.get("skipped", 0)
    lines = [f"{result.attribute}: {s['products']} product(s) read, {s['proposed']} proposal(s), "
             f"{s['not_applicable']} not applicable (no value fits better than none), {skipped} skipped "
             f"(no {'photo' if result.source == 'photo' else 'vector'})"]
    if s["known"]:
        lines.append(f"accuracy on the {s['known']} product(s) whose value is known: "
                     f"{100 * s['accuracy_on_known']:.1f}%")
    else:
        lines.append("no product has one of these values yet: the accuracy cannot be measured")
    if result.details.get("confidence") == "calibrated":
        lines.append("confidence: the share of known products with that confidence or more whose value was right")
    else:
        lines.append("confidence: the raw margin between the top two values (too few known products to calibrate)")
    return lines


def _undo_hint(attribute: str, product_id: str) -> str:
    return f"python -m core enrich undo --attribute {attribute} --product {shlex.quote(product_id)}"


def cmd_enrich_accept(args, settings: Settings) -> int:
    from core.insights.enrich_decisions import EnrichmentDecisions

    if args.value is not None and args.product is None:
        raise LensError("--value goes with --product: your own value for one product")
    decisions = EnrichmentDecisions(settings.data_dir)
    store = open_writer(settings)
    failing = True
    try:
        if args.product is not None:
            made = [decisions.accept(store, args.attribute, args.product, args.value)]
        else:
            made = decisions.accept_above(store, args.attribute, args.min_confidence)
        failing = False
    finally:
        close_store(store, failing)
    for a in made:
        print(f"#{a.product_id}'s {a.attribute}: {a.previous or 'empty'} -> {a.value}")
    if args.product is not None:
        print(f"(undo: {_undo_hint(args.attribute, args.product)})")
    else:
        left = len(decisions.pending(args.attribute))
        print(f"{len(made)} accepted, {left} still pending")
    return 0


def cmd_enrich_reject(args, settings: Settings) -> int:
    from core.insights.enrich_decisions import EnrichmentDecisions

    EnrichmentDecisions(settings.data_dir).reject(args.attribute, args.product)
    print(f"#{args.product}'s proposed {args.attribute} rejected (undo: {_undo_hint(args.attribute, args.product)})")
    return 0


def cmd_enrich_undo(args, settings: Settings) -> int:
    from core.insights.enrich_decisions import EnrichmentDecisions

    store = open_writer(settings)
    failing = True
    try:
        EnrichmentDecisions(settings.data_dir).undo(store, args.attribute, args.product)
        failing = False
    finally:
        close_store(store, failing)
    print(f"undone: #{args.product}'s {args.attribute} is back to what it was, and pending review again")
    return 0
