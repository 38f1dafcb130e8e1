"""Cluster naming: clusters found on the 2-D layout (HDBSCAN), or the preview's product-type groups, each named by
what most of its members share, and names made unique.
"""

from __future__ import annotations

import numpy as np

from core.map.sampling import STRATUM_FIELDS, cluster_sample, strata

LABEL_FIELDS = ("gender", "product_type", "colour")
DISTINGUISH_FIELDS = ("colour", "gender", "product_type", "usage", "sub_category", "category")  # for repeated names


def cluster_labels(xy: np.ndarray, attrs: dict[str, list]) -> tuple[np.ndarray, dict[int, str]]:
    """HDBSCAN on the 2-D layout; each cluster named by its members' most common gender, product type and colour.

    `attrs` holds display values per field, aligned with `xy` (CatalogMap.attrs). On a map of more than
    MAP_SAMPLE products (core.map.sampling) the clusters are found on that many positions drawn at random
    (sklearn's HDBSCAN builds its spanning tree in quadratic time), and every product then joins the cluster of its nearest drawn
    position; names and sizes count every product.
    """
    from sklearn.cluster import HDBSCAN

    n = len(xy)
    drawn = cluster_sample(n)
    min_size = max(8, len(drawn) // 60)  # at most ~60 clusters: a map, not confetti
    if len(drawn) < 2 * min_size:
        return np.full(n, -1, dtype=np.int32), {}
    found = HDBSCAN(min_cluster_size=min_size, min_samples=min(min_size, 10), copy=True).fit_predict(xy[drawn])
    if len(drawn) == n:
        cluster = found.astype(np.int32)
    else:
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(xy[drawn]).query(xy, k=1, workers=-1)
        cluster = found[nearest].astype(np.int32)
    columns = _Columns(attrs, n)
    members = _members(cluster)
    labels = {}
    for c, rows in members.items():
        parts = []
        for key in LABEL_FIELDS:
            value, count = columns.lead(key, rows)
            if value and count >= 0.6 * len(rows):  # only what most of the cluster shares
                parts.append(value)
        if not parts:  # nothing most members share: say what leads, and that it is mixed
            top = columns.lead("product_type", rows)[0]
            parts = ["Mixed", top] if top else [f"Cluster {c + 1}"]
        labels[int(c)] = " · ".join(parts)
    return cluster, unique_labels(labels, cluster, attrs, columns)


def stratum_groups(attrs: dict[str, list], n: int, most: int = 60) -> tuple[np.ndarray, dict[int, str]]:
    """Groups for the PCA preview: each product's product type (else sub-category, else category), the `most`
    largest named; the rest unclustered."""
    named = strata({k: attrs.get(k) or [""] * n for k in STRATUM_FIELDS})
    code: dict[str, int] = {}
    codes = np.fromiter((code.setdefault(v, len(code)) for v in named), dtype=np.int64, count=n)
    names = list(code)
    sizes = np.bincount(codes, minlength=len(names)) if n else np.zeros(0, dtype=np.int64)
    kept = [c for c in np.argsort(-sizes, kind="stable")[:most].tolist() if names[c]]
    renumber = np.full(len(names) + 1, -1, dtype=np.int32)
    renumber[kept] = np.arange(len(kept), dtype=np.int32)
    return renumber[codes] if n else np.zeros(0, dtype=np.int32), {i: names[c] for i, c in enumerate(kept)}


class _Columns:
    """Attribute columns as integer codes (made on first use), for counting values over a million members."""

    def __init__(self, attrs: dict[str, list], n: int):
        self.attrs, self.n, self.coded = attrs, n, {}

    def lead(self, key: str, rows: np.ndarray) -> tuple[str, int]:
        """The most common value among the rows and its count; a tie goes to the value met first in row order
        (as Counter.most_common does)."""
        if key not in self.coded:
            column = self.attrs.get(key)
            column = column if column is not None and len(column) == self.n else [""] * self.n
            code: dict[str, int] = {}
            codes = np.fromiter((code.setdefault(str(v), len(code)) for v in column), dtype=np.int64, count=self.n)
            self.coded[key] = (list(code), codes)
        values, codes = self.coded[key]
        member_codes = codes[rows]
        counts = np.bincount(member_codes, minlength=len(values))
        tied = np.flatnonzero(counts == counts.max())
        best = tied[0] if len(tied) == 1 else min(tied, key=lambda c: int(np.argmax(member_codes == c)))
        return values[best], int(counts[best])


def _members(cluster: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of each cluster (not the unclustered), in row order."""
    order = np.argsort(cluster, kind="stable")
    ids, starts = np.unique(cluster[order], return_index=True)
    return {int(c): rows for c, rows in zip(ids, np.split(order, starts[1:])) if c != -1}


def unique_labels(labels: dict[int, str], cluster: np.ndarray, attrs: dict[str, list],
                  columns: _Columns | None = None) -> dict[int, str]:
    """Give clusters that share a name what sets them apart ("· mostly Blue"), else a number (largest first).

    Two clusters both called "Mixed · Shirts" are two places on the map a merchandiser cannot tell apart.
    """
    labels = dict(labels)
    groups = repeated_names(labels)
    if not groups:
        return labels
    columns = columns or _Columns(attrs, len(cluster))
    members = _members(np.asarray(cluster))
    for group in groups:
        for key in DISTINGUISH_FIELDS:
            leads = {c: columns.lead(key, members[c])[0] for c in group}
            if len(set(leads.values())) > 1 and all(leads.values()):
                for c in group:
                    labels[c] = f"{labels[c]} · mostly {leads[c]}"
                break
    for group in repeated_names(labels):
        for n, c in enumerate(sorted(group, key=lambda c: (-len(members[c]), c)), 1):
            labels[c] = f"{labels[c]} ({n})"
    return labels


def repeated_names(labels: dict[int, str]) -> list[list[int]]:
    by_name: dict[str, list[int]] = {}
    for c, name in sorted(labels.items()):
        by_name.setdefault(name, []).append(c)
    return [group for group in by_name.values() if len(group) > 1]


