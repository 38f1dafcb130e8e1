"""Catalogue map: PCA then UMAP (cosine) of product vectors to 2-D, cluster labels, stored and reused.

The map is computed after indexing (CLI or app), never at page load, and stored under LENS_DATA_DIR keyed by
the index content and the parameters. A large catalogue is fitted on a stratified sample of MAP_SAMPLE products
and the rest are placed by their nearest fitted neighbours, read a chunk of vectors at a time; products added
later are placed the same way. The app fits UMAP in a process of its own (core.map.job): compute_map then stores
a PCA map at once (the preview) and finish_map lays everyone out once the worker's fit is in.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from core.common.vectors import normalise
from core.common.errors import BadQuery, StoreError
from core.common.fields import FINGERPRINT, PAYLOAD_HASH, PRODUCT_ID, STANDARD_FILTERS, display_value
from core.common.files import atomic_write
from core.index.store import ProductStore

VECTOR_KINDS = ("image", "text", "both")
MAX_TRANSFORM_SHARE = 0.2  # more new products than this share of the mapped set: refit instead
PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "pca_dims": 50, "seed": 42, "epochs": 200, "init": "pca"}
# Products the layout is fitted on, and the positions clusters are found on: UMAP's fit and HDBSCAN's spanning
# tree grow faster than the catalogue (sklearn's HDBSCAN is quadratic), so a larger catalogue is fitted on a
# stratified sample of this many and everyone else is placed by nearest fitted neighbours.
MAP_SAMPLE = 50_000
STRATUM_FIELDS = ("product_type", "sub_category", "category")  # the first one a product has is its stratum
MIN_PER_STRATUM = 20  # a small product type still gets enough fitted products to have neighbours of its own
VECTOR_CHUNK = 8192   # vectors read, reduced and placed at a time: memory stays flat as the catalogue grows
# Placing products by their nearest fitted neighbours: exact up to EXACT_PLACEMENT fitted products; beyond, among
# the fitted products of the PLACEMENT_PROBES k-means groups (of PLACEMENT_GROUPS) nearest each product. Exact
# search against 50,000 fitted products cost ~40 s per 50,000 placed on 2 busy cores: 13 minutes at a million.
EXACT_PLACEMENT = 10_000
PLACEMENT_GROUPS = 256
PLACEMENT_PROBES = 8
LABEL_FIELDS = ("gender", "product_type", "colour")
DISTINGUISH_FIELDS = ("colour", "gender", "product_type", "usage", "sub_category", "category")  # for repeated names
ATTR_FIELDS = ("title", *STANDARD_FILTERS, "image_path")
MAP_FORMAT = 2  # per-product text columns stored as UTF-8 blocks and category codes, not fixed-width arrays
UMAP, PCA, PREVIEW = "umap", "pca", "pca-preview"  # a map's method; PREVIEW: PCA shown while UMAP is fitted
Progress = Callable[[str, float], None]
Stage = Callable[[str], None]


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
    method: str = UMAP                # UMAP; PCA for catalogues too small for it; PREVIEW while it is fitted
    not_placed: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    transformed: int = 0              # products placed by transform since the last full fit
    attrs: dict = field(default_factory=dict)  # field -> list of values (title and filter fields), for hover and filters
    fitted: int = 0                   # products the layout was fitted on (a sample of a large catalogue)
    # The index's last_indexed stamp and product count when the map was made: while both are unchanged the
    # app knows the map is fresh without the digest of every fingerprint (seconds at a million products).
    store_version: dict = field(default_factory=dict)

    def centres(self) -> dict[int, tuple[float, float]]:
        """Mean position of each named cluster (bincounts: one pass however many clusters)."""
        if not self.labels or not len(self.cluster):
            return {}
        shift = np.asarray(self.cluster, dtype=np.int64) + 1  # -1 (unclustered) becomes bin 0
        count = np.bincount(shift)
        sx, sy = (np.bincount(shift, weights=self.xy[:, j]) for j in (0, 1))
        return {c: (float(sx[c + 1] / count[c + 1]), float(sy[c + 1] / count[c + 1]))
                for c in self.labels if c + 1 < len(count) and count[c + 1]}

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Product id -> row, built once per loaded map (the page looks up selections and search results)."""
        return {p: i for i, p in enumerate(self.product_ids)}

    def rows(self, ids) -> np.ndarray:
        """Rows of the given product ids, in their order; unknown ids are skipped."""
        found = (self.row_of.get(p) for p in ids)
        return np.fromiter((i for i in found if i is not None), dtype=np.int64)

    @cached_property
    def draw_order(self) -> np.ndarray:
        """A fixed random rank per product: a large map draws the lowest ranks, so the same products stay drawn
        from rerun to rerun and filter to filter."""
        return np.random.default_rng(PARAMS["seed"]).permutation(len(self.product_ids))


