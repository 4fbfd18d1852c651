"""Joint training on every task seen so far, restarted from the initial model at each stage:
the usual upper bound, reported per stage (or, with ``final_only``, at the last stage alone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifelong.data.task import Task
from lifelong.errors import ConfigError
from lifelong.methods.base import Method, MethodConfig, register_method
from lifelong.methods.snapshots import extend_initial, restore, snapshot
from lifelong.models.base import Row


@dataclass
class MultitaskConfig(MethodConfig):
    restart: bool = True  # retrain from the initial weights at every stage (else continue)
    # train only at the last stage (earlier rows stay NaN): with restarts and per-stage seeds the final
    # row is the every-stage run's, for the cost of one stage instead of T(T+1)/2 task-trainings
    final_only: bool = False


@register_method("multitask")
class Multitask(Method):
    """Multitask: joint training on every task seen so far, from the initial model at each stage (the upper bound)."""

    config_class = MultitaskConfig
    reference = "upper_bound"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.config.final_only and not self.config.restart:
            raise ConfigError(
                "method_args.final_only needs method_args.restart: true (no stage before the last trains, "
                "so there is nothing to continue from)"
            )
        self.initial = snapshot(self.learner)

    def trains_stage(self, last: bool) -> bool:
        return last or not self.config.final_only

    def grow(self, task: Task) -> None:
        super().grow(task)
        extend_initial(self.initial, self.learner)  # heads restart from their first values too

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        if self.config.restart:
            restore(self.learner, self.initial)
        earlier = [r for t in self.tasks[:-1] for r in self.learner.encode(t, t.split("train"))]
        return earlier + rows
