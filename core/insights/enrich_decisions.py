"""The enrichment review queue: each attribute's latest proposals and the merchandiser's decisions on them, under
`<data_dir>/enrich/`; an accepted value goes into the stored payload at once and into every later index run."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core.common.fields import FIELD_NAME, PAYLOAD_HASH, Schema, values_of
from core.common.files import atomic_write, locked_for_writes
from core.index.store import point_id
from core.insights.audit_decisions import DecisionError
from core.insights.enrich import SUMMARY_KEYS, EnrichResult, Proposal

FOLDER = "enrich"
FILE = "decisions.json"
ACCEPTED, REJECTED = "accepted", "rejected"
# A decision row's keys and their types; "previous_value" (the stored value it replaced, a list kept a list) and
# "settled_at" (when the source first had its own value: the decision is retired) are optional.
ROW_KEYS = {"product_id": str, "attribute": str, "verdict": str, "value": str, "previous": str,
            "confidence": (int, float), "decided_at": (int, float)}


@dataclass(frozen=True)
class Accepted:
    """A value a person accepted for a product's attribute, and the value it replaced ("" when empty)."""

    product_id: str
    attribute: str
    value: str
    previous: str
    confidence: float
    decided_at: float


def shown(value) -> str:
    """A payload value as a proposal's `current` names it: "" when empty, a list joined with ", "."""
    return ", ".join(values_of(value))


