"""Which products a map is fitted and clustered on: a large catalogue's stratified fit sample and the positions
its clusters are found on, both bounded by MAP_SAMPLE.
"""

from __future__ import annotations

import numpy as np

from core.map.projector import PARAMS

# Products the layout is fitted on, and the positions clusters are found on: UMAP's fit and HDBSCAN's spanning
# tree grow faster than the catalogue (sklearn's HDBSCAN is quadratic), so a larger catalogue is fitted on a
# stratified sample of this many and everyone else is placed by nearest fitted neighbours.
MAP_SAMPLE = 50_000
STRATUM_FIELDS = ("product_type", "sub_category", "category")  # the first one a product has is its stratum
MIN_PER_STRATUM = 20  # a small product type still gets enough fitted products to have neighbours of its own


def strata(attrs: dict[str, list]) -> list[str]:
    """Each product's stratum: its product type, else sub-category, else category (the first one it has)."""
    columns = [attrs[k] for k in STRATUM_FIELDS]
    return [next((v for v in values if v), "") for values in zip(*columns)]


def stratified_sample(strata: list[str], cap: int | None = None, seed: int = PARAMS["seed"]) -> np.ndarray:
    """Sorted rows of at most `cap` products, every stratum in it: at least MIN_PER_STRATUM of each (all of a
    smaller one), the rest shared in proportion to the strata's sizes; everyone when there are `cap` or fewer.

    Within a stratum the products are drawn at random with a fixed seed, so the same catalogue gives the same
    sample. With more strata than the cap can cover, a plain random sample. The cap defaults to MAP_SAMPLE, read
    when called (the one setting for the fit sample and the cluster sample).
    """
    cap = MAP_SAMPLE if cap is None else cap
    n = len(strata)
    if n <= cap:
        return np.arange(n)
    code: dict[str, int] = {}
    codes = np.fromiter((code.setdefault(s, len(code)) for s in strata), dtype=np.int64, count=n)
    sizes = np.bincount(codes)
    rank = np.random.default_rng(seed).permutation(n)
    if len(sizes) > cap:
        return np.sort(np.argsort(rank)[:cap])
    floor = np.minimum(sizes, max(1, min(MIN_PER_STRATUM, cap // len(sizes))))
    room = sizes - floor
    extra = np.floor((cap - floor.sum()) * room / max(room.sum(), 1)).astype(np.int64)
    quota = floor + np.minimum(extra, room)
    order = np.lexsort((rank, codes))  # by stratum, then by the random rank
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(n) - first[codes[order]]
    return np.sort(order[position < quota[codes[order]]])


def cluster_sample(n: int) -> np.ndarray:
    """Rows whose positions clusters are found on: all of them, or MAP_SAMPLE drawn with a fixed seed."""
    if n <= MAP_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(PARAMS["seed"]).choice(n, MAP_SAMPLE, replace=False))

