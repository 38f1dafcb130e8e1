"""Near-duplicate product images: the groups, a page of them, and finding them on a background thread (no Streamlit)."""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from dataclasses import dataclass

from core.errors import BadQuery, LensError
from core.fields import PRODUCT_ID
from core.filters import Filters
from core.store import Nearest, ProductStore

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


NEIGHBOURS = 16  # first ask of each product: its 16 nearest at or above the threshold
BATCH = 256  # products asked about in one batched engine call
SLACK = 1e-6  # a pair exactly at the threshold counts, whatever the engine's last float bit says
# The HNSW beam per query (the engine widens it to the limit when the limit is larger). Near-duplicates sit far
# closer to each other than to the rest of their cluster, so a narrow beam finds them: at 100,000 clustered
# products ef 64 took 0.15 ms a query against 0.24 ms at the engine's default (100), with every pair found.
HNSW_EF = 64


def near_duplicates(store: ProductStore, threshold: float = 0.95, filters: Filters | None = None,
                    neighbours: int = NEIGHBOURS, batch: int = BATCH) -> list[DuplicateGroup]:
    """Every group of near-identical product images across the catalogue (or the products the filters keep).

    Each product asks the engine for its `neighbours` nearest images at or above the threshold, in batches;
    a product whose answer comes back full asks again with twice the limit, until its answer is not full.
    So every product gets all its near-duplicates, not only the first few, and the pairs are brute force's
    pairs: with exact search (the engine before it builds a vector index) they are identical, and with HNSW
    they are as complete as the engine's recall. The work is one small query per product plus a few more for
    crowded products: near-linear once the engine has its vector index, where comparing every pair took
    tens of seconds at 50,000 products. Memory holds the pairs, never every vector. Groups are the connected
    components of the pairs (union-find), so a~b and b~c group a, b and c even when a and c are not close.
    """
    if not -1.0 <= threshold <= 1.0:
        raise BadQuery(f"threshold must be between -1 and 1, got {threshold}")
    if neighbours < 1:
        raise BadQuery(f"neighbours must be at least 1, got {neighbours}")
    store.require_meta()
    nearest = functools.partial(_nearest, store)
    pairs: dict[tuple[str, str], float] = {}
    page: list[tuple[str, list]] = []
    for hit in store.scroll(filters, payload_keys=[PRODUCT_ID], with_vectors=["image"]):
        if "image" in hit.vectors:  # a product without a photo has nothing to be a duplicate of
            page.append((hit.payload[PRODUCT_ID], hit.vectors["image"]))
        if len(page) == batch:
            _link(nearest, page, filters, threshold, neighbours, pairs)
            page = []
    _link(nearest, page, filters, threshold, neighbours, pairs)
    return _groups(pairs)


def _link(nearest, products: list[tuple[str, list]], filters: Filters | None, threshold: float,
          neighbours: int, pairs: dict[tuple[str, str], float]) -> None:
    """Add every pair at or above the threshold that involves one of these products."""
    limit = neighbours + 1  # the product finds itself too
    while products:
        answers = nearest([vector for _, vector in products], filters, limit, threshold - SLACK)
        full = []
        for (product, vector), found in zip(products, answers):
            for other, score in found:
                if other != product:
                    pairs[(product, other) if product < other else (other, product)] = score
            if len(found) >= limit:  # there may be more above the threshold: ask this one again, wider
                full.append((product, vector))
        if len(pairs) > MAX_DUPLICATE_PAIRS:
            raise BadQuery(f"more than {MAX_DUPLICATE_PAIRS:,} pairs are at or above {threshold}: that is "
                           "similarity, not duplication; raise the threshold")
        products, limit = full, limit * 2


def _groups(pairs: dict[tuple[str, str], float]) -> list[DuplicateGroup]:
    """Connected components of the pairs, largest first; in each, pairs closest first (ties by ids)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    members: dict[str, list[str]] = {}
    linked: dict[str, list[tuple[str, str, float]]] = {}
    for x in parent:
        members.setdefault(root(x), []).append(x)
    for (a, b), score in pairs.items():
        linked.setdefault(root(a), []).append((a, b, score))
    out = [DuplicateGroup(sorted(members[r]), sorted(linked[r], key=lambda p: (-p[2], p[0], p[1])))
           for r in members]
    return sorted(out, key=lambda g: (-len(g.product_ids), g.product_ids))


def _nearest(store: ProductStore, vectors: list, filters: Filters | None, limit: int,
             threshold: float) -> list[list[tuple[str, float]]]:
    """Per vector, [(product id, score), ...] best first: one batched engine call for the whole page.

    A batch is cheaper than one query each: the embedded engine plans it as one pass over its segments
    (about 2x cheaper per query, measured) and a server gets one request. Only the product id comes back,
    not the payload. The store rescores int8 candidates with the original vectors, so the scores compared
    with the threshold are the originals' (issue 11: leaving the search params out behaved like no rescore).
    """
    answers = store.query_batch([Nearest(v, using="image") for v in vectors], filters, limit, threshold=threshold,
                                payload_keys=[PRODUCT_ID], hnsw_ef=HNSW_EF)
    return [[(h.payload[PRODUCT_ID], h.score) for h in hits] for hits in answers]


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
