"""The health check's caches: near-duplicate pairs, label-audit suspects and whole reports, each kept as JSON under
<data_dir>/health/<collection>/ with the key that decides it, so a re-check of an unchanged index recomputes nothing."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from core.common.files import atomic_write
from core.insights.audit_decisions import AuditDecisions
from core.insights.enrich_decisions import EnrichmentDecisions
from core.curation.duplicate_dismissals import DuplicateDismissals
from core.search.duplicates import Pairs

FOLDER = "health"
PAIRS_FILE = "pairs.json"
AUDIT_FILE = "audit.json"
MAX_REPORTS = 32  # filter sets whose last report is kept


def folder(data_dir: Path, collection: str) -> Path:
    """Where this collection's health caches live (per collection: another one may reuse the same product ids)."""
    return Path(data_dir) / FOLDER / collection


def mtime(path: Path) -> int:
    """A file's change time in nanoseconds, 0 when it does not exist: part of a cache key."""
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


def stamp(path: Path) -> list[int] | None:
    """A file's [inode, change time in ns, size], None when it does not exist: part of a cache key. Every decisions
    file is replaced by a rename (a new inode), so two writes within one clock tick still give two stamps."""
    try:
        found = Path(path).stat()
    except OSError:
        return None
    return [found.st_ino, found.st_mtime_ns, found.st_size]


def decisions_stamp(data_dir: Path, collection: str) -> dict:
    """The stamps of every file of decisions a person makes that alters a check's answer without a re-index:
    audit changes and accepted enrichments also write values into stored payloads at once, with no new index
    version, so their files' stamps are in the audit's key."""
    return {"audit": stamp(AuditDecisions(data_dir).path),
            "dismissed": stamp(DuplicateDismissals(data_dir, collection).path),
            "enrich": stamp(EnrichmentDecisions(data_dir).path)}


def _read(path: Path, key: dict):
    """The cached value stored under exactly this key, or None (absent, another key, unreadable: recompute)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logging.getLogger(__name__).warning("health cache %s unreadable (%s): recomputing", path, exc)
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    return stored.get("value")


def _write(path: Path, key: dict, value) -> None:
    """Store a value under its key; a disk that refuses the write costs only the next check's time."""
    try:
        atomic_write(path, json.dumps({"key": key, "value": value}, ensure_ascii=False))
    except OSError as exc:
        logging.getLogger(__name__).warning("health cache %s not written (%s)", path, exc)


def load_pairs(where: Path, key: dict) -> Pairs | None:
    value = _read(where / PAIRS_FILE, key)
    if value is None:
        return None
    return Pairs(list(value["ids"]), np.asarray(value["a"], dtype=np.int64), np.asarray(value["b"], dtype=np.int64),
                 np.asarray(value["scores"], dtype=np.float64))


def save_pairs(where: Path, key: dict, pairs: Pairs) -> None:
    _write(where / PAIRS_FILE, key, {"ids": list(pairs.ids), "a": pairs.a.tolist(), "b": pairs.b.tolist(),
                                     "scores": pairs.scores.tolist()})


def load_suspects(where: Path, key: dict) -> list[list[str]] | None:
    """[[product id, field, label, suggested], ...] of the last audit with this key."""
    return _read(where / AUDIT_FILE, key)


def save_suspects(where: Path, key: dict, suspects: list[list[str]]) -> None:
    _write(where / AUDIT_FILE, key, suspects)


def report_file(where: Path, filters_key: str) -> Path:
    """One file per filter set: the latest report for it (a new index version replaces the old one's)."""
    return where / f"report-{hashlib.sha256(filters_key.encode()).hexdigest()[:16]}.json"


def load_report(where: Path, filters_key: str, key: dict) -> dict | None:
    return _read(report_file(where, filters_key), key)


def save_report(where: Path, filters_key: str, key: dict, report: dict) -> None:
    """Keep the report, and only the MAX_REPORTS most recent filter sets' (a page tried with many filters)."""
    _write(report_file(where, filters_key), key, report)
    try:
        kept = sorted(where.glob("report-*.json"), key=mtime, reverse=True)
        for old in kept[MAX_REPORTS:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        logging.getLogger(__name__).warning("old health reports under %s not removed (%s)", where, exc)
