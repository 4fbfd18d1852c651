"""Continual-learning metrics as pure functions of a score matrix.

``R`` has shape ``(T + 1, T)``: row 0 is before any training, row ``i`` (1-based) is after training
task ``i``, column ``j`` (0-based) is task ``j``. So task ``j`` was just learned at row ``j + 1``.
Entries are fractions; NaN means "not evaluated" and is left out of every mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def check_matrix(R: Any) -> np.ndarray:
    """``R`` as a float array, or a ValueError saying what shape it has and should have."""
    M = np.asarray(R, dtype=float)
    if M.ndim != 2 or M.shape[1] < 1 or M.shape[0] != M.shape[1] + 1:
        raise ValueError(f"a score matrix must have shape (T + 1, T) with T >= 1, got shape {M.shape}")
    return M


def _mean(values: Iterable[float]) -> float:
    # mean of the evaluated entries; NaN if none was (np.nanmean would warn on an all-NaN slice)
    kept = [float(v) for v in values if not np.isnan(v)]
    return sum(kept) / len(kept) if kept else float("nan")


def final_average(R: Any) -> float:
    """ACC: the average score over all tasks after training the last one."""
    M = check_matrix(R)
    return _mean(M[-1])


def seen_task_means(R: Any) -> list[float]:
    """After each stage, the mean score on the tasks learned so far (NaN where none was scored): the
    curve whose end is ACC and whose mean is AIA."""
    M = check_matrix(R)
    return [_mean(M[i, :i]) for i in range(1, M.shape[1] + 1)]


def average_incremental_accuracy(R: Any) -> float:
    """AIA: the average, over stages, of the mean score on the tasks learned so far."""
    return _mean(seen_task_means(R))


def backward_transfer(R: Any) -> float:
    """BWT (GEM): how much later training changed each earlier task's score; negative = forgetting."""
    M = check_matrix(R)
    T = M.shape[1]
    if T == 1:
        return 0.0
    return _mean(M[T, j] - M[j + 1, j] for j in range(T - 1))


def forward_transfer(R: Any) -> float:
    """FWT: how much training the earlier tasks helps a task before it is trained on."""
    M = check_matrix(R)
    T = M.shape[1]
    if T == 1:
        return 0.0
    return _mean(M[j, j] - M[0, j] for j in range(1, T))


def forgetting(R: Any) -> float:
    """Average drop from each earlier task's best score (after learning it) to its final score."""
    M = check_matrix(R)
    T = M.shape[1]
    if T == 1:
        return 0.0
    drops = []
    for j in range(T - 1):
        seen = M[j + 1 : T, j]
        seen = seen[~np.isnan(seen)]
        drops.append(seen.max() - M[T, j] if seen.size else float("nan"))
    return _mean(drops)


def _check_pair(R: Any, R_ref: Any) -> tuple[np.ndarray, np.ndarray]:
    M, ref = check_matrix(R), check_matrix(R_ref)
    if M.shape != ref.shape:
        raise ValueError(f"score matrices cover different task counts: shape {M.shape} vs {ref.shape}")
    return M, ref


def gap_to_reference(R: Any, R_ref: Any) -> float:
    """How far ACC falls short of a reference run on the same tasks (usually multitask learning)."""
    M, ref = _check_pair(R, R_ref)
    return final_average(ref) - final_average(M)


def transfer_against(R: Any, R_ref: Any) -> list[float]:
    """Per-task final score minus the reference's (e.g. one model per task): knowledge transfer."""
    M, ref = _check_pair(R, R_ref)
    return [float(v) for v in M[-1] - ref[-1]]


def summarize(R: Any) -> dict[str, Any]:
    """All the headline numbers of one score matrix."""
    M = check_matrix(R)
    return {
        "acc": final_average(M),
        "aia": average_incremental_accuracy(M),
        "bwt": backward_transfer(M),
        "fwt": forward_transfer(M),
        "forgetting": forgetting(M),
        "final_scores": [float(v) for v in M[-1]],
    }
