"""Pairs a merchandiser marked "not duplicates": one JSON file per collection under the data dir, written
atomically, and left out of that collection's near-duplicate groups from then on (undoable)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.common.errors import LensError
from core.common.files import atomic_write, locked_for_writes

FOLDER = "duplicates"
FILE = "dismissed.json"


class DismissalError(LensError):
    """A dismissal that cannot be read or saved (an unreadable file, a disk that refuses the write, a bad pair)."""


@dataclass(frozen=True)
class Dismissal:
    """Two products a person said are not duplicates; `a` sorts before `b`, so a pair has one spelling."""

    a: str
    b: str
    dismissed_at: float = 0.0

    @property
    def pair(self) -> tuple[str, str]:
        return self.a, self.b


def ordered(x: str, y: str) -> tuple[str, str]:
    """The pair's one spelling; a product is never dismissed against itself."""
    x, y = str(x), str(y)
    if not x or not y or x == y:
        raise DismissalError("a dismissal needs two different products")
    return (x, y) if x < y else (y, x)


class DuplicateDismissals:
    """Dismissed pairs under `<data_dir>/duplicates/<collection>/dismissed.json`, oldest first, one entry per pair.

    Per collection, as the maps are: another LENS_COLLECTION may reuse the same product ids for other products,
    and must not inherit this one's "not duplicates".

    Every write holds the folder's thread and OS locks for its read-modify-write (two sessions, or the app and
    a script, never drop each other's dismissals) and renames a complete file into place, so a crash mid-write
    leaves the previous file. An unreadable file is never overwritten: it is an error that names it.
    """

    def __init__(self, data_dir: Path, collection: str):
        self.folder = Path(data_dir) / FOLDER / collection
        self.path = self.folder / FILE
        self._lock = threading.RLock()

    def all(self) -> list[Dismissal]:
        """Every dismissal, oldest first."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._unreadable(exc.strerror or exc) from None
        try:
            rows = json.loads(text)
            if not isinstance(rows, list):
                raise TypeError("it is not a list of pairs")
            found = [Dismissal(*ordered(row["a"], row["b"]), float(row.get("dismissed_at", 0.0))) for row in rows]
        except (ValueError, TypeError, KeyError, AttributeError, DismissalError) as exc:
            raise self._unreadable(exc) from None
        return found

    def pairs(self) -> frozenset[tuple[str, str]]:
        """The dismissed pairs, for core.search.duplicates (near_duplicates' `dismissed`, DuplicateSearch.regroup)."""
        return frozenset(d.pair for d in self.all())

    def dismiss(self, x: str, y: str) -> Dismissal | None:
        """Mark the two as not duplicates; None when they already were."""
        made = self.dismiss_all([(x, y)])
        return made[0] if made else None

    def dismiss_all(self, pairs) -> list[Dismissal]:
        """Mark every pair as not duplicates in one write (a product "not a duplicate of this group" is all its
        pairs in the group); the ones made, less those already marked."""
        wanted = dict.fromkeys(ordered(x, y) for x, y in pairs)  # each pair once, in the order given
        with self._locked():
            every = self.all()
            known = {d.pair for d in every}
            now = time.time()
            made = [Dismissal(a, b, now) for a, b in wanted if (a, b) not in known]
            if made:
                self._save([*every, *made])
            return made

    def restore(self, x: str, y: str) -> bool:
        """Undo a dismissal: the two group again when they are close; False when they were not dismissed."""
        return self.restore_all([(x, y)]) == 1

    def restore_all(self, pairs) -> int:
        """Undo these dismissals in one write; how many of them were dismissed."""
        gone = {ordered(x, y) for x, y in pairs}
        with self._locked():
            every = self.all()
            kept = [d for d in every if d.pair not in gone]
            if len(kept) < len(every):
                self._save(kept)
            return len(every) - len(kept)

    def _save(self, dismissals: list[Dismissal]) -> None:
        atomic_write(self.path, json.dumps([asdict(d) for d in dismissals], indent=1, ensure_ascii=False))

    @contextlib.contextmanager
    def _locked(self):
        """The folder's thread and OS locks; a refused write is a DismissalError."""
        with locked_for_writes(self.folder, self._lock, DismissalError, "dismissals"):
            yield

    def _unreadable(self, why) -> DismissalError:
        return DismissalError(f"the dismissed near-duplicates file {self.path} cannot be read ({why}); move it "
                              "aside to start afresh, or restore it from a backup")