def map_paths(data_dir: Path, collection: str, kind: str) -> tuple[Path, Path]:
    base = Path(data_dir) / "maps" / f"{collection}-{kind}"
    return base.with_suffix(".npz"), base.with_suffix(".model.joblib")


def preview_path(data_dir: Path, collection: str, kind: str) -> Path:
    """Where the PCA map shown while UMAP is being fitted is kept (never in the place of a finished map)."""
    return Path(data_dir) / "maps" / f"{collection}-{kind}.preview.npz"


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


def store_version(store: ProductStore) -> dict:
    """The index's last indexing stamp and product count; {} for an index no indexing run has stamped, or one
    an unfinished run may have changed since (indexing_since is set from a run's start until its stamp)."""
    meta = store.meta() or {}
    stamp = meta.get("last_indexed")
    if stamp is None or meta.get("indexing_since"):
        return {}
    return {"last_indexed": stamp, "count": store.count()}


def _params_key(kind: str) -> dict:
    return {"kind": kind, **PARAMS}


# ---- the map file ------------------------------------------------------------------------------------------
# At a million products, fixed-width unicode arrays (4 bytes a character, padded to the longest value) and
# turning them into lists took longer than the page may. Each text column is stored instead as one UTF-8 block
# split on NUL, or, when few distinct values repeat (gender, colour), as codes into those values.

def _encode_column(name: str, values: list[str]) -> dict[str, np.ndarray]:
    values = [str(v) for v in values]
    if any("\x00" in v for v in values):  # cannot be split on NUL: the plain (slower, larger) array
        return {f"{name}.array": np.array(values, dtype=str)}
    distinct = dict.fromkeys(values)
    if len(distinct) <= max(64, len(values) // 10):
        code = {v: i for i, v in enumerate(distinct)}
        return {f"{name}.codes": np.fromiter((code[v] for v in values), dtype=np.int32, count=len(values)),
                f"{name}.values": _utf8_block(list(distinct))}
    return {f"{name}.text": _utf8_block(values)}


def _utf8_block(values: list[str]) -> np.ndarray:
    return np.frombuffer("\x00".join(values).encode("utf-8"), dtype=np.uint8)


def _split_block(block: np.ndarray, count: int) -> list[str]:
    if count == 0:
        return []
    values = block.tobytes().decode("utf-8").split("\x00")
    if len(values) != count:
        raise ValueError("a map column does not have one value per product")
    return values


def _decode_column(data, name: str, count: int) -> list[str]:
    if f"{name}.array" in data:
        return data[f"{name}.array"].tolist()
    if f"{name}.codes" in data:
        codes = data[f"{name}.codes"]
        distinct = np.array(_split_block(data[f"{name}.values"], int(codes.max()) + 1 if len(codes) else 0) or [""],
                            dtype=object)
        return distinct[codes].tolist()  # one shared string per distinct value
    return _split_block(data[f"{name}.text"], count)


def load_map(data_dir: Path, collection: str, kind: str = "image", preview: bool = False) -> CatalogMap | None:
    """The stored map (with `preview`, the PCA map drawn while UMAP is fitted), or None when there is none (or it
    was made with other parameters)."""
    path = preview_path(data_dir, collection, kind) if preview else map_paths(data_dir, collection, kind)[0]
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["params"] != _params_key(kind):
                return None
            xy, cluster = data["xy"], data["cluster"]
            if meta.get("format") == MAP_FORMAT:
                n = len(xy)
                ids, placed_from, fingerprints = (_decode_column(data, c, n) for c in
                                                  ("ids", "placed_from", "fingerprints"))
                attrs = {k: _decode_column(data, f"attr_{k}", n) for k in ATTR_FIELDS}
            else:  # a map stored before MAP_FORMAT: fixed-width unicode arrays
                ids, placed_from, fingerprints = (data[c].tolist() for c in ("ids", "placed_from", "fingerprints"))
                attrs = {k: data[f"attr_{k}"].tolist() for k in ATTR_FIELDS}
            m = CatalogMap(kind, ids, xy, cluster, {int(k): v for k, v in meta["labels"].items()}, placed_from,
                           fingerprints, meta["index_key"], meta["params"], meta["method"], meta["not_placed"],
                           meta["created"], meta.get("transformed", 0), attrs, meta.get("fitted", len(ids)),
                           meta.get("store_version") or {})
        if not (len(m.product_ids) == len(m.xy) == len(m.cluster) == len(m.fingerprints)):
            return None
        if _repeats(m.labels):  # a map stored before names were made unique
            m.labels = unique_labels(m.labels, m.cluster, m.attrs)
        return m
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile):
        return None  # unreadable: treated as missing and recomputed


