"""A merchandiser's audit decisions ("label is right", "change to X") and their undoing: one JSON file under the data
dir, written atomically, applied to the stored payload at once and to the catalogue's values at every index run."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from core.curation.export import table_csv
from core.common.errors import LensError, UnknownProduct
from core.common.fields import PAYLOAD_HASH, values_of
from core.common.files import atomic_write, locked_for_writes
from core.index.store import point_id

RIGHT, CHANGE = "right", "change"
FOLDER = "audit"
FILE = "decisions.json"
CSV_COLUMNS = ("product_id", "field", "label", "decision", "new_label", "decided_at")


class DecisionError(LensError):
    """A decision that cannot be recorded (a bad value, or a disk that refuses the write)."""


@dataclass(frozen=True)
class Decision:
    """The latest decision on one of a product's values. `label` is the catalogue's value it is about (a change of
    a change keeps the catalogue's value, so the override still finds it in the source), and with the product and
    the field it names the decision: a list-valued field holds one decision per value. `new_label` is the value the
    product should carry, for a change."""

    product_id: str
    field: str
    label: str
    verdict: str
    new_label: str = ""
    decided_at: float = 0.0

    @property
    def settled_label(self) -> str:
        """The label a person confirmed: the given one when right, the new one when changed."""
        return self.new_label if self.verdict == CHANGE else self.label


class AuditDecisions:
    """Decisions under `<data_dir>/audit/decisions.json`: one per (product, field, catalogue value), the latest
    winning. A file written when a field held one decision at most (one per product and field) reads the same.

    Every write holds the folder's thread and OS locks for its read-modify-write (two app sessions, or the app
    and a script, never drop each other's decisions) and renames a complete file into place. An unreadable file
    is never overwritten: it is an error that names it, so no decision is lost by a later save.
    """

    def __init__(self, data_dir: Path):
        self.folder = Path(data_dir) / FOLDER
        self.path = self.folder / FILE
        self._lock = threading.RLock()

    def all(self) -> list[Decision]:
        """Every decision, oldest first."""
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return [Decision(**row) for row in rows]
        except (OSError, ValueError, TypeError) as exc:
            raise DecisionError(f"the audit decisions file {self.path} cannot be read ({exc}); move it aside "
                                "to start afresh, or restore it from a backup") from None

    def confirmed(self) -> set[tuple[str, str, str]]:
        """(product_id, field, label) that a person has looked at: the label judged right, or a changed label and
        what it became. The audit does not show them again (nor a list computed before the change)."""
        every = self.all()
        return {(d.product_id, d.field, d.settled_label) for d in every} | {(d.product_id, d.field, d.label)
                                                                            for d in every}

    def overrides(self) -> dict[str, dict[str, dict[str, str]]]:
        """product_id -> field -> {catalogue label: new label}, for every change: what indexing applies."""
        changes: dict[str, dict[str, dict[str, str]]] = {}
        for d in self.all():
            if d.verdict == CHANGE:
                changes.setdefault(d.product_id, {}).setdefault(d.field, {})[d.label] = d.new_label
        return changes

    def relabeller(self) -> Callable[[str, dict], bool]:
        """The hook indexing is given (it never imports the audit): relabel(product_id, payload) applies this data
        folder's changes, as they stand now, to one product's values and says whether any changed."""
        changes = self.overrides()
        return lambda product_id, payload: apply_overrides(product_id, payload, changes)

    def judge_right(self, product_id: str, field: str, label: str) -> Decision:
        """The given label is right. A label that is itself a change's result keeps that change."""
        return self._record(product_id, field, label, RIGHT, "")

    def change(self, product_id: str, field: str, label: str, new_label: str) -> Decision:
        """The product's `field` should read `new_label` instead of `label` (its value now)."""
        new_label = " ".join(str(new_label or "").split())
        if not new_label:
            raise DecisionError("a change needs the new label")
        if new_label == label:
            raise DecisionError(f"the product already reads {label!r}")
        return self._record(product_id, field, label, CHANGE, new_label)

    def last(self) -> Decision | None:
        """The latest decision (what "undo last" takes back), or None."""
        every = self.all()
        return max(every, key=lambda d: d.decided_at) if every else None

    def undo(self, product_id: str, field: str, value: str | None = None) -> Decision:
        """Take back a decision on a product's field: it is forgotten, so the audit shows the product again and no
        index run applies it any more. `value` names the decision (its catalogue value, or what a change made it);
        it is needed only when the field holds several decisions. Returns the decision taken back (undo_in_store
        restores the label)."""
        with locked_for_writes(self.folder, self._lock, DecisionError, "audit decisions"):
            every = self.all()
            on_field = [d for d in every if (d.product_id, d.field) == (str(product_id), field)]
            if not on_field:
                raise DecisionError(f"there is no decision on #{product_id}'s {field} to undo")
            if value is None:
                if len(on_field) > 1:
                    raise DecisionError(f"#{product_id}'s {field} has {len(on_field)} decisions "
                                        f"({'; '.join(_said(d) for d in on_field)}): name the value whose decision "
                                        "to undo (--value V)")
                found = on_field[0]
            else:
                found = next((d for d in on_field if d.label == value), None) or next(
                    (d for d in on_field if d.verdict == CHANGE and d.new_label == value), None)
                if found is None:
                    raise DecisionError(f"there is no decision on {value!r} in #{product_id}'s {field} to undo (its "
                                        f"decisions: {'; '.join(_said(d) for d in on_field)})")
            atomic_write(self.path, json.dumps([asdict(d) for d in every if d != found], indent=1,
                                               ensure_ascii=False))
            return found

    def _record(self, product_id: str, field: str, label: str, verdict: str, new_label: str) -> Decision:
        with locked_for_writes(self.folder, self._lock, DecisionError, "audit decisions"):
            every = self.all()
            product_id = str(product_id)
            on_field = [d for d in every if (d.product_id, d.field) == (product_id, field)]
            # the decision this one is about: the change that made `label` (the value held now), else the one on
            # the same catalogue value
            before = next((d for d in on_field if d.verdict == CHANGE and d.new_label == label), None) or next(
                (d for d in on_field if d.label == label), None)
            if before is not None and before.verdict == CHANGE and label == before.label:
                # A card drawn before the change (another session, a stale list): acting on it would undo the
                # change behind the merchandiser's back. They decide again on what the product reads now.
                raise DecisionError(f"#{product_id}'s {field} was already changed from {label!r} to "
                                    f"{before.new_label!r}; run the audit again to see it as it is now")
            decision = _compose(before, Decision(product_id, field, label, verdict, new_label, time.time()))
            kept = [d for d in every if d != before and (d.product_id, d.field, d.label) != (product_id, field,
                                                                                                decision.label)]
            atomic_write(self.path, json.dumps([asdict(d) for d in [*kept, decision]], indent=1,
                                               ensure_ascii=False))
            return decision

    def csv(self, decisions: list[Decision] | None = None) -> str:
        """Every decision (or those given, as all() read them) as CSV, to fix the source system; cells that a
        spreadsheet would run are quoted."""
        return table_csv(CSV_COLUMNS, ((d.product_id, d.field, d.label, d.verdict, d.new_label,
                                        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.decided_at)))
                                       for d in (self.all() if decisions is None else decisions)))


