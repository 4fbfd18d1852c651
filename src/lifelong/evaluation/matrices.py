"""Score matrices R[stage][task] for every metric, grown one task (column) and one stage (row) at a time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ScoreMatrices:
    """Row 0 = before any training, row i = after training task i. NaN = not evaluated."""

    def __init__(self, tasks: list[str] | None = None, data: dict[str, list[list[Any]]] | None = None):
        self.tasks: list[str] = list(tasks or [])
        self.data: dict[str, list[list[float]]] = {
            name: [[math.nan if v is None else float(v) for v in row] for row in rows]
            for name, rows in (data or {}).items()
        }

    def add_task(self, name: str) -> None:
        if name in self.tasks:
            return
        self.tasks.append(name)
        for rows in self.data.values():
            for row in rows:
                row.append(math.nan)
            rows.append([math.nan] * len(self.tasks))

    def set(self, row: int, task: str, scores: dict[str, float]) -> None:
        col = self.tasks.index(task)
        for metric, value in scores.items():
            rows = self.data.setdefault(
                metric, [[math.nan] * len(self.tasks) for _ in range(len(self.tasks) + 1)]
            )
            rows[row][col] = float(value)

    def array(self, metric: str) -> np.ndarray:
        return np.array(self.data[metric], dtype=float)

    def arrays(self) -> dict[str, np.ndarray]:
        return {m: self.array(m) for m in self.data}

    def per_task_metric(self, metric_of: dict[str, str]) -> np.ndarray:
        """One matrix whose column j is task j's own metric: the summary of a stream mixing metrics
        (decaNLP: EM, nF1, dsEM), where any single metric would be undefined for some tasks."""
        out = np.full((len(self.tasks) + 1, len(self.tasks)), np.nan)
        for j, task in enumerate(self.tasks):
            out[:, j] = self.array(metric_of[task])[:, j]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "data": {
                m: [[None if math.isnan(v) else v for v in row] for row in rows]
                for m, rows in self.data.items()
            },
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ScoreMatrices:
        return cls(obj["tasks"], obj["data"])
