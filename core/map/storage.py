"""The map's files: the stored map (CatalogMap, its file format and paths), the fitted projector's model file, and
the key that says whether a stored map is still the index's (index_key, store_version, map_status).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from core.common.fields import FINGERPRINT, HIDDEN_STATUSES, PAYLOAD_HASH, PRODUCT_ID, STATUS
from core.common.files import atomic_write
from core.index.store import ProductStore
from core.map.clusters import repeated_names, unique_labels
from core.map.products import ATTR_FIELDS, OPTIONAL_FIELDS
from core.map.projector import PARAMS, Projector

MAP_FORMAT = 2  # per-product text columns stored as UTF-8 blocks and category codes, not fixed-width arrays
UMAP, PCA, PREVIEW = "umap", "pca", "pca-preview"  # a map's method; PREVIEW: PCA shown while UMAP is fitted


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
    def hidden_status(self) -> np.ndarray:
        """True for drafts and archived products (status in HIDDEN_STATUSES, any case), worked out once per map: a
        million statuses are a handful of distinct values."""
        status = self.attrs.get(STATUS) or []
        if len(status) != len(self.product_ids):
            return np.zeros(len(self.product_ids), dtype=bool)
        hidden = {v: str(v).lower() in HIDDEN_STATUSES for v in set(status)}
        if not any(hidden.values()):
            return np.zeros(len(status), dtype=bool)
        return np.fromiter(map(hidden.__getitem__, status), dtype=bool, count=len(status))

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


def params_key(kind: str) -> dict:
    """What a stored map was made with: its vectors and the projector's parameters (another key: not reused)."""
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


def _absent(data, field_name: str) -> bool:
    """An optional attribute a map stored before it existed lacks (read as ''); any other missing one is an error."""
    name = f"attr_{field_name}"
    return field_name in OPTIONAL_FIELDS and not any(key in data for key in (name, f"{name}.array", f"{name}.codes",
                                                                             f"{name}.text"))


def load_map(data_dir: Path, collection: str, kind: str = "image", preview: bool = False) -> CatalogMap | None:
    """The stored map (with `preview`, the PCA map drawn while UMAP is fitted), or None when there is none (or it
    was made with other parameters)."""
    path = preview_path(data_dir, collection, kind) if preview else map_paths(data_dir, collection, kind)[0]
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta["params"] != params_key(kind):
                return None
            xy, cluster = data["xy"], data["cluster"]
            if meta.get("format") == MAP_FORMAT:
                n = len(xy)
                ids, placed_from, fingerprints = (_decode_column(data, c, n) for c in
                                                  ("ids", "placed_from", "fingerprints"))
                attrs = {k: [""] * n if _absent(data, k) else _decode_column(data, f"attr_{k}", n)
                         for k in ATTR_FIELDS}
            else:  # a map stored before MAP_FORMAT: fixed-width unicode arrays
                ids, placed_from, fingerprints = (data[c].tolist() for c in ("ids", "placed_from", "fingerprints"))
                attrs = {k: [""] * len(ids) if _absent(data, k) else data[f"attr_{k}"].tolist()
                         for k in ATTR_FIELDS}
            m = CatalogMap(kind, ids, xy, cluster, {int(k): v for k, v in meta["labels"].items()}, placed_from,
                           fingerprints, meta["index_key"], meta["params"], meta["method"], meta["not_placed"],
                           meta["created"], meta.get("transformed", 0), attrs, meta.get("fitted", len(ids)),
                           meta.get("store_version") or {})
        if not (len(m.product_ids) == len(m.xy) == len(m.cluster) == len(m.fingerprints)):
            return None
        if repeated_names(m.labels):  # a map stored before names were made unique
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


# A model file is a pickle, which names Projector's module. Files written before core/ became packages name
# core.projection (core.map.projection for a while after): they are read as today's Projector, so an upgrade still
# places new products in the stored layout instead of fitting a new one (and moving every product).
FORMER_PROJECTOR_MODULES = ("core.projection", "core.map.projection")
_former_names = threading.Lock()


@contextmanager
def _projector_under_former_names():
    """Let the former module names resolve to Projector's module while a model file is read, then forget them."""
    with _former_names:
        added = [name for name in FORMER_PROJECTOR_MODULES if name not in sys.modules]
        for name in added:
            sys.modules[name] = sys.modules[Projector.__module__]
        try:
            yield
        finally:
            for name in added:
                sys.modules.pop(name, None)


def load_projector(path: Path) -> Projector | None:
    """The fitted projector stored beside a UMAP map (map_paths' second path), or None: missing or unreadable."""
    import joblib

    try:
        with _projector_under_former_names():
            return joblib.load(path)
    except Exception:  # missing or unreadable model file: fit again
        return None


def save_projector(path: Path, projector: Projector) -> None:
    import joblib

    buf = io.BytesIO()
    joblib.dump(projector, buf)
    atomic_write(path, buf.getvalue())
