"""Eval metrics on hand-made vectors where every answer is known: perfect, reversed and tied retrievers, labels with
known relevant products, and zero-shot predictions with a known confusion."""

import numpy as np
import pytest

from core.insights import evaluation
from core.insights.evaluation import (mean_reciprocal_rank, multi_relevant, ranking, ranks_of_own, recall_at, single_relevant,
                             weighted_f1, zero_shot, zero_shot_predictions)

# With the identity as the gallery, a query's scores are the query itself: each row below is a ranking spelled out.
GALLERY4 = np.eye(4)
REVERSED = np.array([[0, 1, 2, 3]] * 4, dtype=float)  # every query ranks item 3 first and item 0 last


def test_perfect_retriever_has_recall_at_1_and_mrr_1():
    assert single_relevant(GALLERY4, GALLERY4, np.arange(4)) == {"r@1": 1.0, "r@10": 1.0, "mrr": 1.0}


def test_reversed_retriever_ranks_query_i_at_4_minus_i():
    assert ranks_of_own(REVERSED, GALLERY4, np.arange(4)).tolist() == [4, 3, 2, 1]
    result = single_relevant(REVERSED, GALLERY4, np.arange(4))
    assert result["r@1"] == 0.25 and result["r@10"] == 1.0
    assert result["mrr"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 2 + 1) / 4)  # 25/48


def test_recall_at_10_misses_a_product_ranked_eleventh():
    gallery = np.eye(12)
    query = np.arange(12, 0, -1, dtype=float)[None, :]  # item 0 first ... item 11 last
    assert ranks_of_own(query, gallery, np.array([10])).tolist() == [11]
    assert single_relevant(query, gallery, np.array([10]))["r@10"] == 0.0
    assert single_relevant(query, gallery, np.array([9]))["r@10"] == 1.0


def test_a_tie_ranks_the_relevant_item_after_the_items_it_ties_with():
    # items 0 and 1 are the same photo (to the last float bit or not): neither title can tell them apart
    gallery = np.array([[1.0, 0.0], [1.0 + 1e-9, 0.0], [0.0, 1.0]])
    assert ranks_of_own(gallery, gallery, np.arange(3)).tolist() == [2, 2, 1]
    assert single_relevant(gallery, gallery, np.arange(3)) == {"r@1": pytest.approx(1 / 3), "r@10": 1.0,
                                                               "mrr": pytest.approx(2 / 3)}


def test_a_model_that_scores_everything_alike_gets_the_worst_rank_not_a_lucky_one():
    flat = np.zeros((5, 3))
    assert ranks_of_own(flat, flat, np.arange(5)).tolist() == [5, 5, 5, 5, 5]


def test_chunking_the_queries_changes_no_rank(monkeypatch):
    monkeypatch.setattr(evaluation, "QUERY_CHUNK", 3)
    assert ranks_of_own(REVERSED, GALLERY4, np.arange(4)).tolist() == [4, 3, 2, 1]
    assert zero_shot_predictions(np.eye(3), np.eye(3)[[0, 1, 2, 2, 1]], np.array([0, 1, 2, 0, 0])).tolist() == \
        [0, 1, 2, 2, 1]


def test_recall_and_mrr_of_given_ranks():
    ranks = np.array([1, 2, 10, 11])
    assert (recall_at(ranks, 1), recall_at(ranks, 10)) == (0.25, 0.75)
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11) / 4)


def test_ranking_puts_irrelevant_items_first_among_equal_scores():
    assert ranking(np.array([1.0, 1.0, 0.0]), np.array([True, False, False])).tolist() == [False, True, False]
    assert ranking(np.array([0.2, 0.9, 0.5]), np.array([True, False, False])).tolist() == [False, False, True]


def test_label_to_product_with_known_relevant_sets():
    gallery = np.eye(5)
    queries = np.array([[5, 4, 3, 2, 1], [5, 4, 3, 2, 1], [0, 0, 0, 0, 9]], dtype=float)
    relevant = np.array([[1, 0, 0, 1, 0],   # label A: ranked 1st and 4th -> P@1 1, P@10 0.2, RR 1
                         [0, 0, 1, 0, 1],   # label B: ranked 3rd and 5th -> P@1 0, P@10 0.2, RR 1/3
                         [0, 0, 0, 0, 0]],  # label C: nobody carries it -> left out of the averages
                        dtype=bool)
    result = multi_relevant(queries, gallery, relevant)
    assert result == {"p@1": 0.5, "p@10": pytest.approx(0.2), "mrr": pytest.approx((1 + 1 / 3) / 2)}


def test_label_to_product_counts_a_tie_against_the_label():
    flat = np.ones((1, 5))  # the label scores every product 1: its one product ranks last
    relevant = np.array([[True, False, False, False, False]])
    assert multi_relevant(flat, np.eye(5), relevant) == {"p@1": 0.0, "p@10": 0.1, "mrr": 0.2}


def test_zero_shot_accuracy_and_weighted_f1_on_a_known_confusion():
    truth = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    images = np.eye(3)[predicted]  # each image scores its predicted label 1 and the others 0
    assert zero_shot_predictions(np.eye(3), images, truth).tolist() == predicted.tolist()
    # per label F1: 0.8 (P 1, R 2/3; 3 items), 0.5 (P 1/2, R 1/2; 2 items), 2/3 (P 1/2, R 1; 1 item)
    expected_f1 = (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6
    assert zero_shot(np.eye(3), images, truth) == {"accuracy": pytest.approx(4 / 6),
                                                   "macro_f1": pytest.approx(expected_f1)}
    from sklearn.metrics import f1_score

    assert expected_f1 == pytest.approx(f1_score(truth, predicted, average="weighted"))


def test_a_zero_shot_tie_with_the_true_label_counts_as_wrong():
    images = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    truth = np.array([0, 1, 2, 2])
    # a tie goes to the first other label at the top score; the last image's label is strictly best
    assert zero_shot_predictions(np.eye(3), images, truth).tolist() == [1, 0, 0, 2]


def test_a_label_never_predicted_has_f1_zero():
    assert weighted_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])) == pytest.approx((2 * (2 / 3) + 2 * 0) / 4)