class EnrichmentDecisions:
    """Proposals per attribute (`proposals_<attribute>.json`, the latest run's) and decisions (`decisions.json`:
    one per product and attribute, the latest winning). Writes hold the folder's thread and OS locks for their
    read-modify-write and rename a complete file into place, as the audit's decisions do; an unreadable file is an
    error naming it, never overwritten."""

    def __init__(self, data_dir: Path):
        self.folder = Path(data_dir) / FOLDER
        self.path = self.folder / FILE
        self._lock = threading.RLock()
        # attribute -> ((inode, mtime_ns, size), result, {product id: proposal}): an accept reads the queue's file
        # once, not once a click (100k proposals are ~35 MB of JSON)
        self._cache: dict[str, tuple[tuple, EnrichResult, dict[str, Proposal]]] = {}

    # ---- proposals ----

    def _proposals_path(self, attribute: str) -> Path:
        if not FIELD_NAME.match(str(attribute)):
            raise DecisionError(f"{attribute!r} is not an attribute name")
        return self.folder / f"proposals_{attribute}.json"

    def save(self, result: EnrichResult) -> None:
        """Keep the run's proposals as the attribute's review queue (replacing the previous run's)."""
        data = {"attribute": result.attribute, "values": result.values, "source": result.source,
                "overwrite": result.overwrite, "summary": result.summary, "details": result.details,
                "calibration": [list(row) for row in result.calibration], "index_version": result.index_version,
                "proposals": [asdict(p) for p in result.proposals]}
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment proposals"):
            atomic_write(self._proposals_path(result.attribute), json.dumps(data, ensure_ascii=False))

    def load(self, attribute: str) -> EnrichResult | None:
        """The attribute's latest saved run, or None when it was never enriched (a copy: its proposals list is the
        caller's to reorder)."""
        loaded = self._loaded(attribute)
        return None if loaded is None else replace(loaded[0], proposals=list(loaded[0].proposals),
                                                   summary=dict(loaded[0].summary), details=dict(loaded[0].details))

    def _loaded(self, attribute: str) -> tuple[EnrichResult, dict[str, Proposal]] | None:
        """The saved run and its proposals by product id, parsed again only when the file changed (its inode,
        mtime and size: a save renames a new file into place)."""
        path = self._proposals_path(attribute)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DecisionError(f"the enrichment proposals file {path} cannot be read ({exc.strerror or exc})"
                                ) from None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(attribute)
            if cached and cached[0] == key:
                return cached[1], cached[2]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            summary = dict(data["summary"])
            # a file saved before the summary held only the five keys: the rest are details
            details = {**{k: summary.pop(k) for k in [k for k in summary if k not in SUMMARY_KEYS]},
                       **data.get("details", {})}
            result = EnrichResult(data["attribute"], data["values"], data["source"], data["overwrite"], summary,
                                  [Proposal(**p) for p in data["proposals"]],
                                  [tuple(row) for row in data["calibration"]], data.get("index_version"), details)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DecisionError(f"the enrichment proposals file {path} cannot be read ({exc}); run enrich again "
                                "to replace it") from None
        by_id = {p.product_id: p for p in result.proposals}
        with self._lock:
            self._cache[attribute] = (key, result, by_id)
        return result, by_id

    def attributes(self) -> list[str]:
        """The attributes with saved proposals, sorted."""
        if not self.folder.exists():
            return []
        return sorted(p.stem[len("proposals_"):] for p in self.folder.glob("proposals_*.json"))

    def pending(self, attribute: str) -> list[Proposal]:
        """The attribute's proposals with no decision yet, most confident first (then product id)."""
        loaded = self._loaded(attribute)
        if loaded is None:
            return []
        decided = {row["product_id"] for row in self._rows() if row["attribute"] == attribute}
        return [p for p in loaded[0].proposals if p.product_id not in decided]

    # ---- decisions ----

    def _rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise ValueError("not a list of decisions")
            for number, row in enumerate(rows, 1):
                _check_row(number, row)
            return rows
        except (OSError, ValueError) as exc:
            raise DecisionError(f"the enrichment decisions file {self.path} cannot be read ({exc}); move it aside "
                                "to start afresh, or restore it from a backup") from None

    def _write(self, rows: list[dict]) -> None:
        atomic_write(self.path, json.dumps(rows, indent=1, ensure_ascii=False))

    def accepted(self) -> list[Accepted]:
        """Every accepted value still standing, oldest first: not undone, and not settled (the source has had its
        own value since: the accepted one or another; the catalogue owns the field again)."""
        return [_accepted(row) for row in sorted(self._rows(), key=lambda r: r["decided_at"])
                if _standing(row)]

    def settle(self, settled: list[tuple[str, str, float]]) -> int:
        """Retire these accepted decisions ((product id, attribute, decided_at) each: an index run saw the source
        with its own value), in one locked write; how many were retired. A decision undone or decided again since
        (another decided_at) is left as it is. Settled rows are kept, with settled_at, for the record."""
        wanted = {(str(pid), attribute, float(at)) for pid, attribute, at in settled}
        if not wanted:
            return 0
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment decisions"):
            rows = self._rows()
            now, count = time.time(), 0
            for row in rows:
                if _standing(row) and (row["product_id"], row["attribute"], float(row["decided_at"])) in wanted:
                    row["settled_at"] = now
                    count += 1
            if count:
                self._write(rows)
        return count

    def rejected(self, attribute: str) -> list[str]:
        """The product ids whose proposal for `attribute` was rejected."""
        return [row["product_id"] for row in self._rows() if row["attribute"] == attribute
                and row["verdict"] == REJECTED]

    def accept(self, store, attribute: str, product_id: str, value: str | None = None) -> Accepted:
        """Accept the proposal for a product (or `value`, the merchandiser's own, instead): written into the stored
        payload at once, and the attribute made a keyword filter. Refused when the stored value is no longer the
        one the proposal was made against (the product was re-indexed with another value meanwhile)."""
        proposal = self._proposal(attribute, product_id)
        chosen = " ".join(str(proposal.proposed if value is None else value).split())
        if not chosen:
            raise DecisionError("an accepted value cannot be empty")
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment decisions"):
            rows = self._rows()
            if any((r["product_id"], r["attribute"]) == (proposal.product_id, attribute) and _standing(r)
                   for r in rows):
                raise DecisionError(f"#{product_id}'s {attribute} was accepted already: undo it first")
            payloads, made = self._check_stale(store, [(proposal, chosen)], refuse=True)
            rows = [r for r in rows if (r["product_id"], r["attribute"]) != (proposal.product_id, attribute)]
            self._store_then_record(store, attribute, payloads, made, [*rows, *made])
        return _accepted(made[0])

    def accept_above(self, store, attribute: str, min_confidence: float) -> list[Accepted]:
        """Accept every pending proposal with this confidence or more, in one write; a proposal whose product now
        holds another value is left pending (accepting it alone says why)."""
        if not 0.0 <= float(min_confidence) <= 1.0:
            raise DecisionError(f"the confidence is on a 0-1 scale, got {min_confidence}")
        chosen = [(p, p.proposed) for p in self.pending(attribute) if p.confidence >= float(min_confidence)]
        if not chosen:
            return []
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment decisions"):
            payloads, made = self._check_stale(store, chosen, refuse=False)
            taken = {row["product_id"] for row in made}
            rows = [r for r in self._rows() if not (r["attribute"] == attribute and r["product_id"] in taken)]
            self._store_then_record(store, attribute, payloads, made, [*rows, *made])
        return [_accepted(row) for row in made]

    def _store_then_record(self, store, attribute: str, payloads: dict, made: list[dict], rows: list[dict]) -> None:
        """The values into the store, then the decisions saved: a store that refuses the write leaves nothing
        recorded (a retry starts afresh), and decisions that cannot be saved take the values back out of the
        store (as far as it lets us), so "accepted" never stands without its value nor a value without it."""
        _write_values(store, attribute, payloads)
        try:
            self._write(rows)
        except BaseException:
            try:
                _restore(store, made)
            except Exception:  # noqa: BLE001 - the decision's own error is the one to report
                pass  # the values' hash is cleared: the next index run rewrites them from the catalogue
            raise

    def reject(self, attribute: str, product_id: str) -> None:
        """The proposal is wrong: recorded, so it is no longer pending (a later run's proposal for the product
        stays out of the queue too, until undone)."""
        proposal = self._proposal(attribute, product_id)
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment decisions"):
            every = self._rows()
            rows = [r for r in every if (r["product_id"], r["attribute"]) != (proposal.product_id, attribute)]
            if len(rows) != len(every):
                raise DecisionError(f"#{product_id}'s {attribute} is decided already: undo it first")
            self._write([*rows, {"product_id": proposal.product_id, "attribute": attribute, "verdict": REJECTED,
                                 "value": proposal.proposed, "previous": proposal.current,
                                 "confidence": proposal.confidence, "decided_at": time.time()}])

    def undo(self, store, attribute: str, product_id: str) -> None:
        """Forget the decision on a product's attribute; an accepted value is replaced in the store by the value it
        replaced (when the store still holds the accepted one), and no index run applies it any more."""
        product_id = str(product_id)
        with self._lock:
            rows = self._rows()
            if not any((r["product_id"], r["attribute"]) == (product_id, attribute) for r in rows):
                raise DecisionError(f"there is no decision on #{product_id}'s {attribute} to undo")
        self.undo_many(store, attribute, [product_id])

    def undo_many(self, store, attribute: str, product_ids: list[str]) -> int:
        """Undo the decisions on these products' attribute (those without one are passed over), in one locked
        write of the decisions file and batched store writes; how many were undone. The store is put back first:
        when it refuses, every decision still stands and the undo can be tried again."""
        wanted = {str(pid) for pid in product_ids}
        with locked_for_writes(self.folder, self._lock, DecisionError, "enrichment decisions"):
            rows = self._rows()
            found = [r for r in rows if r["attribute"] == attribute and r["product_id"] in wanted]
            if not found:
                return 0
            # a settled decision's value is the catalogue's own now: the store is left as it is
            _restore(store, [r for r in found if r["verdict"] == ACCEPTED and "settled_at" not in r])
            gone = {id(r) for r in found}
            self._write([r for r in rows if id(r) not in gone])
        return len(found)

    def _proposal(self, attribute: str, product_id: str) -> Proposal:
        loaded = self._loaded(attribute)
        found = loaded[1].get(str(product_id)) if loaded else None
        if found is None:
            raise DecisionError(f"there is no proposal for #{product_id}'s {attribute}: run `python -m core enrich "
                                f"--attribute {attribute} --values ...` first")
        return found

    def _check_stale(self, store, chosen: list[tuple[Proposal, str]], refuse: bool) -> tuple[dict, list[dict]]:
        """The payload writes and decision rows for the proposals whose product still holds the value they were
        made against; a stale one is refused (DecisionError) or skipped."""
        points = {point_id(p.product_id): p for p, _ in chosen}
        stored = {}
        for ids in _batches(list(points), 1000):
            stored.update({hit.id: hit.payload for hit in store.retrieve(ids)})
        payloads, made, now = {}, [], time.time()
        for proposal, value in chosen:
            point = point_id(proposal.product_id)
            if point not in stored:
                if refuse:
                    raise DecisionError(f"the index has no product #{proposal.product_id} any more")
                continue
            held = stored[point].get(proposal.attribute)
            if shown(held) != proposal.current:
                if refuse:
                    raise DecisionError(
                        f"#{proposal.product_id}'s {proposal.attribute} reads {shown(held) or 'empty'!r} now, not "
                        f"{proposal.current or 'empty'!r} as when it was proposed: it was re-indexed with a different "
                        "value in the meantime; run enrich again to see it as it is now")
                continue
            if shown(held) == value:
                if refuse:
                    raise DecisionError(f"#{proposal.product_id}'s {proposal.attribute} already reads {value!r}")
                continue
            payloads[point] = {proposal.attribute: value, PAYLOAD_HASH: ""}
            made.append({"product_id": proposal.product_id, "attribute": proposal.attribute, "verdict": ACCEPTED,
                         "value": value, "previous": proposal.current, "previous_value": held if held else "",
                         "confidence": proposal.confidence, "decided_at": now})
        return payloads, made


