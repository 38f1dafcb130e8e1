"""Commands that analyse the index: `eval`, `audit`, `reference` (catalogues to match against ours) and `gaps`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.cli.common import close_store, model_for, open_reader, progress_bar, runtime_arg
from core.common.config import Settings
from core.common.errors import LensError
from core.ingest.formats import FORMATS  # --format's choices: auto and every format
from core.insights.audit_decisions import AuditDecisions
from core.insights.gaps import MATCH_THRESHOLD


def add_insight_commands(sub) -> None:
    ev = sub.add_parser("eval", help="measure how well the index's model (or other models) finds this catalogue")
    ev.add_argument("--sample", type=int, help="evaluate N products drawn with a fixed seed (default: all)")
    ev.add_argument("--model", action="append", default=[], metavar="M",
                    help="measure this model instead, embedded on the sample in memory (repeatable)")
    runtime_arg(ev)
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
    gaps.add_argument("--json", action="store_true")
    gaps.set_defaults(run=cmd_gaps)


def cmd_eval(args, settings: Settings) -> int:
    from core.insights.eval_runner import evaluate_models, require_index_model, sample_products, table

    settings = settings.with_overrides(runtime=args.runtime)
    store = open_reader(settings)
    try:  # read, then let go of the index: no indexing run waits while models embed the sample
        meta, products = store.require_meta(), sample_products(store, args.sample)  # before any model loads
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


def add_audit_commands(sub) -> None:
    """`audit` (the suspects), and its decisions: `audit decide`, `audit undo`, `audit decisions`."""
    aud = sub.add_parser("audit", help="products whose label disagrees with their photo, most suspect first; "
                                       "decide on them and undo decisions (audit decide|undo|decisions)")
    aud.add_argument("--field", default="colour", help="the label to check: colour, category or sub_category")
    aud.add_argument("--limit", type=int, default=50, help="show at most N suspects (default 50)")
    aud.add_argument("--show-hidden", action="store_true", help="audit draft and archived products too")
    aud.add_argument("--json", action="store_true")
    aud.set_defaults(run=cmd_audit)
    actions = aud.add_subparsers(dest="audit_action", metavar="{decide,undo,decisions}")  # none: the audit itself
    decide = actions.add_parser("decide", help="change one of a product's labels, or keep it (undo takes it back)")
    decide.add_argument("product_id")
    decide.add_argument("--field", default="colour", help="the label: colour, category or sub_category")
    way = decide.add_mutually_exclusive_group(required=True)
    way.add_argument("--change-from", metavar="OLD", help="the value the product holds now (one of a list's)")
    way.add_argument("--keep", nargs="?", const="", metavar="VALUE",
                     help="the label is right (for a list, name the value kept)")
    decide.add_argument("--change-to", metavar="NEW", help="the value to put in its place (with --change-from)")
    decide.set_defaults(run=cmd_audit_decide)
    undo = actions.add_parser("undo", help="take back the decision on a product's label: the stored label is "
                                           "restored at once and no index run applies it any more")
    undo.add_argument("product_id")
    undo.add_argument("--field", default="colour")
    undo.set_defaults(run=cmd_audit_undo)
    listed = actions.add_parser("decisions", help="every audit decision, oldest first")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(run=cmd_audit_decisions)


def _audit_line(s) -> str:
    """One suspect as text (ASCII, for any console): id, given -> suggested, margin, the evidence in short."""
    e = s.evidence
    clip = f"CLIP {e['given_cos']:.3f} vs {e['suggested_cos']:.3f}"
    pixels = f"dE {e['given_de']:.1f} vs {e['suggested_de']:.1f}, " if e.get("given_de") is not None else ""
    return f"{s.product_id}  {s.label} -> {s.suggested}  margin {s.margin:.3f}  ({pixels}{clip})"


def cmd_audit(args, settings: Settings) -> int:
    from core.insights.audit import audit, check_field

    check_field(args.field)  # bad input is reported before the model loads
    if args.limit < 1:
        raise LensError(f"--limit must be at least 1, got {args.limit}")
    # (product id, field, label) a merchandiser has already judged on the Audit page: the audit skips them
    confirmed = AuditDecisions(settings.data_dir).confirmed()
    store = open_reader(settings)
    failing = True
    try:
        store.require_meta()
        result = audit(store, model_for(settings), args.field, args.limit, confirmed, max_pixels=settings.max_pixels,
                       show_hidden=args.show_hidden)
        failing = False
    finally:
        close_store(store, failing)
    if args.json:  # the suspects, then the labels with an unknown colour name (their "outcome" says which)
        print(json.dumps([s.as_dict() for s in result.suspects] + [u.as_dict() for u in result.unknown]))
        return 0
    for s in result.suspects:
        print(_audit_line(s))
    for u in result.unknown:
        print(f"{u.product_id}  {u.label}: unknown colour name, not judged")
    if len(result.labels) < 2:
        print(f"the index has {len(result.labels)} value(s) of {args.field}: nothing to compare a label with")
    shown = f" (the first {len(result.suspects)} shown)" if len(result.suspects) < result.suspected else ""
    hidden = f", {result.hidden} draft or archived left out" if result.hidden else ""
    unknown = f", {result.unknown_count} unknown colour name(s)" if result.unknown_count else ""
    print(f"{result.checked} checked, {result.skipped} skipped (no photo), {result.confirmed} confirmed before, "
          f"{result.suspected} suspect(s){shown}{unknown}{hidden}")
    return 0


def _decision_store(settings: Settings):
    """The index, for writing: a decision changes the stored label at once, so a busy index refuses it before
    anything is saved (nothing is left half done)."""
    from core.index.store import open_store

    store = open_store(settings)
    store.acquire()
    store.require_meta()
    return store


def cmd_audit_decide(args, settings: Settings) -> int:
    from core.insights.audit import check_field
    from core.insights.audit_decisions import change_held, stored_values

    check_field(args.field)
    if args.change_from is not None and not (args.change_to or "").strip():
        raise LensError("--change-from needs --change-to NEW: the value to put in its place")
    if args.keep is not None and args.change_to is not None:
        raise LensError("--change-to goes with --change-from, not with --keep")
    decisions = AuditDecisions(settings.data_dir)
    store = _decision_store(settings)
    failing = True
    try:
        if args.change_from is not None:
            decision = change_held(decisions, store, args.product_id, args.field, args.change_from, args.change_to)
            said = f"#{args.product_id}'s {args.field}: {decision.label} -> {decision.new_label}"
        else:
            held = stored_values(store, args.product_id, args.field)
            kept = _kept_value(args, held)
            decision = decisions.judge_right(args.product_id, args.field, kept)
            said = f"#{args.product_id}'s {args.field}: {kept} kept"
        failing = False
    finally:
        close_store(store, failing)
    print(f"{said} (undo: python -m core audit undo {args.product_id} --field {args.field})")
    return 0


def _kept_value(args, held: list[str]) -> str:
    """The value --keep names, or the product's only value."""
    if args.keep:
        if args.keep not in held:
            raise LensError(f"#{args.product_id}'s {args.field} is {', '.join(held) or 'empty'}: it does not hold "
                            f"{args.keep!r}")
        return args.keep
    if len(held) != 1:
        raise LensError(f"#{args.product_id}'s {args.field} is {', '.join(held) or 'empty'}: name the value you "
                        "keep, as --keep VALUE")
    return held[0]


