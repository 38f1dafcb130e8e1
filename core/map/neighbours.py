"""Nearest neighbours by cosine in plain matrix products: exact (numpy, or torch for a large base) and, for placing
many products against a large fitted sample, a probed search among the k-means groups nearest each one.
"""

from __future__ import annotations

import numpy as np

PLACEMENT_PROBES = 8  # groups searched per product by probed_knn (of the projector's PLACEMENT_GROUPS)


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


