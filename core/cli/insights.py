"""Commands that analyse the index: `eval`, `audit` (its own module, core/cli/audit.py), `reference` (catalogues to
match against ours) and `gaps`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.audit import add_audit_commands
from core.cli.common import close_store, model_for, open_reader, progress_bar, runtime_arg
from core.cli.search import hidden_arg
from core.common.config import Settings
from core.common.errors import LensError
from core.ingest.formats import FORMATS  # --format's choices: auto and every format
from core.insights.gaps import MATCH_THRESHOLD


def add_insight_commands(sub) -> None:
    ev = sub.add_parser("eval", help="measure how well the index's model (or other models) finds this catalogue")
    ev.add_argument("--sample", type=int, help="evaluate N products drawn with a fixed seed (default: all)")
    ev.add_argument("--model", action="append", default=[], metavar="M",
                    help="measure this model instead, embedded on the sample in memory (repeatable)")
    runtime_arg(ev)
    hidden_arg(ev)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=cmd_eval)

    add_audit_commands(sub)

    ref = sub.add_parser("reference", help="reference catalogues (a competitor's, a supplier's) to match against ours")
    ref.set_defaults(run=cmd_reference)
    refs = ref.add_subparsers(dest="action", required=True)
    ref_add = refs.add_parser("add", help="index a reference catalogue into its own collection (incremental)")
    ref_add.add_argument("name", help="its name: lower-case letters, digits, - and _ (e.g. competitor-a)")
    ref_add.add_argument("--catalog", required=True, type=Path, help="the reference catalogue file")
    ref_add.add_argument("--images", type=Path, help="its images folder (default: the file's folder)")
    ref_add.add_argument("--format", default="auto", choices=FORMATS)
    ref_add.add_argument("--columns", default="", metavar="ROLE=HEADER,...", help="as for index")
    ref_add.add_argument("--refresh-images", action="store_true", help="revalidate cached image URLs")
    ref_add.add_argument("--prune", action="store_true", help="delete its products no longer in the file")
    runtime_arg(ref_add)
    ref_add.add_argument("--json", action="store_true")
    ref_list = refs.add_parser("list", help="the reference catalogues of this collection")
    ref_list.add_argument("--json", action="store_true")
    ref_rm = refs.add_parser("remove", help="delete a reference catalogue's collection")
    ref_rm.add_argument("name")

    gaps = sub.add_parser("gaps", help="match a reference catalogue against ours: matches and gaps")
    gaps.add_argument("name", help="the reference catalogue (see `reference list`)")
    gaps.add_argument("--threshold", type=float, default=MATCH_THRESHOLD, help="similarity that counts as a match (0..1)")
    gaps.add_argument("--filter", action="append", default=[], metavar="FIELD=V1,V2",
                      help="list only the products of the listed side whose FIELD is any of the values (repeatable)")
    gaps.add_argument("--same", metavar="FIELD", help="match each product only among products with its FIELD "
                                                      "value (category, say)")
    gaps.add_argument("--ours", action="store_true", help="list our products with no counterpart in theirs instead")
    gaps.add_argument("--limit", type=int, help="show at most N rows (default: all)")
    hidden_arg(gaps)
    gaps.add_argument("--json", action="store_true")
    gaps.set_defaults(run=cmd_gaps)


def cmd_eval(args, settings: Settings) -> int:
    from core.insights.eval_runner import evaluate_models, require_index_model, sample_products, table

    settings = settings.with_overrides(runtime=args.runtime)
    store = open_reader(settings)
    try:  # read, then let go of the index: no indexing run waits while models embed the sample
        # before any model loads; drafts and archived products only with --show-hidden
        meta, products = store.require_meta(), sample_products(store, args.sample, show_hidden=args.show_hidden)
    finally:
        store.close()
    # every model loads before any is measured, so a bad name fails at once
    embedders = [model_for(settings.with_overrides(model=m)) for m in dict.fromkeys(args.model)]
    if not embedders:
        embedders = [model_for(settings)]
        require_index_model(meta, embedders[0])
    results = evaluate_models(meta, embedders, products, settings.max_pixels, settings.batch_size)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        print(table(results))
    return 0


def cmd_reference(args, settings: Settings) -> int:
    from core.insights import reference

    if args.action == "list":
        infos = reference.list_references(settings)
        if args.json:
            print(json.dumps([i.as_dict() for i in infos]))
        else:
            print("\n".join(reference.describe(i) for i in infos) or "no reference catalogues: add one with "
                  "python -m core reference add NAME --catalog FILE")
        return 0
    if args.action == "remove":
        reference.remove_reference(settings, args.name)
        print(f"removed reference catalogue {args.name!r}")
        return 0
    return _reference_add(args, settings)


def _reference_add(args, settings: Settings) -> int:
    from core.ingest.catalog import check_inputs
    from core.ingest.fetch import fetcher_for
    from core.ingest.formats import parse_columns
    from core.insights import reference
    from core.models import calibration

    reference.reference_collection(settings, args.name)  # a bad name, a missing file or index: before the model
    check_inputs(args.catalog, args.images)
    reference.our_meta(settings)
    columns = parse_columns(args.columns) if args.columns else None
    settings = settings.with_overrides(runtime=args.runtime)
    embedder = model_for(settings, lambda: calibration.from_catalog(args.catalog, args.images, args.format, columns,
                                                                    settings.max_pixels))
    bar, progress = progress_bar(f"reference {args.name}")
    fetcher = fetcher_for(settings, refresh=args.refresh_images)
    try:
        report = reference.add_reference(settings, args.name, args.catalog, args.images, embedder,
                                         format=args.format, columns=columns, fetcher=fetcher, progress=progress,
                                         prune=args.prune)
    except KeyboardInterrupt:
        print("interrupted: everything embedded so far is saved; run the same command again to resume",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
        fetcher.close()
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"reference {args.name}: {report.total} rows: {report.indexed} indexed, {report.updated} updated, "
              f"{report.unchanged} unchanged, {report.text_only} text-only, {report.pruned} pruned, "
              f"{report.failed_rows} failed in {report.seconds:.1f}s")
        for problem in report.failed:
            print(f"  row {problem.row} [{problem.product_id or '-'}]: {problem.reason}")
        for warning in report.warnings:
            print(f"warning: {warning}")
    return 0


def cmd_gaps(args, settings: Settings) -> int:
    from core.common.filters import Filters, parse_filter_args
    from core.insights.gaps import GAP, check_threshold, find_gaps, our_unique
    from core.insights.reference import check_name, not_indexed, open_reference

    check_name(args.name, settings.collection)  # bad input before any store opens
    check_threshold(args.threshold)
    if args.limit is not None and args.limit < 1:
        raise LensError(f"--limit must be at least 1, got {args.limit}")
    filters = Filters.of(parse_filter_args(args.filter))
    ours = open_reader(settings)
    failing = True
    try:
        if ours.meta() is None:  # before the reference: without our index there is nothing to match against
            raise not_indexed()
        theirs = open_reference(settings, args.name)
        try:
            if theirs.note:
                print(f"note: {theirs.note}", file=sys.stderr)
            bar, progress = progress_bar("matching")
            try:
                match = our_unique if args.ours else find_gaps
                rows = match(ours, theirs, args.threshold, filters, args.same, progress,
                             show_hidden=args.show_hidden)
            finally:
                bar.close()
            failing = False
        finally:
            close_store(theirs, failing)
    finally:
        close_store(ours, failing)
    shown = rows[:args.limit] if args.limit else rows
    if args.json:
        print(json.dumps([r.as_dict() for r in shown]))
        return 0
    for r in shown:
        score = "   -  " if r.similarity is None else f"{r.similarity:.3f}"
        if args.ours:
            print(f"{score}  [{r.our_id}] {r.our_title}  ~  [{r.their_id or '-'}] {r.their_title}")
        else:
            print(f"{r.verdict:<5}  {score}  [{r.their_id}] {r.their_title}  ~  [{r.our_id or '-'}] {r.our_title}")
    gaps = sum(r.verdict == GAP for r in rows)
    more = f" (the first {len(shown)} shown)" if len(shown) < len(rows) else ""
    if args.ours:
        print(f"{len(rows)} of our products have no counterpart in {args.name} at {args.threshold}{more}")
    else:
        print(f"{len(rows)} reference products: {len(rows) - gaps} matches, {gaps} gaps at {args.threshold}{more}")
    return 0
