"""Another catalogue's products placed on our Explore map: our fitted layout, their vectors, no refit.

A reference catalogue (core.insights.reference) is indexed with our model into its own collection. Its products are
placed as our own products indexed after the fit are (core.map.projector.Projector.transform: the similarity-
weighted mean position of their nearest fitted neighbours). A map too small for UMAP has no stored model; there
they are placed the same way among our mapped products, found with the store's own nearest-neighbour search.

A product of theirs that is a copy of one of ours (cosine >= SAME_VECTOR) is put on that product's spot: the
weighted mean would pull it toward its twin's neighbours, and a merchandiser looking for their copy of our
product expects to find it on ours.

Where a product sits is this module's; whether it is a gap is not: overlay_verdicts asks core.insights.gaps.find_gaps,
with the Gaps page's threshold and "match within the same" field, so the map and the Gaps page never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.index.compat import model_of, require_same_model
from core.insights.gaps import GapRow, find_gaps
from core.map.products import read_products, vector_chunks
from core.map.projector import PARAMS, fits
from core.map.storage import CatalogMap, load_projector, map_paths
from core.index.store import Nearest, ProductStore

SAME_VECTOR = 0.9995  # cosine at or above which their product counts as a copy of ours (float32 noise aside)
OVERLAY_FIELDS = ("title", "category", "sub_category", "product_type", "colour", "gender", "image_path")


@dataclass
class Overlay:
    """Positions of a reference catalogue's products on our map, with what hover text and tables need."""

    product_ids: list[str]
    xy: np.ndarray                       # (n, 2), float32, in our map's coordinates
    attrs: dict[str, list[str]] = field(default_factory=dict)   # OVERLAY_FIELDS -> one value per product
    twins: dict[str, str] = field(default_factory=dict)         # their id -> our id, for copies put on ours
    not_placed: list[str] = field(default_factory=list)         # their products without a vector

    def __len__(self) -> int:
        return len(self.product_ids)


def _check_model(ours: ProductStore, theirs: ProductStore) -> None:
    require_same_model(theirs.require_meta(), *model_of(ours.require_meta()), index="the reference catalogue",
                       other="our map's model", advice="index the reference again with our model")


def _neighbours(ours: ProductStore, matrix: np.ndarray, using: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row: our nearest products as (product id, cosine), best first (the store's own search)."""
    if not len(matrix):
        return []
    queries = [Nearest([float(x) for x in row], using=u) for row, u in zip(matrix, using)]
    answers = ours.query_batch(queries, limit=k, payload_keys=["product_id"])
    return [[(str(h.payload.get("product_id", "")), float(h.score)) for h in hits] for hits in answers]


def _weighted(near: list[tuple[str, float]], m: CatalogMap) -> np.ndarray | None:
    """The similarity-weighted mean map position of our products in `near`, weighted as Projector.transform."""
    rows = [(m.row_of[p], s) for p, s in near if p in m.row_of]
    if not rows:
        return None
    weights = np.maximum(np.asarray([s for _, s in rows], dtype=np.float64), 1e-6) ** 4
    weights /= weights.sum()
    return (weights[:, None] * m.xy[[r for r, _ in rows]]).sum(axis=0)


def place_reference(ours: ProductStore, theirs: ProductStore, m: CatalogMap, data_dir: Path,
                    collection: str) -> Overlay:
    """Their products' positions on our map `m` (made from `m.kind` vectors of `ours`), a chunk at a time."""
    _check_model(ours, theirs)
    products = read_products(theirs)
    row_of = {p: i for i, p in enumerate(products.points)}
    projector = None
    if m.method == "umap":
        projector = load_projector(map_paths(data_dir, collection, m.kind)[1])
        if projector is not None and not fits(projector, theirs.require_meta()):
            projector = None
    ids, xy, taken, twins, not_placed = [], [], [], {}, []
    for points, matrix, sources, without in vector_chunks(theirs, m.kind, list(products.points)):
        not_placed += [products.ids[row_of[p]] for p in without if p in row_of]
        if not points:
            continue
        # "both" is a mixed vector no index stores: our nearest by photo (else text) stands in for it.
        using = ["image" if s == "both" else s for s in sources]
        near = _neighbours(ours, matrix, using, 1 if projector is not None else PARAMS["n_neighbors"])
        placed = projector.transform(matrix) if projector is not None else None
        for i, point in enumerate(points):
            pid = products.ids[row_of[point]]
            best = near[i][0] if near[i] else None
            if best and best[1] >= SAME_VECTOR and best[0] in m.row_of and m.kind != "both":
                spot, twins[pid] = m.xy[m.row_of[best[0]]], best[0]
            elif placed is not None:
                spot = placed[i]
            else:
                spot = _weighted(near[i], m)
            if spot is None:
                not_placed.append(pid)
                continue
            ids.append(pid)
            xy.append(np.asarray(spot, dtype=np.float32))
            taken.append(row_of[point])
    attrs = {k: [products.attrs[k][r] if k in products.attrs else "" for r in taken] for k in OVERLAY_FIELDS}
    return Overlay(ids, np.asarray(xy, dtype=np.float32).reshape(-1, 2), attrs, twins, not_placed)


def overlay_verdicts(ours: ProductStore, theirs: ProductStore, threshold: float,
                     same: str | None = None) -> dict[str, GapRow]:
    """Their id -> its row of the Gaps page's matching (find_gaps at this threshold, within the same `same`
    value): one function, one verdict for a product of theirs, on the map as on the Gaps page and in the CLI."""
    return {row.their_id: row for row in find_gaps(ours, theirs, threshold, same=same) if row.their_id is not None}
