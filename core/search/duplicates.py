"""Near-duplicate product images: the groups, a page of them, and finding them on a background thread (no Streamlit)."""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from core.common.vectors import normalise
from core.common.errors import BadQuery, LensError
from core.common.fields import MATCHED_PHOTOS, PRODUCT_ID, SHARED_PHOTOS
from core.common.filters import Filters
from core.index.store import ProductStore
from core.search.query import best_pair_batch, own_photo_rows, photo_space

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

    def pairs_of(self, product_id: str) -> list[tuple[str, str]]:
        """The product's pairs in this group: dismissing them all takes it out of the group ("not a duplicate of
        this group"), and the rest regroup by their own pairs."""
        return [(a, b) for a, b, _ in self.pairs if product_id in (a, b)]

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
# Up to this many products with a photo, the pairs come from matrix products of their vectors (exact, in numpy,
# which releases the interpreter lock); beyond it, from the engine's nearest neighbours. Below the engine's own
# indexing threshold (20,000) each engine query is an exact scan of the same vectors anyway, so the two agree;
# what differs is the cost of a crowded catalogue. At 300 products that all sit above 0.95 (a randomly
# initialised ViT-B/32 puts every photo there) the engine path asked 6 rounds of widening queries and built
# 174,000 hits in Python: 6 s, against 0.02 s for one 300 x 300 product (docs/benchmarks.md, issue 19).
EXACT_UP_TO = 10_000
EXACT_CHUNK = 512  # rows per matrix product: 512 x 10,000 float32 is 20 MB


@dataclass(frozen=True)
class Pairs:
    """Every pair at or above a threshold: product ids sorted, and per pair the two positions (a < b, so the
    first id sorts first) and the cosine similarity. Arrays, not tuples: 37,000 pairs regroup in about 0.1 s
    when a merchandiser dismisses one."""

    ids: list[str]
    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def from_dict(cls, pairs: dict[tuple[str, str], float]) -> "Pairs":
        ids = sorted({x for pair in pairs for x in pair})
        at = {pid: n for n, pid in enumerate(ids)}
        a = np.fromiter((at[x] for x, _ in pairs), dtype=np.int64, count=len(pairs))
        b = np.fromiter((at[y] for _, y in pairs), dtype=np.int64, count=len(pairs))
        return cls(ids, a, b, np.fromiter(pairs.values(), dtype=np.float64, count=len(pairs)))

    def without(self, dismissed) -> "Pairs":
        """These pairs less the dismissed ones ((a, b) either way round): what a person said are not duplicates."""
        if not dismissed or not len(self):
            return self
        at = {pid: n for n, pid in enumerate(self.ids)}
        n = len(self.ids)
        gone = [min(at[x], at[y]) * n + max(at[x], at[y]) for x, y in dismissed if x in at and y in at and x != y]
        if not gone:
            return self
        keep = ~np.isin(self.a * n + self.b, gone)
        return Pairs(self.ids, self.a[keep], self.b[keep], self.scores[keep])

    def groups(self) -> list[DuplicateGroup]:
        """Connected components of the pairs, largest first; in each, pairs closest first (ties by ids)."""
        if not len(self):
            return []
        n = len(self.ids)
        label = _components(n, self.a.tolist(), self.b.tolist())
        order = np.lexsort((self.b, self.a, -self.scores, label[self.a]))  # by group, closest first, then ids
        a, b, scores, group = self.a[order], self.b[order], self.scores[order], label[self.a][order]
        bounds = np.flatnonzero(np.diff(group)) + 1
        members = np.zeros(n, dtype=bool)
        members[self.a] = members[self.b] = True
        by_label: dict[int, list[str]] = {}
        for position in np.flatnonzero(members):  # ids are sorted, so each group's members come sorted
            by_label.setdefault(int(label[position]), []).append(self.ids[position])
        ids = self.ids
        out = []
        for a_part, b_part, s_part in zip(np.split(a, bounds), np.split(b, bounds), np.split(scores, bounds)):
            out.append(DuplicateGroup(by_label[int(label[a_part[0]])],
                                      [(ids[i], ids[j], s) for i, j, s in zip(a_part.tolist(), b_part.tolist(),
                                                                             s_part.tolist())]))
        return sorted(out, key=lambda g: (-len(g.product_ids), g.product_ids))


