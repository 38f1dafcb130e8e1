"""Retrieval and zero-shot metrics on plain vectors (R@k, P@k, MRR, accuracy, weighted F1); no store, no model.

Ties are counted pessimistically: an item that scores the same as a relevant one ranks ahead of it, and a
zero-shot label that ties with the true one wins. A model earns only the order it can actually tell apart, so a
degenerate model that scores everything alike gets the worst ranks, not a perfect score by the luck of id order;
and the result depends on no order of the catalogue. Scores are compared to TIE_DECIMALS decimals, so two copies
of one photo tie whatever the last bit of a float sum says.
"""

from __future__ import annotations

import numpy as np

TIE_DECIMALS = 6
QUERY_CHUNK = 256  # queries scored at once: 256 x 44,000 products is 45 MB of scores, not 7.7 GB for all


def similarities(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Dot products (cosines of normalised vectors), rounded so that equal scores tie exactly."""
    scores = np.asarray(queries, dtype=np.float64) @ np.asarray(gallery, dtype=np.float64).T
    return np.round(scores, TIE_DECIMALS)


def ranks_of_own(queries: np.ndarray, gallery: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Rank (from 1) of each query's one relevant gallery item, gallery[own[i]] for query i; ties rank it last."""
    own = np.asarray(own, dtype=np.int64)
    ranks = np.zeros(len(own), dtype=np.int64)
    for start in range(0, len(own), QUERY_CHUNK):
        scores = similarities(queries[start:start + QUERY_CHUNK], gallery)
        mine = scores[np.arange(len(scores)), own[start:start + QUERY_CHUNK]][:, None]
        # every other item at or above the relevant one's score is ahead of it
        ranks[start:start + QUERY_CHUNK] = (scores >= mine).sum(axis=1)
    return ranks


def recall_at(ranks: np.ndarray, k: int) -> float:
    """Share of queries whose one relevant item is in the top k."""
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else 0.0


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1/rank of the first relevant item."""
    return float(np.mean(1.0 / np.asarray(ranks, dtype=np.float64))) if len(ranks) else 0.0


def single_relevant(queries: np.ndarray, gallery: np.ndarray, own: np.ndarray) -> dict:
    """R@1, R@10 and MRR when each query has exactly one relevant item (title -> its product's photo)."""
    ranks = ranks_of_own(queries, gallery, own)
    return {"r@1": recall_at(ranks, 1), "r@10": recall_at(ranks, 10), "mrr": mean_reciprocal_rank(ranks)}


def ranking(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Relevance of the gallery in ranked order: by score, highest first; among equal scores the irrelevant first."""
    relevant = np.asarray(relevant, dtype=bool)
    order = np.lexsort((relevant, -np.asarray(scores)))  # the last key sorts first
    return relevant[order]


def multi_relevant(queries: np.ndarray, gallery: np.ndarray, relevant: np.ndarray) -> dict:
    """P@1, P@10 and MRR averaged over queries, each with its set of relevant items (a label -> its products).

    relevant is a (queries, gallery) boolean matrix; a query with no relevant item is left out. P@10 divides by
    10 even when a label has fewer products, as the public protocol does.
    """
    relevant = np.asarray(relevant, dtype=bool)
    keep = relevant.any(axis=1)
    queries, relevant = np.asarray(queries)[keep], relevant[keep]
    p1, p10, rr = [], [], []
    for start in range(0, len(queries), QUERY_CHUNK):
        scores = similarities(queries[start:start + QUERY_CHUNK], gallery)
        for row, rel in zip(scores, relevant[start:start + QUERY_CHUNK]):
            ranked = ranking(row, rel)
            p1.append(float(ranked[0]))
            p10.append(float(ranked[:10].sum()) / 10)
            rr.append(1.0 / (int(np.argmax(ranked)) + 1))
    if not rr:
        return {"p@1": 0.0, "p@10": 0.0, "mrr": 0.0}
    return {"p@1": float(np.mean(p1)), "p@10": float(np.mean(p10)), "mrr": float(np.mean(rr))}


def zero_shot_predictions(labels: np.ndarray, images: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The label index each image is classified as: its highest-scoring label prompt.

    A tie with the true label goes against it: the prediction is then the first (lowest index) of the other
    labels at that score, so a model that cannot tell the labels apart is never right by luck.
    """
    truth = np.asarray(truth, dtype=np.int64)
    predicted = np.zeros(len(truth), dtype=np.int64)
    for start in range(0, len(truth), QUERY_CHUNK):
        scores = similarities(images[start:start + QUERY_CHUNK], labels)
        rows = np.arange(len(scores))
        true = truth[start:start + QUERY_CHUNK]
        best = scores.max(axis=1)
        others = scores.copy()
        others[rows, true] = -np.inf
        beaten = others.max(axis=1) >= scores[rows, true]
        # np.argmax returns the first index at the maximum: ties among wrong labels go by label order
        predicted[start:start + QUERY_CHUNK] = np.where(beaten, np.argmax(others == best[:, None], axis=1), true)
    return predicted


def weighted_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 per true label, averaged weighted by how many items carry it (sklearn's average='weighted'; a label
    never predicted has F1 0)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if not len(truth):
        return 0.0
    total = 0.0
    for label in np.unique(truth):
        hits = int(np.sum((truth == label) & (predicted == label)))
        support, guessed = int(np.sum(truth == label)), int(np.sum(predicted == label))
        if hits:
            precision, recall = hits / guessed, hits / support
            total += support * 2 * precision * recall / (precision + recall)
    return total / len(truth)


def zero_shot(labels: np.ndarray, images: np.ndarray, truth: np.ndarray) -> dict:
    """Accuracy and weighted macro-F1 of classifying each image as its best label prompt; truth indexes labels."""
    truth = np.asarray(truth, dtype=np.int64)
    predicted = zero_shot_predictions(labels, images, truth)
    accuracy = float(np.mean(predicted == truth)) if len(truth) else 0.0
    return {"accuracy": accuracy, "macro_f1": weighted_f1(truth, predicted)}