def _compose(before: Decision | None, now: Decision) -> Decision:
    """A decision about a label that an earlier change produced is about the catalogue's value: changing it
    again re-targets the override, changing it back (or judging it right) settles on what the change made."""
    if before is None or before.verdict != CHANGE or before.new_label != now.label:
        return now
    if now.verdict == RIGHT:
        return replace(before, decided_at=now.decided_at)  # the change confirmed as it stands, decided now
    if now.new_label == before.label:
        return Decision(now.product_id, now.field, before.label, RIGHT, "", now.decided_at)  # back to the source's
    return Decision(now.product_id, now.field, before.label, CHANGE, now.new_label, now.decided_at)


def _said(d: Decision) -> str:
    return f"{d.label} -> {d.new_label}" if d.verdict == CHANGE else f"{d.label} kept"


def relabelled(value, old: str, new: str):
    """A payload value with `old` replaced by `new` (relabelled_all with one change)."""
    return relabelled_all(value, {old: new})


def relabelled_all(value, changes: dict[str, str]):
    """A payload value with each `old` of changes {old: new} replaced by its `new`, all at once; a value that no
    longer holds `old` is returned as it is (the source was fixed, or changed otherwise). A change is skipped, never
    merging two values into one, when the list already holds its new value (the catalogue has it now) beside a value
    no change replaces, or when another change gives the same new value."""
    if not isinstance(value, (list, tuple)):
        new = changes.get(str(value)) if value is not None else None
        return value if new is None else new
    held = [str(v) for v in value]
    active = {old: new for old, new in changes.items() if old in held and new != old}
    while active:
        unchanged = {v for v in held if v not in active}
        made = list(active.values())
        clashing = {old for old, new in active.items() if new in unchanged or made.count(new) > 1}
        if not clashing:
            break
        active = {old: new for old, new in active.items() if old not in clashing}
    if not active:
        return value
    return [active.get(str(v), v) for v in value]


