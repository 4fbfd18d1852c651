"""Joint training on every task seen so far, restarted from the initial model at each stage:
the usual upper bound, reported per stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifelong.data.task import Task
from lifelong.methods.base import Method, MethodConfig, register_method
from lifelong.methods.snapshots import extend_initial, restore, snapshot
from lifelong.models.base import Row


@dataclass
class MultitaskConfig(MethodConfig):
    restart: bool = True  # retrain from the initial weights at every stage (else continue)


@register_method("multitask")
class Multitask(Method):
    """Multitask: joint training on every task seen so far, from the initial model at each stage (the upper bound)."""

    config_class = MultitaskConfig
    reference = "upper_bound"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.initial = snapshot(self.learner)

    def grow(self, task: Task) -> None:
        super().grow(task)
        extend_initial(self.initial, self.learner)  # heads restart from their first values too

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        if self.config.restart:
            restore(self.learner, self.initial)
        earlier = [r for t in self.tasks[:-1] for r in self.learner.encode(t, t.split("train"))]
        return earlier + rows
