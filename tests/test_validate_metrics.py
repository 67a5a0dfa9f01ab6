"""Ranking metrics of ``tl_reasoning.validate.metrics`` on hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch

from tl_reasoning.validate.metrics import average_precision, precision, ranking_from_scores, recall, top_n
from tl_reasoning.validate.run import selection_table


def test_precision_and_recall_by_hand():
    # selected {1,2,3,4}, truth {2,4,9}: 2 hits -> precision 2/4, recall 2/3
    assert precision([1, 2, 3, 4], [2, 4, 9]) == pytest.approx(0.5)
    assert recall([1, 2, 3, 4], [2, 4, 9]) == pytest.approx(2 / 3)
    assert precision([7], [7]) == 1.0 and recall([7], [7, 8]) == 0.5
    assert precision([5, 6], [1]) == 0.0


def test_undefined_values_are_nan_not_zero():
    assert math.isnan(precision([], [1, 2]))
    assert math.isnan(recall([1], []))
    assert math.isnan(average_precision([1, 2, 3], []))


def test_average_precision_by_hand():
    # truth {2,4,9} at ranks 2, 4, 5: (1/2 + 2/4 + 3/5) / 3
    assert average_precision([5, 2, 7, 4, 9, 1], [2, 4, 9]) == pytest.approx((0.5 + 0.5 + 0.6) / 3)
    # a perfect ranking scores 1, the reversed one (1/4 + 2/5)/2 here
    assert average_precision([3, 8, 1, 2, 5], [3, 8]) == 1.0
    assert average_precision([1, 2, 5, 3, 8], [3, 8]) == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_average_precision_counts_missing_truth_as_zero_and_duplicates_once():
    # truth item 3 never ranked: (1/1 + 0) / 2
    assert average_precision([2, 1], [2, 3]) == pytest.approx(0.5)
    # the duplicate 5 does not take a rank: 2 is at rank 2, not 3
    assert average_precision([5, 5, 2], [2]) == pytest.approx(0.5)


def test_ranking_from_scores_orders_ties_by_index_and_nan_last():
    assert ranking_from_scores([0.5, 0.9, 0.5, float("nan"), -1.0]) == [1, 0, 2, 4, 3]
    assert top_n(torch.tensor([0.1, 0.3, 0.2]), 2) == [1, 2]
    with pytest.raises(ValueError, match="n must be >= 0"):
        top_n([1.0], -1)


def test_selection_table_by_hand():
    scores = {"good": torch.tensor([0.0, 9.0, 8.0, 1.0, 0.5]),   # ranking 1, 2, 3, 4, 0
              "bad": torch.tensor([9.0, 0.0, 1.0, 8.0, 7.0])}    # ranking 0, 3, 4, 2, 1
    table = selection_table(scores, [1, 2], 2, {"good": [1, 3]}).set_index("selector")
    # "good" uses the given selection {1, 3}: 1 hit; its ranking has truth at ranks 1, 2 -> AP 1
    assert table.loc["good", "n_true_selected"] == 1
    assert table.loc["good", "precision"] == pytest.approx(0.5)
    assert table.loc["good", "average_precision"] == pytest.approx(1.0)
    # "bad": top 2 = {0, 3}, no hit; truth at ranks 4 and 5 -> (1/4 + 2/5) / 2
    assert table.loc["bad", "precision"] == 0.0 and table.loc["bad", "recall"] == 0.0
    assert table.loc["bad", "average_precision"] == pytest.approx((1 / 4 + 2 / 5) / 2)


def test_selection_table_mean_auc_of_the_chosen_features():
    import math

    import torch

    from tl_reasoning.validate.run import selection_table

    scores = {"a": torch.tensor([0.0, 3.0, 2.0, 1.0]), "b": torch.tensor([3.0, 0.0, 0.0, 2.0])}
    aucs = [0.5, 0.9, 0.7, 0.4]
    table = selection_table(scores, [], 2, auc_hard=aucs).set_index("selector")
    assert table.loc["a", "mean_auc_hard"] == pytest.approx((0.9 + 0.7) / 2)  # top 2 of a: 1, 2
    assert table.loc["b", "mean_auc_hard"] == pytest.approx((0.5 + 0.4) / 2)  # top 2 of b: 0, 3
    assert math.isnan(table.loc["a", "average_precision"])  # no ground truth: AP undefined
    assert math.isnan(selection_table(scores, [], 2).loc[0, "mean_auc_hard"])