def _components(n: int, a: list[int], b: list[int]) -> np.ndarray:
    """Each position's connected component (its root's position), by union-find over the pairs."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a, b):
        rx, ry = root(x), root(y)
        if rx != ry:
            parent[rx] = ry
    return np.array([root(x) for x in range(n)], dtype=np.int64)


def near_duplicates(store: ProductStore, threshold: float = 0.95, filters: Filters | None = None,
                    neighbours: int = NEIGHBOURS, batch: int = BATCH, dismissed=(),
                    exact_up_to: int | None = None, show_hidden: bool = False) -> list[DuplicateGroup]:
    """Every group of near-identical product images across the catalogue (or the products the filters keep),
    less the pairs a person dismissed as not duplicates (core.curation.duplicate_dismissals): a group they held together
    splits, or goes, accordingly. See find_pairs for how the pairs are found."""
    return find_pairs(store, threshold, filters, neighbours, batch, exact_up_to,
                      show_hidden).without(dismissed).groups()


def find_pairs(store: ProductStore, threshold: float = 0.95, filters: Filters | None = None,
               neighbours: int = NEIGHBOURS, batch: int = BATCH, exact_up_to: int | None = None,
               show_hidden: bool = False) -> Pairs:
    """Every pair of products at or above the threshold, exactly as brute force finds them.

    A pair's similarity is its best pair of photos (core.search.query.best_pair_batch): the cosine of the two
    closest photos, one of each product, shared photos (a size chart) left out; with one photo each, the cosine
    of the two photos, as before several photos. Draft and archived products are left out unless show_hidden or
    the filters name a status.

    Up to `exact_up_to` (default EXACT_UP_TO) photo vectors (every product's own photos, so memory stays bounded
    however many photos products have): read in one scroll, multiplied a block of rows at a time (exact). Beyond
    that, each product asks the engine for its `neighbours` nearest products at or above the threshold, in
    batches; a product whose answer comes back full asks again with twice the limit, until its answer is not full
    (its photos' answers merged: under the limit, no photo's answer was full). So every product gets all its
    near-duplicates, not only the first few: with exact search (the engine before it builds a vector index) the
    pairs are brute force's, and with HNSW they are as complete as the engine's recall. That work is one small
    query per photo plus a few more for crowded products: near-linear once the engine has its vector index, where
    comparing every pair took tens of seconds at 50,000 products; memory then holds the pairs, never every vector.
    Groups are the connected components of the pairs, so a~b and b~c group a, b and c even when a and c are not
    close.
    """
    if not -1.0 <= threshold <= 1.0:
        raise BadQuery(f"threshold must be between -1 and 1, got {threshold}")
    if neighbours < 1:
        raise BadQuery(f"neighbours must be at least 1, got {neighbours}")
    store.require_meta()
    filters = (filters or Filters()).visible(show_hidden)
    exact_up_to = EXACT_UP_TO if exact_up_to is None else exact_up_to
    nearest = functools.partial(_nearest, store)
    found: dict[tuple[str, str], float] | None = None  # the engine's pairs, once the catalogue is past exact_up_to
    # Each photo's vector as a float32 row as soon as it is read: 2 KB at 512-d, where the engine's list of Python
    # floats takes 16 KB (10,000 photos held 167 MB of lists before a single product was compared).
    page: list[tuple[str, np.ndarray]] = []
    held = 0  # photo rows read so far: past exact_up_to, the engine finds the pairs
    space = photo_space(store)
    for hit in store.scroll(filters, payload_keys=[PRODUCT_ID, MATCHED_PHOTOS, SHARED_PHOTOS], with_vectors=[space]):
        rows = own_photo_rows(hit)
        if rows is not None:  # a product without a photo has nothing to be a duplicate of
            page.append((hit.payload[PRODUCT_ID], rows))
            held += len(rows)
        if found is None and held > exact_up_to:
            found = {}
        while found is not None and len(page) >= batch:
            _link(nearest, page[:batch], filters, threshold, neighbours, found)
            del page[:batch]
    if found is None:
        return _exact_pairs(page, threshold)
    _link(nearest, page, filters, threshold, neighbours, found)
    return Pairs.from_dict(found)


def _exact_pairs(products: list[tuple[str, np.ndarray]], threshold: float) -> Pairs:
    """Every pair at or above the threshold by matrix products of the unit photo rows, a block of rows at a time;
    a pair of products scores its best pair of photos (photos of one product are never a pair)."""
    if not products:  # a text-only feed, every photo failed, or filters that keep no photo: nothing to pair
        return _no_pairs()
    products.sort(key=lambda p: p[0])
    ids = [pid for pid, _ in products]
    owner = np.repeat(np.arange(len(ids), dtype=np.int64), [len(rows) for _, rows in products])
    matrix = np.concatenate([rows.reshape(len(rows), -1) for _, rows in products])
    products.clear()  # the rows now live in the matrix alone
    matrix = normalise(matrix)  # unit rows, the project's one normalisation: cosine, as the engine scores
    a, b, s = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    for start in range(0, len(matrix), EXACT_CHUNK):
        block = matrix[start:start + EXACT_CHUNK] @ matrix[start:].T  # each row against itself and every later one
        rows, cols = np.nonzero(block >= threshold - SLACK)
        # rows come in product id order, so a later row's product is never an earlier one: keep a < b
        keep = owner[rows + start] < owner[cols + start]
        rows, cols = rows[keep], cols[keep]
        a, b, s = _best_per_pair(np.concatenate([a, owner[rows + start]]), np.concatenate([b, owner[cols + start]]),
                                 np.concatenate([s, block[rows, cols].astype(np.float64)]))
        if len(a) > MAX_DUPLICATE_PAIRS:
            raise _too_many(threshold)
    return Pairs(ids, a, b, s)


def _best_per_pair(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (a, b), its highest score (the best pair of photos), in (a, b) order."""
    if len(a) < 2:
        return a, b, s
    order = np.lexsort((-s, b, a))
    a, b, s = a[order], b[order], s[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[first], b[first], s[first]


def _no_pairs() -> Pairs:
    return Pairs([], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))


