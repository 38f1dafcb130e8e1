"""Near-duplicate product images: the groups, a page of them, and finding them on a background thread (no Streamlit)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from core.embedder import normalise
from core.errors import BadQuery, LensError
from core.fields import PRODUCT_ID
from core.filters import Filters
from core.store import ProductStore

MAX_DUPLICATE_PAIRS = 200_000  # beyond this the threshold is too low to mean "duplicate"


@dataclass
class DuplicateGroup:
    """Products whose image vectors are at or above the threshold, linked pairwise."""

    product_ids: list[str]
    pairs: list[tuple[str, str, float]]

    def closest_first(self) -> list[str]:
        """Members in the order their closest pair first links them: the first photos are the likeliest copies."""
        seen: dict[str, None] = {}
        for a, b, _ in self.pairs:
            seen.setdefault(a)
            seen.setdefault(b)
        return list(seen)

    def as_dict(self) -> dict:
        return {"product_ids": self.product_ids,
                "pairs": [{"a": a, "b": b, "score": round(s, 6)} for a, b, s in self.pairs]}


def near_duplicates(store: ProductStore, threshold: float = 0.95, filters: Filters | None = None,
                    chunk: int = 2048) -> list[DuplicateGroup]:
    """Every group of near-identical product images across the whole catalogue.

    The Python Edge API has no search-matrix call, so we scroll the image vectors once and compare them
    in chunked matrix products: exact, and ~1 s for 50,000 products instead of 50,000 queries.
    """
    if not -1.0 <= threshold <= 1.0:
        raise BadQuery(f"threshold must be between -1 and 1, got {threshold}")
    store.require_meta()
    ids, rows = [], []
    for hit in store.scroll(filters, payload_keys=["product_id"], with_vectors=["image"]):
        if "image" in hit.vectors:
            ids.append(hit.payload[PRODUCT_ID])
            rows.append(hit.vectors["image"])
    if len(rows) < 2:
        return []
    matrix = normalise(np.asarray(rows, dtype=np.float32))
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(ids), chunk):
        sims = matrix[start:start + chunk] @ matrix.T
        for a, b in zip(*np.nonzero(sims >= threshold - 1e-6)):
            i, j = start + int(a), int(b)
            if i < j:
                pairs.append((i, j, float(sims[a, b])))
                parent[root(i)] = root(j)
        if len(pairs) > MAX_DUPLICATE_PAIRS:
            raise BadQuery(f"more than {MAX_DUPLICATE_PAIRS:,} pairs are at or above {threshold}: that is "
                           "similarity, not duplication; raise the threshold")
    members: dict[int, set[str]] = {}
    linked: dict[int, list[tuple[str, str, float]]] = {}
    for i, j, score in pairs:
        r = root(i)
        members.setdefault(r, set()).update((ids[i], ids[j]))
        linked.setdefault(r, []).append((*sorted((ids[i], ids[j])), score))
    out = [DuplicateGroup(sorted(members[r]), sorted(linked[r], key=lambda p: (-p[2], p[0], p[1])))
           for r in members]
    return sorted(out, key=lambda g: (-len(g.product_ids), g.product_ids))


def page_of(groups: list, page: int, per_page: int) -> tuple[list, int]:
    """(the groups on a 1-based page, number of pages); a page past the end gives the last one."""
    pages = max(1, -(-len(groups) // per_page))
    page = min(max(1, int(page)), pages)
    return groups[(page - 1) * per_page:page * per_page], pages


class DuplicateSearch:
    """near_duplicates on a background thread, so a page stays usable while it runs.

    It remembers the index version (the metadata's last_indexed) it ran against: once the index changes,
    the groups are out of date and a caller can tell. The store serialises its own access, so the thread
    shares it with the page and with an indexing run.
    """

    _ids = itertools.count(1)

    def __init__(self, store: ProductStore, threshold: float, index_version: float | None):
        self.id = next(self._ids)
        self.threshold = float(threshold)
        self.index_version = index_version
        self.groups: list[DuplicateGroup] | None = None
        self.error: LensError | None = None
        self.seconds: float | None = None
        self._started = time.perf_counter()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store,), name=f"near-duplicates-{self.id}",
                                        daemon=True)
        self._thread.start()

    def _run(self, store: ProductStore) -> None:
        try:
            self.groups = near_duplicates(store, self.threshold)
        except LensError as exc:
            self.error = exc
        except Exception as exc:  # a bug or an engine failure: a message for the page, the details in the log
            logging.getLogger(__name__).exception("finding near-duplicates failed")
            self.error = LensError(f"Finding near-duplicates stopped by an unexpected error ({type(exc).__name__}: "
                                   f"{exc}). The details are in the server's log.")
        finally:
            self.seconds = time.perf_counter() - self._started
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def elapsed(self) -> float:
        return self.seconds if self.seconds is not None else time.perf_counter() - self._started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until finished (tests, benchmarks, the CLI); True when it has."""
        return self._done.wait(timeout)

    def stale(self, index_version: float | None) -> bool:
        """True once the index has been written since this search started."""
        return index_version != self.index_version