def apply_overrides(product_id: str, payload: dict, overrides: dict[str, dict[str, dict[str, str]]]) -> bool:
    """Apply a product's decided changes to its catalogue values (payload, in place) before it is planned and
    embedded, each on the value it names; True when something changed."""
    changes = overrides.get(product_id)
    if not changes:
        return False
    changed = False
    for field, by_value in changes.items():
        if isinstance(by_value, tuple):  # (old, new): one change on the field, as overrides() gave it before
            by_value = {by_value[0]: by_value[1]}
        value = payload.get(field)
        updated = relabelled_all(value, by_value)
        if updated != value:
            payload[field] = updated
            changed = True
    return changed


def change_stored_label(store, point: str, field: str, old: str, new: str) -> bool:
    """Rewrite one stored product's `field` from `old` to `new` at once, so filters and facets see it; the rest
    of its payload is kept as stored. False when the stored value no longer holds `old`, or (a list) already holds
    `new`: nothing is merged away."""
    hits = store.retrieve([point])
    if not hits:
        return False
    payload = dict(hits[0].payload)
    updated = relabelled(payload.get(field), old, new)
    if updated == payload.get(field) or not values_of(updated):
        return False
    payload[field] = updated
    # The attributes no longer hash as the catalogue's: the next index run rewrites them from the catalogue with
    # every decision applied, so the store and the decisions file can never drift apart for long.
    payload[PAYLOAD_HASH] = ""
    store.overwrite_payload(point, payload)
    return True



def stored_values(store, product_id: str, field: str) -> list[str]:
    """The product's values of `field` as the index holds them now; UnknownProduct when it holds no such product."""
    hits = store.retrieve([point_id(product_id)])
    if not hits:
        raise UnknownProduct(f"the index has no product #{product_id}")
    return values_of(hits[0].payload.get(field))


def change_held(decisions: AuditDecisions, store, product_id: str, field: str, old: str, new: str) -> Decision:
    """Change one of the values the product holds now, and its stored label at once. Refused (DecisionError, with
    what the product holds) when it does not hold `old`, and when a list already holds `new`: the change would then
    merge two values into one, which no undo could split again."""
    held = stored_values(store, product_id, field)
    new = " ".join(str(new or "").split())
    if old not in held:
        raise DecisionError(f"#{product_id}'s {field} is {', '.join(held) or 'empty'}: it does not hold {old!r}, so "
                            f"there is nothing to change; name one of the values it holds")
    if new in held and new != old:
        raise DecisionError(f"#{product_id}'s {field} already holds {new!r} beside {old!r}: changing one into the "
                            "other would drop a value; keep it, or fix the source")
    decision = decisions.change(product_id, field, old, new)
    change_stored_label(store, point_id(product_id), field, old, new)
    return decision


def undo_in_store(store, decision: Decision) -> bool:
    """Put back the stored label a change replaced (the catalogue's value, whatever changes were composed on it);
    True when the store held the change's result (and not the catalogue's value beside it). A judgement ("label is
    right") changed nothing stored."""
    if decision.verdict != CHANGE:
        return False
    return change_stored_label(store, point_id(decision.product_id), decision.field, decision.new_label,
                               decision.label)
