"""Catalogue map: PCA then UMAP (cosine) of product vectors to 2-D, cluster labels, stored and reused.

The map is computed after indexing (CLI or app), never at page load, and stored under LENS_DATA_DIR keyed by
the index content and the parameters. Products added later are placed with the fitted model's transform.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.embedder import normalise
from core.errors import BadQuery
from core.fields import FINGERPRINT, PAYLOAD_HASH, PRODUCT_ID, STANDARD_FILTERS, display_value
from core.files import atomic_write
from core.store import ProductStore

VECTOR_KINDS = ("image", "text", "both")
MAX_TRANSFORM_SHARE = 0.2  # more new products than this share of the fitted set: refit instead
PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "pca_dims": 50, "seed": 42, "epochs": 200, "init": "pca"}
LABEL_FIELDS = ("gender", "product_type", "colour")
DISTINGUISH_FIELDS = ("colour", "gender", "product_type", "usage", "sub_category", "category")  # for repeated names
ATTR_FIELDS = ("title", *STANDARD_FILTERS, "image_path")
Progress = Callable[[str, float], None]


@dataclass
class CatalogMap:
    """2-D positions of products, with cluster ids and names; what the Explore page draws."""

    kind: str
    product_ids: list[str]
    xy: np.ndarray
    cluster: np.ndarray
    labels: dict[int, str]
    placed_from: list[str]            # per product: the vector it was placed from ("image" or "text")
    fingerprints: list[str]
    index_key: str
    params: dict
    method: str = "umap"              # "umap", or "pca" for catalogues too small for UMAP
    not_placed: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    transformed: int = 0              # products placed by transform since the last full fit
    attrs: dict = field(default_factory=dict)  # field -> list of values (title and filter fields), for hover and filters

    def centres(self) -> dict[int, tuple[float, float]]:
        return {c: tuple(self.xy[self.cluster == c].mean(axis=0)) for c in self.labels}


def map_paths(data_dir: Path, collection: str, kind: str) -> tuple[Path, Path]:
    base = Path(data_dir) / "maps" / f"{collection}-{kind}"
    return base.with_suffix(".npz"), base.with_suffix(".model.joblib")


def index_key(store: ProductStore) -> tuple[str, dict[str, str]]:
    """A digest of every (product id, fingerprint): it changes whenever the index content changes."""
    prints, hashes = {}, {}
    for h in store.scroll(payload_keys=["product_id", "fingerprint", "payload_hash"]):
        prints[h.payload[PRODUCT_ID]] = h.payload.get(FINGERPRINT, "")
        hashes[h.payload[PRODUCT_ID]] = h.payload.get(PAYLOAD_HASH, "")
    # Attribute-only changes (colour, title, photo path) make the map stale too: its hover, colours and
    # filters read them. Positions only move for products whose vectors (fingerprints) changed.
    lines = "\n".join(f"{k}\t{prints[k]}\t{hashes[k]}" for k in sorted(prints))
    return hashlib.sha256(lines.encode()).hexdigest()[:24], prints


def _params_key(kind: str) -> dict:
    return {"kind": kind, **PARAMS}


def load_map(data_dir: Path, collection: str, kind: str = "image") -> CatalogMap | None:
    """The stored map, or None when there is none (or it was made with other parameters)."""
    path, _ = map_paths(data_dir, collection, kind)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["params"] != _params_key(kind):
                return None
            m = CatalogMap(kind, list(data["ids"]), data["xy"], data["cluster"],
                           {int(k): v for k, v in meta["labels"].items()}, list(data["placed_from"]),
                           list(data["fingerprints"]), meta["index_key"], meta["params"], meta["method"],
                           meta["not_placed"], meta["created"], meta.get("transformed", 0),
                           {k: list(data[f"attr_{k}"]) for k in ATTR_FIELDS})
        if _repeats(m.labels):  # a map stored before names were made unique
            rows = [dict(zip(ATTR_FIELDS, values)) for values in zip(*(m.attrs[k] for k in ATTR_FIELDS))]
            m.labels = unique_labels(m.labels, m.cluster, rows)
        return m
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable: treated as missing and recomputed


def save_map(data_dir: Path, collection: str, m: CatalogMap) -> None:
    import io

    path, _ = map_paths(data_dir, collection, m.kind)
    meta = {"labels": {str(k): v for k, v in m.labels.items()}, "index_key": m.index_key, "params": m.params,
            "method": m.method, "not_placed": m.not_placed, "created": m.created, "transformed": m.transformed}
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(m.product_ids, dtype=str), xy=m.xy.astype(np.float32),
             cluster=m.cluster.astype(np.int32), placed_from=np.array(m.placed_from, dtype=str),
             fingerprints=np.array(m.fingerprints, dtype=str), meta=np.array(json.dumps(meta)),
             **{f"attr_{k}": np.array(m.attrs.get(k, [""] * len(m.product_ids)), dtype=str) for k in ATTR_FIELDS})
    atomic_write(path, buf.getvalue())


def map_status(store: ProductStore, m: CatalogMap | None) -> str:
    """'missing', 'stale' (the index changed since the map was made) or 'fresh'."""
    if m is None:
        return "missing"
    return "fresh" if index_key(store)[0] == m.index_key else "stale"


def load_vectors(store: ProductStore, kind: str):
    """(ids, matrix, placed_from, payloads, not_placed): image vectors fall back to text vectors."""
    if kind not in VECTOR_KINDS:
        raise BadQuery(f"vectors must be one of {', '.join(VECTOR_KINDS)}, got {kind!r}")
    ids, rows, placed_from, payloads, not_placed = [], [], [], [], []
    for hit in store.scroll(payload_keys=["product_id", *ATTR_FIELDS], with_vectors=["image", "text"]):
        image, text = hit.vectors.get("image"), hit.vectors.get("text")
        if kind == "both" and image is not None and text is not None:
            vector, source = normalise(np.add(image, text, dtype=np.float32)), "both"
        elif kind == "text" and text is not None:
            vector, source = text, "text"
        elif image is not None:
            vector, source = image, "image"
        elif text is not None:
            vector, source = text, "text"  # a product without a photo is placed from its text
        else:
            not_placed.append(hit.payload.get(PRODUCT_ID, hit.id))
            continue
        ids.append(hit.payload[PRODUCT_ID])
        rows.append(vector)
        placed_from.append(source)
        payloads.append(hit.payload)
    matrix = np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
    return ids, matrix, placed_from, payloads, not_placed


def _import_umap(data_dir: Path):
    """Import UMAP with numba's on-disk cache under the data dir, so its compile cost is paid once."""
    cache = Path(data_dir) / "numba-cache"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))
    import numba

    if "umap" not in __import__("sys").modules:
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


