"""Continual-learning metrics against numbers worked out by hand."""

import math

import numpy as np
import pytest

from lifelong.evaluation.metrics import (
    average_incremental_accuracy,
    backward_transfer,
    final_average,
    forgetting,
    forward_transfer,
    gap_to_reference,
    seen_task_means,
    summarize,
    transfer_against,
)

nan = float("nan")

# rows: before, after task 0, after task 1, after task 2; columns: tasks 0, 1, 2
R3 = np.array(
    [
        [0.10, 0.20, 0.30],
        [0.80, 0.30, 0.35],
        [0.60, 0.90, 0.40],
        [0.50, 0.70, 0.85],
    ]
)


def test_three_tasks_by_hand():
    # acc: (0.50 + 0.70 + 0.85) / 3
    assert final_average(R3) == pytest.approx(2.05 / 3)
    # aia: mean(0.80, (0.60 + 0.90) / 2, (0.50 + 0.70 + 0.85) / 3) = mean(0.80, 0.75, 0.68333)
    assert average_incremental_accuracy(R3) == pytest.approx((0.80 + 0.75 + 2.05 / 3) / 3)
    assert seen_task_means(R3) == pytest.approx([0.80, 0.75, 2.05 / 3])  # the curve AIA averages
    # bwt: ((0.50 - 0.80) + (0.70 - 0.90)) / 2
    assert backward_transfer(R3) == pytest.approx(-0.25)
    # fwt: ((0.30 - 0.20) + (0.40 - 0.30)) / 2
    assert forward_transfer(R3) == pytest.approx(0.10)
    # forgetting: ((0.80 - 0.50) + (0.90 - 0.70)) / 2
    assert forgetting(R3) == pytest.approx(0.25)


def test_forgetting_uses_the_best_score_not_the_score_just_after_learning():
    R = np.array(
        [
            [0.0, 0.0, 0.0],
            [0.6, 0.1, 0.1],
            [0.8, 0.7, 0.2],  # task 0 improved while learning task 1
            [0.5, 0.7, 0.9],
        ]
    )
    # best of task 0 over rows 1..2 is 0.8 -> drop 0.3; task 1: 0.7 - 0.7 = 0
    assert forgetting(R) == pytest.approx((0.3 + 0.0) / 2)
    # bwt compares with the score just after learning: (0.5 - 0.6) + (0.7 - 0.7)
    assert backward_transfer(R) == pytest.approx(-0.05)


def test_positive_backward_transfer():
    R = np.array([[0.0, 0.0], [0.5, 0.1], [0.7, 0.9]])
    assert backward_transfer(R) == pytest.approx(0.2)
    assert forgetting(R) == pytest.approx(-0.2)
    assert forward_transfer(R) == pytest.approx(0.1)


def test_single_task():
    R = np.array([[0.2], [0.7]])
    assert final_average(R) == pytest.approx(0.7)
    assert average_incremental_accuracy(R) == pytest.approx(0.7)
    assert backward_transfer(R) == 0.0
    assert forward_transfer(R) == 0.0
    assert forgetting(R) == 0.0


def test_nan_means_not_evaluated_and_is_skipped():
    # a method that never evaluates tasks before training them
    R = np.array(
        [
            [nan, nan, nan],
            [0.80, nan, nan],
            [0.60, 0.90, nan],
            [0.50, 0.70, 0.85],
        ]
    )
    assert final_average(R) == pytest.approx(2.05 / 3)
    assert average_incremental_accuracy(R) == pytest.approx((0.80 + 0.75 + 2.05 / 3) / 3)
    assert backward_transfer(R) == pytest.approx(-0.25)
    assert forgetting(R) == pytest.approx(0.25)
    assert math.isnan(forward_transfer(R))  # nothing to measure it on


def test_nan_in_last_row_is_left_out_of_acc():
    R = np.array([[0.0, 0.0], [0.4, 0.0], [nan, 0.8]])
    assert final_average(R) == pytest.approx(0.8)
    assert math.isnan(backward_transfer(R))
    assert math.isnan(forgetting(R))


def test_accepts_nested_lists():
    assert final_average([[0.0, 0.0], [0.5, 0.1], [0.7, 0.9]]) == pytest.approx(0.8)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3), (3,), (1, 0), (4, 2)])
def test_bad_shape_is_named(shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        final_average(np.zeros(shape))


def test_gap_and_transfer_against_reference():
    mtl = np.full((4, 3), 0.9)
    # gap: 0.9 - 0.68333
    assert gap_to_reference(R3, mtl) == pytest.approx(0.9 - 2.05 / 3)
    one = np.array([[0.0, 0.0, 0.0], [0.6, 0.0, 0.0], [0.6, 0.8, 0.0], [0.6, 0.8, 0.8]])
    assert transfer_against(R3, one) == pytest.approx([-0.10, -0.10, 0.05])
    with pytest.raises(ValueError, match="different task counts"):
        gap_to_reference(R3, np.zeros((3, 2)))


def test_summarize():
    s = summarize(R3)
    assert set(s) == {"acc", "aia", "bwt", "fwt", "forgetting", "final_scores"}
    assert s["final_scores"] == pytest.approx([0.50, 0.70, 0.85])
    assert all(isinstance(v, float) for v in s["final_scores"])
    assert s["bwt"] == pytest.approx(-0.25)


def test_mixed_metric_stream_is_summarised_in_each_tasks_own_metric():
    from lifelong.data.task import Task
    from lifelong.evaluation.matrices import ScoreMatrices
    from lifelong.session import TASK_METRIC, primary_matrices

    scores = ScoreMatrices()
    for name in ("sst", "squad"):
        scores.add_task(name)
    scores.set(1, "sst", {"accuracy": 0.8})
    scores.set(2, "sst", {"accuracy": 0.7})
    scores.set(2, "squad", {"accuracy": 0.1, "f1": 0.4})
    tasks = [Task("sst", "classification"), Task("squad", "qa", metric="f1")]
    primary, matrices = primary_matrices(scores, tasks)
    assert primary == TASK_METRIC
    assert matrices[TASK_METRIC][2].tolist() == [0.7, 0.4]  # SST by accuracy, SQuAD by its F1
    assert matrices["accuracy"][2].tolist() == [0.7, 0.1]  # the single-metric matrices stay
    same, plain = primary_matrices(scores, tasks[:1])
    assert same == "accuracy" and TASK_METRIC not in plain