def save_map(data_dir: Path, collection: str, m: CatalogMap) -> None:
    """Store the map (a PREVIEW in its own file, leaving any finished map where it is)."""
    path = preview_path(data_dir, collection, m.kind) if m.method == PREVIEW else \
        map_paths(data_dir, collection, m.kind)[0]
    n = len(m.product_ids)
    meta = {"labels": {str(k): v for k, v in m.labels.items()}, "index_key": m.index_key, "params": m.params,
            "method": m.method, "not_placed": m.not_placed, "created": m.created, "transformed": m.transformed,
            "fitted": m.fitted, "store_version": m.store_version, "format": MAP_FORMAT}
    columns = {**_encode_column("ids", m.product_ids), **_encode_column("placed_from", m.placed_from),
               **_encode_column("fingerprints", m.fingerprints)}
    for k in ATTR_FIELDS:
        columns.update(_encode_column(f"attr_{k}", m.attrs.get(k) or [""] * n))
    buf = io.BytesIO()
    np.savez(buf, xy=np.asarray(m.xy, dtype=np.float32).reshape(-1, 2), cluster=np.asarray(m.cluster, dtype=np.int32),
             meta=np.array(json.dumps(meta)), **columns)
    atomic_write(path, buf.getvalue())


def map_status(store: ProductStore, m: CatalogMap | None) -> str:
    """'missing', 'stale' (the index changed since the map was made) or 'fresh'."""
    if m is None:
        return "missing"
    return "fresh" if index_key(store)[0] == m.index_key else "stale"


@dataclass
class Products:
    """What the map keeps of every product, read without vectors: point ids, product ids and attributes."""

    points: list[str]
    ids: list[str]
    attrs: dict[str, list[str]]

    def strata(self) -> list[str]:
        """Each product's stratum for the fit sample: its product type, else sub-category, else category."""
        columns = [self.attrs[k] for k in STRATUM_FIELDS]
        return [next((v for v in values if v), "") for values in zip(*columns)]


def read_products(store: ProductStore) -> Products:
    """Every product's ids and display attributes (one payload scroll, no vectors)."""
    points, ids, attrs = [], [], {k: [] for k in ATTR_FIELDS}
    for hit in store.scroll(payload_keys=["product_id", *ATTR_FIELDS]):
        if PRODUCT_ID not in hit.payload:
            continue
        points.append(hit.id)
        ids.append(str(hit.payload[PRODUCT_ID]))
        for k in ATTR_FIELDS:
            attrs[k].append(display_value(hit.payload.get(k)))
    return Products(points, ids, attrs)