def cosine_knn(query: np.ndarray, base: np.ndarray, k: int, skip_self: bool = False,
               chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine, in chunked matrix products (BLAS; nothing to compile).

    At 44,000 products in 50 PCA dimensions this takes seconds, where pynndescent's approximate search
    compiles runtime-generated numba kernels in every new process (~30 s on 2 cores).
    """
    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    b = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    k = min(k, len(b))
    index = np.empty((len(q), k), dtype=np.int64)
    dist = np.empty((len(q), k), dtype=np.float32)
    for start in range(0, len(q), chunk):
        sims = q[start:start + chunk] @ b.T
        if skip_self:  # a point is its own neighbour at distance 0, as UMAP expects, so keep it first
            rows = np.arange(sims.shape[0])
            sims[rows, start + rows] = 2.0
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        index[start:start + chunk] = np.take_along_axis(part, order, axis=1)
        dist[start:start + chunk] = np.clip(1.0 - np.take_along_axis(scores, order, axis=1), 0.0, 2.0)
    return index, dist


class Projector:
    """Fitted PCA + UMAP layout; fit once, then place new products into the same layout."""

    def __init__(self, data_dir: Path, seed: int = PARAMS["seed"]):
        self.data_dir, self.seed = Path(data_dir), seed
        self.pca = None
        self.train = self.layout = None
        self.degenerate = False  # all vectors (nearly) identical: UMAP has nothing to lay out

    def fit(self, matrix: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        umap = _import_umap(self.data_dir)
        dims = min(PARAMS["pca_dims"], matrix.shape[1], matrix.shape[0] - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical vectors: zero variance, handled below
            self.pca = PCA(n_components=dims, random_state=self.seed).fit(matrix)
        self.train = self.pca.transform(matrix).astype(np.float32)
        if float(np.sum(self.pca.explained_variance_)) < 1e-10:
            self.degenerate = True
            return np.zeros((len(matrix), 2), dtype=np.float32)
        index, dist = cosine_knn(self.train, self.train, PARAMS["n_neighbors"], skip_self=True)
        # A fixed seed makes the layout reproducible (UMAP then runs its optimiser on one thread). PCA
        # initialisation instead of spectral: the spectral eigen-solve took 30 s of a 35 s fit at 5,000
        # products (catalogues form many disconnected look-alike groups), PCA init takes none of it.
        model = umap.UMAP(n_neighbors=PARAMS["n_neighbors"], min_dist=PARAMS["min_dist"], metric="cosine",
                          random_state=self.seed, n_components=2, n_jobs=1, init="pca", n_epochs=PARAMS["epochs"],
                          precomputed_knn=(index, dist, None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "precomputed_knn without a search index"
            self.layout = model.fit_transform(self.train).astype(np.float32)
        if not np.isfinite(self.layout).all():
            self.degenerate = True
        return self.layout

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        """Place new products where their nearest fitted neighbours are (similarity-weighted mean position).

        This is how UMAP's own transform initialises new points; its extra optimisation epochs need the
        approximate-search index we do not build, and move a point by a fraction of a cluster's width.
        """
        points = self.pca.transform(matrix).astype(np.float32)
        index, dist = cosine_knn(points, self.train, PARAMS["n_neighbors"])
        weights = np.maximum(1.0 - dist, 1e-6) ** 4  # the closest look-alikes dominate
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.layout[index]).astype(np.float32)


def small_layout(matrix: np.ndarray) -> np.ndarray:
    """Catalogues too small for UMAP's neighbourhoods: the first two principal components (or the origin)."""
    n = len(matrix)
    if n < 3:
        return np.array([[0.0, 0.0], [1.0, 0.0]][:n], dtype=np.float32).reshape(n, 2)
    centred = matrix - matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32)


