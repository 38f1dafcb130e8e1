"""`audit`: the products whose label disagrees with their photos, and the decisions on them (decide, undo, list)."""

from __future__ import annotations

import json

from core.cli.common import close_store, model_for, open_reader, open_writer
from core.common.config import Settings
from core.common.errors import LensError
from core.insights.audit_decisions import AuditDecisions


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
    undo.add_argument("--value", metavar="V", help="the value whose decision is undone (its catalogue value or what "
                                                   "the change made it); needed when the field has several decisions")
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


def cmd_audit_decide(args, settings: Settings) -> int:
    from core.insights.audit import check_field
    from core.insights.audit_decisions import change_held, stored_values

    check_field(args.field)
    if args.change_from is not None and not (args.change_to or "").strip():
        raise LensError("--change-from needs --change-to NEW: the value to put in its place")
    if args.keep is not None and args.change_to is not None:
        raise LensError("--change-to goes with --change-from, not with --keep")
    decisions = AuditDecisions(settings.data_dir)
    store = open_writer(settings)
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
    print(f"{said} (undo: {_undo_command(decisions, decision)})")
    return 0


def _undo_command(decisions: AuditDecisions, decision) -> str:
    """The command that takes `decision` back; it names the value when the field holds several decisions."""
    import shlex

    command = f"python -m core audit undo {shlex.quote(decision.product_id)} --field {decision.field}"
    several = sum((d.product_id, d.field) == (decision.product_id, decision.field) for d in decisions.all()) > 1
    return f"{command} --value {shlex.quote(decision.label)}" if several else command


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
    store = open_writer(settings)
    failing = True
    try:
        decision = AuditDecisions(settings.data_dir).undo(args.product_id, args.field, args.value)
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
