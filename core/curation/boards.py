"""Boards: named collections of products a merchandiser collects, stored as one JSON file each, exported as CSV."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.common import fields as F
from core.common.errors import LensError
from core.common.files import atomic_write, locked_for_writes


class BoardError(LensError):
    """A board operation cannot be done (empty or duplicate name, unknown board)."""


@dataclass
class BoardItem:
    """A product as it was when added: its attributes and its similarity to the search at that moment."""

    product_id: str
    title: str
    score: float | None
    added_at: float
    attributes: dict = field(default_factory=dict)


@dataclass
class Board:
    """A named, ordered list of products."""

    id: str
    name: str
    created: float
    items: list[BoardItem] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> "Board":
        return cls(data["id"], data["name"], data["created"], [BoardItem(**i) for i in data.get("items", [])])

    def has(self, product_id: str) -> bool:
        return any(i.product_id == product_id for i in self.items)


class BoardStore:
    """Boards under one folder; every write goes to a temp file and is renamed, so no file is ever half-written.

    Every read-modify-write holds an OS lock on `<folder>/.lock` as well as a thread lock: two processes (or two
    BoardStore instances on one folder) adding at once would otherwise each save the board they read, and the
    later save would drop the other's items. Plain reads take no lock; the rename makes them see whole files.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def _locked(self):
        """The folder's thread and OS locks; blocks until the holder is done; a refused write is a BoardError."""
        with locked_for_writes(self.folder, self._lock, BoardError, "boards"):
            yield

    def _path(self, board_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", board_id or ""):
            raise BoardError(f"unknown board {board_id!r}")
        return self.folder / f"{board_id}.json"

    def _save(self, board: Board) -> None:
        atomic_write(self._path(board.id), json.dumps(asdict(board), indent=1))

    def scan(self) -> tuple[list[Board], list[str]]:
        """(readable boards by name, names of unreadable files); unreadable files are never touched."""
        boards, unreadable = [], []
        for path in sorted(self.folder.glob("*.json")):
            try:
                boards.append(Board.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                unreadable.append(path.name)
        return sorted(boards, key=lambda b: b.name.lower()), unreadable

    def list(self) -> list[Board]:
        return self.scan()[0]

    def get(self, board_id: str) -> Board:
        try:
            return Board.from_json(json.loads(self._path(board_id).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise BoardError("that board no longer exists") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise BoardError(f"board file {board_id}.json is unreadable: {exc}") from None

    def _check_name(self, name: str, board_id: str = "") -> str:
        name = (name or "").strip()
        if not name:
            raise BoardError("a board needs a name")
        if len(name) > 80:
            raise BoardError("board names are limited to 80 characters")
        if any(b.name.lower() == name.lower() and b.id != board_id for b in self.list()):
            raise BoardError(f"there is already a board called {name!r}")
        return name

    def create(self, name: str) -> Board:
        with self._locked():
            board = Board(uuid.uuid4().hex, self._check_name(name), time.time())
            self._save(board)
            return board

    def rename(self, board_id: str, name: str) -> Board:
        with self._locked():
            board = self.get(board_id)
            board.name = self._check_name(name, board_id)
            self._save(board)
            return board

    def delete(self, board_id: str) -> None:
        with self._locked():
            self._path(board_id).unlink(missing_ok=True)

    def add(self, board_id: str, product_id: str, title: str, score: float | None, payload: dict) -> bool:
        """Add a product with its current attributes and score; False if it is already on the board."""
        with self._locked():
            board = self.get(board_id)
            if board.has(product_id):
                return False
            attributes = {k: v for k, v in payload.items() if k not in F.INTERNAL_KEYS}
            board.items.append(BoardItem(product_id, title, score, time.time(), attributes))
            self._save(board)
            return True

    def remove(self, board_id: str, product_id: str) -> tuple[int, BoardItem] | None:
        """Take a product off; its position and item as they were (for an undo), None if it was not there."""
        with self._locked():
            board = self.get(board_id)
            position = next((n for n, i in enumerate(board.items) if i.product_id == product_id), None)
            if position is None:
                return None
            removed = board.items.pop(position)
            self._save(board)
            return position, removed

    def restore(self, board_id: str, position: int, item: BoardItem) -> bool:
        """Undo a remove: the item back where it was, with its similarity and time added; False if it is there
        already (added again meanwhile). A board deleted since is a BoardError, as for any write."""
        with self._locked():
            board = self.get(board_id)
            if board.has(item.product_id):
                return False
            board.items.insert(min(max(position, 0), len(board.items)), item)
            self._save(board)
            return True


def hidden_status(payload: dict | None) -> str | None:
    """The product's status when default views hide it (draft, archived), else None. A board may hold such a
    product (a merchandiser planning next season), but adding one should never go unnoticed."""
    status = str((payload or {}).get(F.STATUS) or "").strip().lower()
    return status if status in F.HIDDEN_STATUSES else None


def hidden_note(title: str, status: str) -> str:
    """Plain text telling that a product just added is not live in the shop (the caller escapes it for Markdown)."""
    return f"Note: {title} is {'a draft' if status == 'draft' else 'archived'}, not live in the shop"


def item_results(board: Board):
    """Board items as search results (for the shared product grid), with the score they had when added."""
    from core.search.query import Result

    return [Result(i.product_id, i.score, i.title, i.attributes.get("image_path", ""), i.attributes)
            for i in board.items]