def _too_many(threshold: float) -> BadQuery:
    return BadQuery(f"more than {MAX_DUPLICATE_PAIRS:,} pairs are at or above {threshold}: that is "
                    "similarity, not duplication; raise the threshold")


def _link(nearest, products: list[tuple[str, np.ndarray]], filters: Filters | None, threshold: float,
          neighbours: int, pairs: dict[tuple[str, str], float]) -> None:
    """Add every pair at or above the threshold that involves one of these products (each with its photo rows)."""
    limit = neighbours + 1  # the product finds itself too
    while products:
        answers = nearest([rows for _, rows in products], filters, limit, threshold - SLACK)
        full = []
        for (product, rows), found in zip(products, answers):
            for other, score in found:
                if other != product:
                    key = (product, other) if product < other else (other, product)
                    pairs[key] = max(score, pairs.get(key, score))
            # The merged answer holds every photo's answer: under the limit, no photo's answer was full.
            if len(found) >= limit:  # there may be more above the threshold: ask this one again, wider
                full.append((product, rows))
        if len(pairs) > MAX_DUPLICATE_PAIRS:
            raise _too_many(threshold)
        products, limit = full, limit * 2


def _nearest(store: ProductStore, products: list, filters: Filters | None, limit: int,
             threshold: float) -> list[list[tuple[str, float]]]:
    """Per product (its photo rows), [(product id, best pair's score), ...] best first: one batched engine call for
    the whole page (core.search.query.best_pair_batch).

    A batch is cheaper than one query each: the embedded engine plans it as one pass over its segments
    (about 2x cheaper per query, measured) and a server gets one request. Only the product id comes back,
    not the payload. The store rescores int8 candidates with the original vectors, so the scores compared
    with the threshold are the originals' (issue 11: leaving the search params out behaved like no rescore).
    """
    answers = best_pair_batch(store, products, filters, limit, threshold=threshold, payload_keys=[PRODUCT_ID],
                              hnsw_ef=HNSW_EF)
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
    shares it with the page and with an indexing run. It keeps every pair it found, so a pair dismissed (or
    restored) afterwards regroups them at once (regroup) instead of searching again.
    """

    _ids = itertools.count(1)

    def __init__(self, store: ProductStore, threshold: float, index_version: float | None, dismissed=frozenset(),
                 show_hidden: bool = False):
        self.id = next(self._ids)
        self.threshold = float(threshold)
        self.show_hidden = bool(show_hidden)  # draft and archived products too (the app's toggle)
        self.index_version = index_version
        self.dismissed = frozenset(dismissed)
        self.pairs: Pairs | None = None
        self.groups: list[DuplicateGroup] | None = None  # less the pairs dismissed when it started
        self.error: LensError | None = None
        self.seconds: float | None = None
        self._started = time.perf_counter()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store,), name=f"near-duplicates-{self.id}",
                                        daemon=True)
        self._thread.start()

    def _run(self, store: ProductStore) -> None:
        try:
            self.pairs = find_pairs(store, self.threshold, show_hidden=self.show_hidden)
            self.groups = self.pairs.without(self.dismissed).groups()
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

    def regroup(self, dismissed) -> list[DuplicateGroup]:
        """The groups less these dismissed pairs; the last answer is kept, so a page's reruns cost nothing."""
        dismissed = frozenset(dismissed)
        if self.pairs is None:
            return []
        if dismissed != self.dismissed:
            self.groups, self.dismissed = self.pairs.without(dismissed).groups(), dismissed
        return self.groups or []

    def stale(self, index_version: float | None) -> bool:
        """True once the index has been written since this search started."""
        return index_version != self.index_version
