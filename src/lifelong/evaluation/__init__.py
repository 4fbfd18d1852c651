"""Evaluation: per-task scores, continual-learning metrics on the score matrix, run reports and plots.

``scoring`` turns predictions into one cell of a score matrix, ``metrics`` summarises a matrix,
``report`` writes a run folder's results and compares runs, ``plots`` draws the matrix.
"""

from lifelong.evaluation.metrics import (
    average_incremental_accuracy,
    backward_transfer,
    final_average,
    forgetting,
    forward_transfer,
    gap_to_reference,
    summarize,
    transfer_against,
)
from lifelong.evaluation.report import compare_runs, load_metrics, write_run_results
from lifelong.evaluation.scoring import primary_metric, score_task

__all__ = [
    "average_incremental_accuracy",
    "backward_transfer",
    "compare_runs",
    "final_average",
    "forgetting",
    "forward_transfer",
    "gap_to_reference",
    "load_metrics",
    "primary_metric",
    "score_task",
    "summarize",
    "transfer_against",
    "write_run_results",
]