def cluster_labels(xy: np.ndarray, payloads: list[dict]) -> tuple[np.ndarray, dict[int, str]]:
    """HDBSCAN on the 2-D layout; each cluster named by its most common gender, product type and colour."""
    from sklearn.cluster import HDBSCAN

    min_size = max(8, len(xy) // 60)  # at most ~60 clusters: a map, not confetti
    if len(xy) < 2 * min_size:
        return np.full(len(xy), -1, dtype=np.int32), {}
    cluster = HDBSCAN(min_cluster_size=min_size, min_samples=min(min_size, 10), copy=True).fit_predict(xy)
    cluster = cluster.astype(np.int32)
    labels = {}
    for c in sorted(set(cluster.tolist()) - {-1}):
        members = [payloads[i] for i in np.flatnonzero(cluster == c)]
        parts = []
        for key in LABEL_FIELDS:
            value, count = Counter(display_value(p.get(key)) for p in members).most_common(1)[0]
            if value and count >= 0.6 * len(members):  # only what most of the cluster shares
                parts.append(value)
        if not parts:  # nothing most members share: say what leads, and that it is mixed
            top = Counter(display_value(p.get("product_type")) for p in members).most_common(1)[0][0]
            parts = ["Mixed", top] if top else [f"Cluster {c + 1}"]
        labels[int(c)] = " · ".join(parts)
    return cluster, unique_labels(labels, cluster, payloads)


def unique_labels(labels: dict[int, str], cluster: np.ndarray, payloads: list[dict]) -> dict[int, str]:
    """Give clusters that share a name what sets them apart ("· mostly Blue"), else a number (largest first).

    Two clusters both called "Mixed · Shirts" are two places on the map a merchandiser cannot tell apart.
    """
    labels = dict(labels)
    members = {c: [payloads[i] for i in np.flatnonzero(cluster == c)] for c in labels}
    for group in _repeats(labels):
        for key in DISTINGUISH_FIELDS:
            leads = {c: Counter(display_value(p.get(key)) for p in members[c]).most_common(1)[0][0] for c in group}
            if len(set(leads.values())) > 1 and all(leads.values()):
                for c in group:
                    labels[c] = f"{labels[c]} · mostly {leads[c]}"
                break
    for group in _repeats(labels):
        for n, c in enumerate(sorted(group, key=lambda c: (-len(members[c]), c)), 1):
            labels[c] = f"{labels[c]} ({n})"
    return labels


def _repeats(labels: dict[int, str]) -> list[list[int]]:
    by_name: dict[str, list[int]] = {}
    for c, name in sorted(labels.items()):
        by_name.setdefault(name, []).append(c)
    return [group for group in by_name.values() if len(group) > 1]


def _load_projector(path: Path):
    import joblib

    try:
        return joblib.load(path)
    except Exception:  # missing or unreadable model file: fit again
        return None


def compute_map(store: ProductStore, data_dir: Path, collection: str, kind: str = "image", refit: bool = False,
                progress: Progress | None = None) -> CatalogMap:
    """The map for the current index: stored if fresh, else updated by transform, else fitted from scratch."""
    import io

    import joblib

    report = progress or (lambda stage, fraction: None)
    key, prints = index_key(store)
    stored = load_map(data_dir, collection, kind)
    if stored is not None and stored.index_key == key and not refit:
        return stored
    report("reading vectors", 0.05)
    ids, matrix, placed_from, payloads, not_placed = load_vectors(store, kind)
    _, model_path = map_paths(data_dir, collection, kind)
    fingerprints = [prints.get(p, "") for p in ids]
    xy, transformed, method = None, 0, "umap"
    projector = _load_projector(model_path) if stored is not None and not refit and stored.method == "umap" else None
    known = {p: (i, f) for i, (p, f) in enumerate(zip(stored.product_ids, stored.fingerprints))} if stored else {}
    new = [i for i, (p, f) in enumerate(zip(ids, fingerprints)) if known.get(p, (None, None))[1] != f]
    if projector is not None and (matrix.shape[1] != projector.pca.n_features_in_
                                  or len(new) > MAX_TRANSFORM_SHARE * len(projector.train)):
        projector = None  # another model, or too much new material: placing it in the old layout would mislead
    if projector is not None:
        report(f"placing {len(new)} new or changed products", 0.3)
        xy = np.zeros((len(ids), 2), dtype=np.float32)
        for i, p in enumerate(ids):
            if p in known:
                xy[i] = stored.xy[known[p][0]]
        if new:
            xy[new] = projector.transform(matrix[new])
        transformed = stored.transformed + len(new)
    if xy is None:
        if len(ids) <= PARAMS["n_neighbors"] + 1:
            xy, method = small_layout(matrix), "pca"
        else:
            report(f"fitting UMAP on {len(ids)} products", 0.2)
            projector = Projector(data_dir)
            xy = projector.fit(matrix)
            if projector.degenerate:
                xy, method = small_layout(matrix), "pca"
            else:
                buf = io.BytesIO()
                joblib.dump(projector, buf)
                atomic_write(model_path, buf.getvalue())
    report("naming clusters", 0.9)
    cluster, labels = cluster_labels(xy, payloads)
    attrs = {k: [display_value(p.get(k)) for p in payloads] for k in ATTR_FIELDS}
    result = CatalogMap(kind, ids, xy, cluster, labels, placed_from, fingerprints, key, _params_key(kind),
                        method, not_placed, transformed=transformed, attrs=attrs)
    save_map(data_dir, collection, result)
    report("done", 1.0)
    return result
