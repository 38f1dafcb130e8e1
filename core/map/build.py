"""Making the catalogue map: read the products, lay them out (PCA then UMAP, cosine), name the clusters, store it.

The map is computed after indexing (CLI or app), never at page load, and stored under LENS_DATA_DIR keyed by
the index content and the parameters. A large catalogue is fitted on a stratified sample of MAP_SAMPLE products
and the rest are placed by their nearest fitted neighbours, read a chunk of vectors at a time; products added
later are placed the same way. The app fits UMAP in a process of its own (core.map.job): compute_map then stores
a PCA map at once (the preview) and finish_map lays everyone out once the worker's fit is in.

The parts: core.map.products (what is read from the index), core.map.sampling (the fit sample), core.map.projector
(the layout), core.map.neighbours (the searches it places products by), core.map.clusters (names) and
core.map.storage (the files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.common.errors import BadQuery, StoreError
from core.index.compat import model_of
from core.index.store import ProductStore
from core.map.clusters import cluster_labels, stratum_groups
from core.map.products import VECTOR_KINDS, Products, read_products, vector_chunks
from core.map.projector import PARAMS, PrincipalAxes, Projector, fits, small_layout
from core.map.sampling import strata, stratified_sample
from core.map.storage import (PCA, PREVIEW, UMAP, CatalogMap, index_key, load_map, load_projector, map_paths,
                              params_key, save_map, save_projector, store_version)

MAX_TRANSFORM_SHARE = 0.2  # more new products than this share of the mapped set: refit instead
Progress = Callable[[str, float], None]


@dataclass
class FitSample:
    """What a UMAP fit elsewhere (core.map.job) is fitted on: the sample's point ids, the vector each was read
    from, their fingerprints then (a product changed since is placed again) and the vectors, one row each."""

    points: list[str]
    sources: list[str]
    fingerprints: list[str]
    matrix: np.ndarray


StartFit = Callable[[FitSample], None]


def compute_map(store: ProductStore, data_dir: Path, collection: str, kind: str = "image", refit: bool = False,
                progress: Progress | None = None, numba_cache: Path | None = None,
                start_fit: StartFit | None = None) -> CatalogMap:
    """The map for the current index: stored if fresh, else updated by transform, else fitted from scratch.

    Stages: read the products (payloads only), then either place the new and changed ones in the stored layout
    or fit a layout on a stratified sample and place everyone else, a chunk of vectors at a time; then name
    the clusters and store the map.

    With `start_fit` (the app: core.map.job), a UMAP fit is not run here: `start_fit` gets the sample to fit
    elsewhere, and the map returned (and stored as the preview) is a PCA map of everyone, method PREVIEW;
    finish_map makes the UMAP map once that fit is in. numba_cache: numba's folder (default: the machine's).
    """
    if kind not in VECTOR_KINDS:
        raise BadQuery(f"vectors must be one of {', '.join(VECTOR_KINDS)}, got {kind!r}")
    report = progress or (lambda stage, fraction: None)
    version = store_version(store)  # before the digest: a write meanwhile leaves the map looking stale, not fresh
    key, prints = index_key(store)
    stored = load_map(data_dir, collection, kind)
    if stored is not None and stored.index_key == key and not refit:
        return stored
    report("reading products", 0.05)
    products = read_products(store)
    layout = _Layout(products, [prints.get(p, "") for p in products.ids])
    _, model_path = map_paths(data_dir, collection, kind)
    projector = load_projector(model_path) if stored is not None and not refit and stored.method == UMAP else None
    if projector is not None and layout.update(store, kind, stored, projector, report):
        method, transformed, fitted = UMAP, stored.transformed + layout.transformed, stored.fitted
    else:
        method, projector = layout.fit(store, kind, numba_cache, report, start_fit)
        transformed, fitted = 0, layout.fitted
        if projector is not None:
            save_projector(model_path, projector)
    return _named_and_saved(layout, data_dir, collection, kind, key, version, method, transformed, fitted, report)


def finish_map(store: ProductStore, data_dir: Path, collection: str, kind: str, projector: Projector,
               sample: FitSample, progress: Progress | None = None) -> CatalogMap:
    """The map from a UMAP fit made elsewhere (core.map.job) on `sample`: the sample's products where the fit put
    them, everyone else (added or changed since the sample was read) placed by their fitted neighbours."""
    report = progress or (lambda stage, fraction: None)
    meta = store.meta()
    if projector.pca is not None and not fits(projector, meta):
        dim = model_of(meta)[1] or 0
        raise StoreError(f"the index was rebuilt with other vectors ({dim} numbers each, the fit had "
                         f"{projector.pca.n_features_in_}) while UMAP was fitted: compute the map again")
    version = store_version(store)
    key, prints = index_key(store)
    report("reading products", 0.05)
    products = read_products(store)
    layout = _Layout(products, [prints.get(p, "") for p in products.ids])
    in_sample = layout.adopt(sample, small_layout(sample.matrix) if projector.degenerate else projector.layout)
    layout.fitted = int(in_sample.sum())
    if projector.degenerate:  # (nearly) identical vectors: nothing to lay out, everyone at the same spot
        layout._place_at_origin(store, kind, in_sample)
        method = PCA
    else:
        layout.place_rest(store, kind, projector, in_sample, report)
        save_projector(map_paths(data_dir, collection, kind)[1], projector)
        method = UMAP
    return _named_and_saved(layout, data_dir, collection, kind, key, version, method, 0, layout.fitted, report)


def _named_and_saved(layout: "_Layout", data_dir: Path, collection: str, kind: str, key: str, version: dict,
                     method: str, transformed: int, fitted: int, report: Progress) -> CatalogMap:
    """Name the clusters of the laid-out products and store the map."""
    report("naming clusters", 0.9)
    ids, xy, sources, fingerprints, attrs, not_placed = layout.result()
    # The preview must be on screen at once: grouping by product type takes no HDBSCAN (nor sklearn's import,
    # 7 s on a busy 2-core machine); UMAP's map gets real clusters.
    cluster, labels = stratum_groups(attrs, len(ids)) if method == PREVIEW else cluster_labels(xy, attrs)
    result = CatalogMap(kind, ids, xy, cluster, labels, sources, fingerprints, key, params_key(kind), method,
                        not_placed, transformed=transformed, attrs=attrs, fitted=fitted, store_version=version)
    save_map(data_dir, collection, result)
    report("done", 1.0)
    return result


class _Layout:
    """Positions being worked out for every product read: which are placed, from which vector, and which lack one."""

    def __init__(self, products: Products, fingerprints: list[str]):
        n = len(products.ids)
        self.products, self.fingerprints = products, fingerprints
        self.row = {p: i for i, p in enumerate(products.points)}
        self.xy = np.zeros((n, 2), dtype=np.float32)
        self.placed = np.zeros(n, dtype=bool)
        self.sources = [""] * n
        self.without: list[int] = []
        self.transformed = self.fitted = 0

    def _take(self, points: list[str], sources: list[str], without: list[str],
              skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, which of the chunk's vectors they are) for the points read, leaving out points added since the
        products were read and any in `skip`; notes each one's vector and the points without one."""
        rows = np.fromiter((self.row.get(p, -1) for p in points), dtype=np.int64, count=len(points))
        use = rows >= 0
        lacking = [r for r in (self.row.get(p, -1) for p in without) if r >= 0]
        if skip is not None:
            use[use] = ~skip[rows[use]]
            lacking = [r for r in lacking if not skip[r]]
        rows = rows[use]
        for r, source in zip(rows.tolist(), (s for s, u in zip(sources, use.tolist()) if u)):
            self.sources[r] = source
        self.without += lacking
        return rows, use

    def _place(self, store: ProductStore, kind: str, projector: Projector, points: list[str] | None,
               skip: np.ndarray | None, report: Progress, stage: str) -> int:
        """Place the given points (or every point not in `skip`) by their fitted neighbours; returns how many."""
        total = len(points) if points is not None else int(len(self.row) - (0 if skip is None else skip.sum()))
        done = 0
        for chunk_points, matrix, sources, without in vector_chunks(store, kind, points):
            rows, use = self._take(chunk_points, sources, without, skip)
            if len(rows):
                self.xy[rows] = projector.transform(matrix[use])
                self.placed[rows] = True
                done += len(rows)
                report(f"{stage} ({done:,} of {total:,})", 0.3 + 0.55 * done / max(total, 1))
        return done

    def update(self, store: ProductStore, kind: str, stored: CatalogMap, projector: Projector,
               report: Progress) -> bool:
        """Keep stored positions and place new or changed products by transform; False when a refit is due."""
        known = {p: i for i, p in enumerate(stored.product_ids)}
        old = np.fromiter((known.get(p, -1) for p in self.products.ids), dtype=np.int64, count=len(self.row))
        same = old >= 0
        same[same] = np.asarray(stored.fingerprints, dtype=object)[old[same]] == np.asarray(
            self.fingerprints, dtype=object)[same]
        new = np.flatnonzero(~same)
        mapped = max(len(projector.train), len(stored.product_ids) - stored.transformed)
        if not fits(projector, store.meta()) or len(new) > MAX_TRANSFORM_SHARE * mapped:
            return False  # another model, or too much new material: placing it in the old layout would mislead
        self.xy[same] = stored.xy[old[same]]
        self.placed[same] = True
        for r in np.flatnonzero(same).tolist():
            self.sources[r] = stored.placed_from[old[r]]
        report(f"placing {len(new)} new or changed products", 0.3)
        self.transformed = self._place(store, kind, projector, [self.products.points[r] for r in new], None, report,
                                       "placing new products")
        return True

    def fit(self, store: ProductStore, kind: str, numba_cache: Path | None, report: Progress,
            start_fit: StartFit | None = None) -> tuple[str, Projector | None]:
        """Fit on a stratified sample (everyone in a small catalogue), then place the rest; (method, projector).
        With start_fit, UMAP is fitted elsewhere on the sample: a PCA layout meanwhile, (PREVIEW, None)."""
        sample = stratified_sample(strata(self.products.attrs))
        report(f"reading the vectors of {len(sample):,} products", 0.1)
        rows, parts = [np.zeros(0, dtype=np.int64)], []
        for points, matrix, sources, without in vector_chunks(store, kind, [self.products.points[r] for r in sample]):
            taken, use = self._take(points, sources, without)
            rows.append(taken)
            if len(taken):
                parts.append(matrix[use])
        rows = np.concatenate(rows)
        matrix = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        self.fitted = len(rows)
        in_sample = np.zeros(len(self.row), dtype=bool)
        in_sample[sample] = True
        everyone = len(sample) == len(self.row)
        if len(rows) <= PARAMS["n_neighbors"] + 1:
            self.xy[rows], self.placed[rows] = small_layout(matrix), True
            return PCA, None  # too few for UMAP's neighbourhoods (a large catalogue never gets here)
        if start_fit is not None:
            start_fit(FitSample([self.products.points[r] for r in rows.tolist()],
                                [self.sources[r] for r in rows.tolist()],
                                [self.fingerprints[r] for r in rows.tolist()], matrix))
            report("drawing a quick PCA map", 0.2)
            axes = PrincipalAxes(matrix)
            self.xy[rows], self.placed[rows] = axes.transform(matrix), True
            if not everyone:
                self._place(store, kind, axes, None, in_sample, report, "placing the rest")
            return PREVIEW, None
        report(f"fitting UMAP on {len(rows):,} products", 0.2)
        projector = Projector(numba_cache)
        layout = projector.fit(matrix)
        if projector.degenerate:  # (nearly) identical vectors: nothing to lay out, everyone at the same spot
            self.xy[rows], self.placed[rows] = small_layout(matrix), True
            if not everyone:
                self._place_at_origin(store, kind, in_sample)
            return PCA, None
        self.xy[rows], self.placed[rows] = layout, True
        if not everyone:
            report("placing the rest", 0.3)
            self._place(store, kind, projector, None, in_sample, report, "placing the rest")
        return UMAP, projector

    def adopt(self, sample: FitSample, positions: np.ndarray) -> np.ndarray:
        """Put the sample's products where a fit made elsewhere put them, unless they were removed or changed
        since; returns the mask of rows so placed."""
        placed = np.zeros(len(self.row), dtype=bool)
        for point, source, fingerprint, spot in zip(sample.points, sample.sources, sample.fingerprints, positions):
            r = self.row.get(point)
            if r is not None and self.fingerprints[r] == fingerprint:
                self.xy[r], self.sources[r], placed[r] = spot, source, True
        self.placed |= placed
        return placed

    def place_rest(self, store: ProductStore, kind: str, projector, done: np.ndarray, report: Progress) -> None:
        """Place every product not in `done` by the projector: the few read by id, many by one scroll."""
        rest = np.flatnonzero(~done)
        if not len(rest):
            return
        report("placing the rest", 0.3)
        if len(rest) <= done.sum():
            self._place(store, kind, projector, [self.products.points[r] for r in rest.tolist()], None, report,
                        "placing the rest")
        else:
            self._place(store, kind, projector, None, done, report, "placing the rest")

    def _place_at_origin(self, store: ProductStore, kind: str, skip: np.ndarray) -> None:
        for points, _, sources, without in vector_chunks(store, kind):
            self.placed[self._take(points, sources, without, skip)[0]] = True

    def result(self):
        """(ids, xy, sources, fingerprints, attrs, not placed) of the placed products, in reading order."""
        keep = self.placed
        ids, attrs = self.products.ids, self.products.attrs
        not_placed = [ids[r] for r in sorted(set(self.without))]
        if keep.all():
            return ids, self.xy, self.sources, self.fingerprints, attrs, not_placed
        pick = np.flatnonzero(keep).tolist()
        return ([ids[r] for r in pick], self.xy[keep], [self.sources[r] for r in pick],
                [self.fingerprints[r] for r in pick], {k: [v[r] for r in pick] for k, v in attrs.items()}, not_placed)
