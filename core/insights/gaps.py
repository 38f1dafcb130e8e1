"""Matching a reference catalogue against ours: matches, gaps (theirs we lack) and our unique range."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from core.index.compat import model_of, require_same_model
from core.common.errors import BadQuery, UnknownFilterField
from core.common.fields import INTERNAL_KEYS, PRODUCT_ID, TITLE, values_of
from core.common.filters import Filters, check_field
from core.insights.reference import not_indexed
from core.index.store import Hit, Nearest, ProductStore
from core.search.query import best_pair_batch, own_photo_rows

BATCH = 256  # query vectors per batched engine call
MATCH, GAP = "match", "gap"
HIDDEN = INTERNAL_KEYS  # bookkeeping no page shows
Progress = Callable[[int, int], None]


@dataclass
class GapRow:
    """One product of the side being listed, its closest counterpart on the other side, and the verdict.

    In find_gaps the listed product is theirs; in our_unique it is ours (their_* then name the closest reference
    product, None when they have none to compare with). verdict is "match" at or above the threshold, else "gap".
    """

    their_id: str | None
    their_title: str
    our_id: str | None
    our_title: str
    similarity: float | None
    verdict: str
    their_payload: dict = field(default_factory=dict)
    our_payload: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"their_id": self.their_id, "their_title": self.their_title, "our_id": self.our_id,
                "our_title": self.our_title, "verdict": self.verdict,
                "similarity": None if self.similarity is None else round(self.similarity, 6)}


# The similarity at which a product of theirs counts as one we have: the default everywhere (CLI, Gaps, map).
MATCH_THRESHOLD = 0.8


def find_gaps(ours: ProductStore, theirs: ProductStore, threshold: float = MATCH_THRESHOLD, filters: Filters | None = None,
              same: str | None = None, progress: Progress | None = None, show_hidden: bool = False) -> list[GapRow]:
    """Every reference product (those the filters keep) with our closest product: gaps first, then matches.

    Closest by photo: the best pair of photos, one theirs, one ours (core.search.query.best_pair_batch; with one
    photo each, their image vector among ours); a reference product without a photo by text (their text vector
    among our text vectors). With `same`, only among our products with one of its values of that field; a
    reference product without a value has nothing to be kept to, so it is matched among all of ours. Draft and
    archived products, on either side, are left out (unless show_hidden or the filters name a status): a product
    we do not sell covers no gap.
    """
    check_pair(ours, theirs, threshold, filters, same)
    rows = [_row(hit, best, threshold, mine_first=False)
            for hit, best in _closest(theirs, ours, filters, same, progress, show_hidden)]
    return _ordered(rows, key=lambda r: r.their_id or "")


def our_unique(ours: ProductStore, theirs: ProductStore, threshold: float = MATCH_THRESHOLD, filters: Filters | None = None,
               same: str | None = None, progress: Progress | None = None, show_hidden: bool = False) -> list[GapRow]:
    """Our products (those the filters keep) with no reference product at or above the threshold; each with the
    closest reference product, matched as find_gaps matches theirs (drafts and archived ones left out alike)."""
    check_pair(ours, theirs, threshold, filters, same, listed=ours)
    rows = [_row(best, hit, threshold, mine_first=True)
            for hit, best in _closest(ours, theirs, filters, same, progress, show_hidden)]
    return _ordered([r for r in rows if r.verdict == GAP], key=lambda r: r.our_id or "")


def gap_counts(rows: list[GapRow], field: str) -> list[tuple[str, int, int]]:
    """(value of the reference product's field, gaps, products) per value, most gaps first; a product in several
    values (colours) counts in each, one without a value under ""."""
    tally: dict[str, list[int]] = {}
    for row in rows:
        for value in values_of(row.their_payload.get(field)) or [""]:
            counts = tally.setdefault(value, [0, 0])
            counts[0] += row.verdict == GAP
            counts[1] += 1
    return sorted(((v, g, n) for v, (g, n) in tally.items()), key=lambda t: (-t[1], -t[2], t[0]))


def check_threshold(threshold: float) -> float:
    """The threshold if it is a similarity from 0 to 1, else BadQuery."""
    if not 0.0 <= threshold <= 1.0:  # also refuses nan
        raise BadQuery(f"threshold must be between 0 and 1, got {threshold}")
    return threshold


def filters_within(filters: Filters | None, store: ProductStore) -> tuple[Filters | None, list[str]]:
    """The filters on the fields `store`'s catalogue has, and the fields dropped: the app's sidebar filters come
    from our catalogue, and a field the other side lacks would otherwise stop the whole matching."""
    if not filters:
        return filters, []
    schema = store.schema()
    have = {*schema.keyword, *schema.number, *schema.text}
    asked = [*filters.include, *filters.exclude, *filters.ranges, *filters.lacking]
    dropped = sorted({f for f in asked if f not in have})
    if not dropped:
        return filters, []
    kept = Filters({k: v for k, v in filters.include.items() if k in have},
                   {k: v for k, v in filters.exclude.items() if k in have}, filters.exclude_ids,
                   {k: v for k, v in filters.ranges.items() if k in have},
                   tuple(f for f in filters.lacking if f in have))
    return kept or None, dropped


def check_pair(ours: ProductStore, theirs: ProductStore, threshold: float, filters: Filters | None,
               same: str | None, listed: ProductStore | None = None) -> None:
    """Bad requests raise before any query: threshold, an index missing, two models, unknown fields."""
    check_threshold(threshold)
    meta = ours.meta()
    if meta is None:
        raise not_indexed()
    their_meta = theirs.require_meta()
    require_same_model(their_meta, *model_of(meta), index="the reference", other="our catalogue's model",
                       advice="add the reference again with our model")
    if filters:
        filters.check((listed or theirs).schema())
    if same is not None:
        check_field(same)
        for side, store in (("our", ours), ("the reference", theirs)):
            if same not in store.schema().keyword:
                raise UnknownFilterField(f"--same {same}: {side} catalogue has no filter field {same!r}; "
                                         f"its filter fields: {', '.join(store.schema().keyword)}")


def _closest(listed: ProductStore, other: ProductStore, filters: Filters | None, same: str | None,
             progress: Progress | None, show_hidden: bool = False) -> Iterator[tuple[Hit, Hit | None]]:
    """(listed product, its closest product in `other` or None), for every listed product the filters keep.

    The listed side is read a page at a time; queries wait in one queue per (vector space, `same` values)
    and go out BATCH at a time as one batched engine call with limit 1, so memory holds at most a batch per
    queue, never the whole catalogue's vectors.
    """
    filters = (filters or Filters()).visible(show_hidden)
    total = listed.count(filters)
    done = 0
    queues: dict[tuple[str, tuple[str, ...]], list[Hit]] = {}
    if progress:
        progress(0, total)
    for hit in listed.scroll(filters, with_vectors=True):
        using = "image" if own_photo_rows(hit) is not None else "text"
        values = tuple(sorted(set(values_of(hit.payload.get(same))))) if same else ()
        queue = queues.setdefault((using, values), [])
        queue.append(hit)
        if len(queue) == BATCH:
            yield from _ask(other, using, same, values, queue, show_hidden)
            done += len(queue)
            queue.clear()
            if progress:
                progress(done, total)
    for (using, values), queue in queues.items():
        yield from _ask(other, using, same, values, queue, show_hidden)
        done += len(queue)
        if progress and queue:
            progress(done, total)


def _ask(other: ProductStore, using: str, same: str | None, values: tuple[str, ...],
         queue: list[Hit], show_hidden: bool = False) -> Iterator[tuple[Hit, Hit | None]]:
    if not queue:
        return
    within = (Filters({same: values}) if same and values else Filters()).visible(show_hidden)
    if using == "image":  # the best pair of photos; each photo's closest product is enough for the closest one
        answers = best_pair_batch(other, [own_photo_rows(h) for h in queue], within, 1)
    else:
        answers = other.query_batch([Nearest(h.vectors[using], using=using) for h in queue], within, limit=1)
    for hit, found in zip(queue, answers):
        yield hit, (found[0] if found else None)


def _row(their: Hit | None, our: Hit | None, threshold: float, mine_first: bool) -> GapRow:
    """A row from the reference hit and our hit; the score is on whichever of the two was found."""
    found = our if not mine_first else their
    score = found.score if found is not None else None
    verdict = MATCH if score is not None and score >= threshold else GAP
    return GapRow(_id(their), _title(their), _id(our), _title(our), score, verdict, _shown(their), _shown(our))


def _id(hit: Hit | None) -> str | None:
    return None if hit is None else str(hit.payload.get(PRODUCT_ID, ""))


def _title(hit: Hit | None) -> str:
    return "" if hit is None else str(hit.payload.get(TITLE, ""))


def _shown(hit: Hit | None) -> dict:
    return {} if hit is None else {k: v for k, v in hit.payload.items() if k not in HIDDEN}


def _ordered(rows: list[GapRow], key) -> list[GapRow]:
    """Least similar first (no counterpart at all before any score), ties by the listed product's id."""
    return sorted(rows, key=lambda r: (r.similarity is not None, r.similarity or 0.0, key(r)))
