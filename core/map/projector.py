"""The layout: PCA then UMAP fitted once (Projector.fit), new products placed by their fitted neighbours
(Projector.transform); UMAP imported with numba's kernels cached once per machine; PCA layouts for the preview and
for catalogues too small for UMAP.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from core.index.compat import model_of
from core.map.neighbours import cosine_knn, kmeans_groups, probed_knn

# The layout's parameters and the map's seed; a stored map made with others is not reused (storage.params_key).
PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "pca_dims": 50, "seed": 42, "epochs": 200, "init": "pca"}
# Placing products by their nearest fitted neighbours: exact up to EXACT_PLACEMENT fitted products; beyond, among
# the fitted products of the neighbours.PLACEMENT_PROBES k-means groups (of PLACEMENT_GROUPS) nearest each one. Exact
# search against 50,000 fitted products cost ~40 s per 50,000 placed on 2 busy cores: 13 minutes at a million.
EXACT_PLACEMENT = 10_000
PLACEMENT_GROUPS = 256
Stage = Callable[[str], None]


def use_numba_cache(folder: Path) -> Path:
    """Point numba's on-disk cache at `folder` (one per machine: core.common.config.numba_cache_dir), not at a data dir, so
    a second catalogue or a test server reuses the kernels the first map compiled.

    numba reads NUMBA_CACHE_DIR when it is imported: the map worker calls this before anything imports numba.
    Where numba is loaded already (the CLI, a test), its setting is changed too, for kernels compiled from now on.
    A folder that cannot be made (no home, a read-only one) gives way to a temporary one, with a note on stderr:
    the folder used is returned.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # no home, a read-only home: a temporary folder, so the fit still runs (and compiles)
        import tempfile

        fallback = Path(tempfile.gettempdir()) / f"catalog-lens-numba-{os.getuid()}"
        print(f"note: numba's cache {folder} cannot be made ({exc.strerror or exc}); UMAP's kernels are cached "
              f"in {fallback} instead (set LENS_NUMBA_CACHE_DIR to a writable folder)", file=sys.stderr)
        folder = fallback
        folder.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = str(folder)
    return folder


def _import_umap(numba_cache: Path | None = None):
    """Import UMAP with numba's on-disk cache in the machine's folder, so its compile cost is paid once per machine."""
    from core.common.config import numba_cache_dir

    use_numba_cache(numba_cache or numba_cache_dir())
    import numba

    if "umap" not in sys.modules:
        # umap compiles most of its kernels without cache=True; ask numba to cache them on disk.
        originals = numba.njit, numba.jit

        def cached(original):
            def decorator(*args, **kwargs):
                if args and callable(args[0]) and not kwargs:
                    return original(cache=True)(args[0])
                kwargs.setdefault("cache", True)
                return original(*args, **kwargs)
            return decorator

        numba.njit, numba.jit = cached(originals[0]), cached(originals[1])
        try:
            import umap  # noqa: F401
        finally:
            numba.njit, numba.jit = originals
    import umap

    return umap