def _check_row(number: int, row) -> None:
    """ValueError saying which row of the decisions file is damaged and how (the caller names the file)."""
    if not isinstance(row, dict):
        raise ValueError(f"decision {number} is not a record")
    for key, kind in ROW_KEYS.items():
        if not isinstance(row.get(key), kind) or isinstance(row.get(key), bool):
            raise ValueError(f"decision {number} has no valid {key!r}")
    if row["verdict"] not in (ACCEPTED, REJECTED):
        raise ValueError(f"decision {number}'s verdict is {row['verdict']!r}, not {ACCEPTED} or {REJECTED}")


def _standing(row: dict) -> bool:
    """An accepted decision that no index run has yet seen settled by the source."""
    return row["verdict"] == ACCEPTED and "settled_at" not in row


def _restore(store, rows: list[dict]) -> None:
    """Put back the stored value each accepted row replaced, where the store still holds the accepted value (else
    it holds something newer: the next index run reads the catalogue); one retrieve a thousand, one set_payload
    for the values put back, an overwrite each for the fields that were empty (removed again)."""
    by_point = {point_id(r["product_id"]): r for r in rows}
    stored: dict = {}
    for ids in _batches(list(by_point), 1000):
        stored.update({hit.id: hit.payload for hit in store.retrieve(ids)})
    put_back: dict[str, dict] = {}
    for point, row in by_point.items():
        payload = stored.get(point)
        if payload is None or shown(payload.get(row["attribute"])) != row["value"]:
            continue
        previous = row.get("previous_value", row["previous"])
        if values_of(previous):
            put_back[point] = {row["attribute"]: previous, PAYLOAD_HASH: ""}
        else:
            emptied = {k: v for k, v in payload.items() if k != row["attribute"]}
            store.overwrite_payload(point, {**emptied, PAYLOAD_HASH: ""})
    if put_back:
        store.set_payload(put_back)
    store.flush()


def _accepted(row: dict) -> Accepted:
    return Accepted(row["product_id"], row["attribute"], row["value"], row["previous"], float(row["confidence"]),
                    float(row["decided_at"]))


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _write_values(store, attribute: str, payloads: dict) -> None:
    """The accepted values into the stored payloads at once (their hash cleared: the next index run rewrites them
    from the catalogue with every fix applied), and the attribute a keyword filter with facets."""
    if not payloads:
        return
    store.set_payload(payloads)
    store.add_fields(Schema(keyword=(attribute,)))
    store.flush()