def vector_of(vectors: dict, kind: str) -> tuple[np.ndarray, str] | None:
    """The vector a product is placed from, and which: image vectors fall back to text vectors."""
    image, text = vectors.get("image"), vectors.get("text")
    if kind == "both" and image is not None and text is not None:
        return normalise(np.add(image, text, dtype=np.float32)), "both"
    if kind == "text" and text is not None:
        return np.asarray(text, dtype=np.float32), "text"
    if image is not None:
        return np.asarray(image, dtype=np.float32), "image"
    if text is not None:
        return np.asarray(text, dtype=np.float32), "text"  # a product without a photo is placed from its text
    return None


VectorChunk = tuple[list[str], np.ndarray, list[str], list[str]]  # point ids, matrix, sources, points without one


def vector_chunks(store: ProductStore, kind: str, points: list[str] | None = None,
                  chunk: int = VECTOR_CHUNK) -> Iterator[VectorChunk]:
    """The given points' vectors (retrieved, in order), or every stored point's (scrolled), a chunk at a time.

    Points that no longer exist are left out; points without any vector are listed as such.
    """
    if kind not in VECTOR_KINDS:
        raise BadQuery(f"vectors must be one of {', '.join(VECTOR_KINDS)}, got {kind!r}")

    # Scrolling, only the vector the map is made from is read (each one reaches Python as a list of floats, most
    # of a scroll's cost); the few products without it are read again whole, for the fallback.
    first_choice = {"image": ["image"], "text": ["text"]}.get(kind, ["image", "text"])

    def complete(batch: list) -> list:
        lacking = [h.id for h in batch if len(h.vectors) < len(first_choice)]
        if not lacking or kind == "both":
            return batch
        whole = {h.id: h for h in store.retrieve(lacking, with_vectors=True)}
        return [whole.get(h.id, h) for h in batch]

    def batches():
        if points is None:
            batch = []
            for hit in store.scroll(payload_keys=["product_id"], with_vectors=first_choice):
                batch.append(hit)
                if len(batch) == chunk:
                    yield complete(batch)
                    batch = []
            yield complete(batch)
            return
        for start in range(0, len(points), chunk):
            wanted = points[start:start + chunk]
            by_id = {h.id: h for h in store.retrieve(wanted, with_vectors=True)}
            yield [by_id[p] for p in wanted if p in by_id]

    for hits in batches():
        ids, rows, sources, without = [], [], [], []
        for hit in hits:
            found = vector_of(hit.vectors, kind)
            if found is None:
                without.append(hit.id)
                continue
            ids.append(hit.id)
            rows.append(found[0])
            sources.append(found[1])
        if ids or without:
            yield ids, (np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, 0), np.float32)), sources, without


def stratified_sample(strata: list[str], cap: int, seed: int = PARAMS["seed"]) -> np.ndarray:
    """Sorted rows of at most `cap` products, every stratum in it: at least MIN_PER_STRATUM of each (all of a
    smaller one), the rest shared in proportion to the strata's sizes; everyone when there are `cap` or fewer.

    Within a stratum the products are drawn at random with a fixed seed, so the same catalogue gives the same
    sample. With more strata than the cap can cover, a plain random sample.
    """
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