def cmd_audit_undo(args, settings: Settings) -> int:
    from core.insights.audit import check_field
    from core.insights.audit_decisions import undo_in_store

    check_field(args.field)
    store = _decision_store(settings)
    failing = True
    try:
        decision = AuditDecisions(settings.data_dir).undo(args.product_id, args.field)
        restored = undo_in_store(store, decision)
        failing = False
    finally:
        close_store(store, failing)
    if decision.verdict == "change":
        where = "" if restored else " (the index no longer held the change; the next index run reads the catalogue)"
        print(f"undone: #{decision.product_id}'s {decision.field} reads {decision.label} again, not "
              f"{decision.new_label}{where}")
    else:
        print(f"undone: #{decision.product_id}'s {decision.field} {decision.label} is no longer confirmed; the "
              "audit may list it again")
    return 0


def cmd_audit_decisions(args, settings: Settings) -> int:
    from dataclasses import asdict

    made = AuditDecisions(settings.data_dir).all()
    if args.json:
        print(json.dumps([asdict(d) for d in made], ensure_ascii=False))
        return 0
    for d in made:
        what = f"{d.label} -> {d.new_label}" if d.verdict == "change" else f"{d.label} kept"
        print(f"{d.product_id}  {d.field}  {what}  {_when(d.decided_at)}")
    if not made:
        print("no audit decisions yet")
    return 0


def _when(stamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


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
                rows = match(ours, theirs, args.threshold, filters, args.same, progress)
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