class Projector:
    """Fitted PCA + UMAP layout; fit once, then place new products into the same layout."""

    def __init__(self, numba_cache: Path | None = None, seed: int = PARAMS["seed"]):
        self.numba_cache, self.seed = numba_cache, seed  # None: core.common.config.numba_cache_dir()
        self.pca = None
        self.train = self.layout = None
        self.degenerate = False  # all vectors (nearly) identical: UMAP has nothing to lay out
        self.groups = None  # (centres, members) of the fitted products, for placing many (see probed_knn)

    def fit(self, matrix: np.ndarray, stage: Stage | None = None) -> np.ndarray:
        """Lay `matrix` out in 2-D; `stage` hears each step by name (the map worker shows them)."""
        say = stage or (lambda name: None)
        say("loading UMAP")
        from sklearn.decomposition import PCA

        umap = _import_umap(getattr(self, "numba_cache", None))
        say(f"reducing {len(matrix):,} products to {PARAMS['pca_dims']} dimensions")
        dims = min(PARAMS["pca_dims"], matrix.shape[1], matrix.shape[0] - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical vectors: zero variance, handled below
            self.pca = PCA(n_components=dims, random_state=self.seed).fit(matrix)
        self.train = self.pca.transform(matrix).astype(np.float32)
        if float(np.sum(self.pca.explained_variance_)) < 1e-10:
            self.degenerate = True
            return np.zeros((len(matrix), 2), dtype=np.float32)
        say("finding each product's nearest neighbours")
        index, dist = cosine_knn(self.train, self.train, PARAMS["n_neighbors"], skip_self=True)
        # A fixed seed makes the layout reproducible (UMAP then runs its optimiser on one thread). PCA
        # initialisation instead of spectral: the spectral eigen-solve took 30 s of a 35 s fit at 5,000
        # products (catalogues form many disconnected look-alike groups), PCA init takes none of it.
        model = umap.UMAP(n_neighbors=PARAMS["n_neighbors"], min_dist=PARAMS["min_dist"], metric="cosine",
                          random_state=self.seed, n_components=2, n_jobs=1, init="pca", n_epochs=PARAMS["epochs"],
                          precomputed_knn=(index, dist, None))
        say(f"fitting UMAP on {len(matrix):,} products")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "precomputed_knn without a search index"
            self.layout = model.fit_transform(self.train).astype(np.float32)
        if not np.isfinite(self.layout).all():
            self.degenerate = True
        elif len(self.train) > EXACT_PLACEMENT:
            self.groups = kmeans_groups(self.train, PLACEMENT_GROUPS, self.seed)
        return self.layout

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Place new products where their nearest fitted neighbours are (similarity-weighted mean position).

        This is how UMAP's own transform initialises new points; its extra optimisation epochs need the
        approximate-search index we do not build, and move a point by a fraction of a cluster's width.
        """
        points = self.pca.transform(matrix).astype(np.float32)
        groups = getattr(self, "groups", None)  # a model saved before groups: exact search
        if groups is None:
            index, dist = cosine_knn(points, self.train, PARAMS["n_neighbors"])
        else:
            index, dist = probed_knn(points, self.train, groups, PARAMS["n_neighbors"])
        weights = np.maximum(1.0 - dist, 1e-6) ** 4  # the closest look-alikes dominate
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.layout[index]).astype(np.float32)


def fits(projector: Projector, meta: dict | None) -> bool:
    """True when `projector` was fitted on vectors of the size the index (its metadata) stores: only then can it
    place that index's products. An unfitted projector, or an index whose size is missing or unreadable, never fits."""
    _, dim = model_of(meta)
    return projector.pca is not None and dim == projector.pca.n_features_in_


def small_layout(matrix: np.ndarray) -> np.ndarray:
    """Catalogues too small for UMAP's neighbourhoods: the first two principal components (or the origin)."""
    n = len(matrix)
    if n < 3:
        return np.array([[0.0, 0.0], [1.0, 0.0]][:n], dtype=np.float32).reshape(n, 2)
    centred = matrix - matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32)


class PrincipalAxes:
    """The first two principal components of a fit sample: a map in milliseconds (nothing to compile), drawn while
    UMAP is fitted; `transform` places products outside the sample on the same axes."""

    def __init__(self, matrix: np.ndarray):
        self.mean = matrix.mean(axis=0) if len(matrix) else np.zeros(matrix.shape[1], dtype=np.float32)
        if len(matrix) < 2:
            self.axes = np.zeros((2, matrix.shape[1]), dtype=np.float32)
        else:
            _, _, vt = np.linalg.svd(matrix - self.mean, full_matrices=False)
            self.axes = np.zeros((2, matrix.shape[1]), dtype=np.float32)
            self.axes[:min(2, len(vt))] = vt[:2]

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        return ((matrix - self.mean) @ self.axes.T).astype(np.float32)