def cosine_knn(query: np.ndarray, base: np.ndarray, k: int, skip_self: bool = False,
               chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine, in chunked matrix products (BLAS; nothing to compile).

    At 44,000 products in 50 PCA dimensions this takes seconds, where pynndescent's approximate search
    compiles runtime-generated numba kernels in every new process (~30 s on 2 cores). The top k of each row
    come from torch.topk, about ten times faster than numpy's argpartition on rows of 50,000 similarities,
    which mattered once a million products are placed against the fitted sample. Against a base of at most
    NUMPY_KNN rows numpy does it in milliseconds, and the map worker does not pay torch's import (2-10 s).
    """
    if len(base) <= NUMPY_KNN:
        return _numpy_knn(_unit_rows(query), _unit_rows(base), min(k, len(base)), skip_self)
    import torch

    q = torch.from_numpy(np.ascontiguousarray(query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True),
                                                                  1e-12), dtype=np.float32))
    b = torch.from_numpy(np.ascontiguousarray(base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True),
                                                                 1e-12), dtype=np.float32))
    k = min(k, len(b))
    index = np.empty((len(q), k), dtype=np.int64)
    dist = np.empty((len(q), k), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(q), chunk):
            sims = q[start:start + chunk] @ b.T
            if skip_self:  # a point is its own neighbour at distance 0, as UMAP expects, so keep it first
                rows = torch.arange(sims.shape[0])
                sims[rows, start + rows] = 2.0
            scores, found = torch.topk(sims, k, dim=1, largest=True, sorted=True)
            index[start:start + chunk] = found.numpy()
            dist[start:start + chunk] = np.clip(1.0 - scores.numpy(), 0.0, 2.0)
    return index, dist


NUMPY_KNN = 4096  # cosine_knn against a base this small: one numpy matrix product, no torch


def _numpy_knn(q: np.ndarray, b: np.ndarray, k: int, skip_self: bool) -> tuple[np.ndarray, np.ndarray]:
    sims = q @ b.T
    if skip_self:
        rows = np.arange(len(q))
        sims[rows, rows] = 2.0
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else \
        np.tile(np.arange(sims.shape[1]), (len(q), 1))
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
    index = np.take_along_axis(top, order, axis=1)
    scores = np.take_along_axis(sims, index, axis=1)
    return index.astype(np.int64), np.clip(1.0 - scores, 0.0, 2.0).astype(np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def kmeans_groups(points: np.ndarray, groups: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """k-means of the points' directions: (unit centres, rows of each group)."""
    from sklearn.cluster import KMeans

    unit = _unit_rows(points)
    k = max(1, min(groups, len(points) // 10))
    found = KMeans(n_clusters=k, n_init=1, max_iter=25, random_state=seed).fit(unit)
    order = np.argsort(found.labels_, kind="stable")
    starts = np.searchsorted(found.labels_[order], np.arange(1, k))
    return _unit_rows(found.cluster_centers_), np.split(order, starts)


def probed_knn(query: np.ndarray, base: np.ndarray, groups: tuple[np.ndarray, list[np.ndarray]],
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest neighbours by cosine: each query searches only the base rows of the
    PLACEMENT_PROBES groups whose centres are nearest it (an inverted file, in plain matrix products).

    At 8 of 256 groups this reads about 3% of the base; with fewer candidates than k, a query repeats its best.
    The many small matrix products run on one BLAS thread: with two, on a busy 2-core machine, the threads'
    waiting on each other made a chunk of 8,192 take 3-5 s instead of 0.3 s.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _probed_knn(query, base, groups, k)


def _probed_knn(query: np.ndarray, base: np.ndarray, groups: tuple[np.ndarray, list[np.ndarray]],
                k: int) -> tuple[np.ndarray, np.ndarray]:
    centres, members = groups
    q, b = _unit_rows(query), _unit_rows(base)
    probes = min(PLACEMENT_PROBES, len(centres))
    near = np.argpartition(-(q @ centres.T), probes - 1, axis=1)[:, :probes] if probes < len(centres) else \
        np.tile(np.arange(len(centres)), (len(q), 1))
    flat = near.ravel()  # slot s is query s // probes, its (s % probes)-th group
    by_group = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[by_group], np.arange(1, len(centres)))
    found = np.zeros((len(q), probes * k), dtype=np.int64)
    score = np.full((len(q), probes * k), -np.inf, dtype=np.float32)
    for g, slots in enumerate(np.split(by_group, starts)):
        rows = members[g]
        if not len(slots) or not len(rows):
            continue
        who, nth = slots // probes, slots % probes
        sims = q[who] @ b[rows].T
        take = min(k, len(rows))
        best = np.argpartition(-sims, take - 1, axis=1)[:, :take] if take < len(rows) else \
            np.tile(np.arange(len(rows)), (len(who), 1))
        columns = nth[:, None] * k + np.arange(take)[None, :]
        found[who[:, None], columns] = rows[best]
        score[who[:, None], columns] = np.take_along_axis(sims, best, axis=1)
    top = np.argsort(-score, axis=1, kind="stable")[:, :k]
    top = np.where(np.isfinite(np.take_along_axis(score, top, axis=1)), top, top[:, :1])  # short: repeat the best
    return (np.take_along_axis(found, top, axis=1),
            np.clip(1.0 - np.take_along_axis(score, top, axis=1), 0.0, 2.0).astype(np.float32))


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


@dataclass
class FitSample:
    """What a UMAP fit elsewhere (core.map.job) is fitted on: the sample's point ids, the vector each was read
    from, their fingerprints then (a product changed since is placed again) and the vectors, one row each."""

    points: list[str]
    sources: list[str]
    fingerprints: list[str]
    matrix: np.ndarray


StartFit = Callable[[FitSample], None]


def cluster_labels(xy: np.ndarray, attrs: dict[str, list]) -> tuple[np.ndarray, dict[int, str]]:
    """HDBSCAN on the 2-D layout; each cluster named by its members' most common gender, product type and colour.

    `attrs` holds display values per field, aligned with `xy` (CatalogMap.attrs). On a map of more than
    MAP_SAMPLE products the clusters are found on that many positions drawn at random (sklearn's HDBSCAN builds
    its spanning tree in quadratic time), and every product then joins the cluster of its nearest drawn
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
    strata = Products([], [], {k: attrs.get(k) or [""] * n for k in STRATUM_FIELDS}).strata()
    code: dict[str, int] = {}
    codes = np.fromiter((code.setdefault(v, len(code)) for v in strata), dtype=np.int64, count=n)
    names = list(code)
    sizes = np.bincount(codes, minlength=len(names)) if n else np.zeros(0, dtype=np.int64)
    kept = [c for c in np.argsort(-sizes, kind="stable")[:most].tolist() if names[c]]
    renumber = np.full(len(names) + 1, -1, dtype=np.int32)
    renumber[kept] = np.arange(len(kept), dtype=np.int32)
    return renumber[codes] if n else np.zeros(0, dtype=np.int32), {i: names[c] for i, c in enumerate(kept)}


def cluster_sample(n: int) -> np.ndarray:
    """Rows whose positions clusters are found on: all of them, or MAP_SAMPLE drawn with a fixed seed."""
    if n <= MAP_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(PARAMS["seed"]).choice(n, MAP_SAMPLE, replace=False))


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
    groups = _repeats(labels)
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
    projector = _load_projector(model_path) if stored is not None and not refit and stored.method == UMAP else None
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
    dim = int((store.meta() or {}).get("dim", 0))
    if projector.pca is not None and dim != projector.pca.n_features_in_:
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


def save_projector(path: Path, projector: Projector) -> None:
    import joblib

    buf = io.BytesIO()
    joblib.dump(projector, buf)
    atomic_write(path, buf.getvalue())


def _named_and_saved(layout: "_Layout", data_dir: Path, collection: str, kind: str, key: str, version: dict,
                     method: str, transformed: int, fitted: int, report: Progress) -> CatalogMap:
    """Name the clusters of the laid-out products and store the map."""
    report("naming clusters", 0.9)
    ids, xy, sources, fingerprints, attrs, not_placed = layout.result()
    # The preview must be on screen at once: grouping by product type takes no HDBSCAN (nor sklearn's import,
    # 7 s on a busy 2-core machine); UMAP's map gets real clusters.
    cluster, labels = stratum_groups(attrs, len(ids)) if method == PREVIEW else cluster_labels(xy, attrs)
    result = CatalogMap(kind, ids, xy, cluster, labels, sources, fingerprints, key, _params_key(kind), method,
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
        dim = int((store.meta() or {}).get("dim", 0))
        if dim != projector.pca.n_features_in_ or len(new) > MAX_TRANSFORM_SHARE * mapped:
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
        sample = stratified_sample(self.products.strata(), MAP_SAMPLE)
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
