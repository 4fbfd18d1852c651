"""A fresh model per task (ONE): each task trains from the initial weights and keeps its own copy,
which is swapped in to answer that task. No forgetting, no transfer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from lifelong.data.task import Task
from lifelong.methods.base import Method, register_method
from lifelong.methods.snapshots import extend_initial, restore, snapshot
from lifelong.models.base import Row


@register_method("separate")
class Separate(Method):
    """ONE: a fresh model per task from the initial weights; its own copy answers it (no forgetting, no transfer)."""

    reference = "one"
    # choosing a task's own copy needs the task id: no class- or domain-incremental evaluation
    scenarios = frozenset({"task"})
    answers_unseen_tasks = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.initial = snapshot(self.learner)
        self.per_task: dict[str, dict[str, torch.Tensor]] = {}

    def grow(self, task: Task) -> None:
        super().grow(task)
        extend_initial(self.initial, self.learner)  # the new head starts fresh for every task

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        restore(self.learner, self.initial)
        return rows

    def after_task(self, task: Task, rows: list[Row]) -> None:
        self.per_task[task.name] = snapshot(self.learner)

    @contextlib.contextmanager
    def eval_context(self, task: Task) -> Iterator[None]:
        if task.name not in self.per_task:  # not trained yet: the current weights answer
            yield
            return
        current = snapshot(self.learner)
        restore(self.learner, self.per_task[task.name])
        try:
            yield
        finally:
            restore(self.learner, current)

    def state_dict(self) -> dict[str, Any]:
        return {"per_task": self.per_task}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.per_task = state["per_task"]
