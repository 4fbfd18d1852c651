"""Experience replay: a memory of real examples, a fixed number per task, trained together with
each new task's data. The memory is small, so its rows are repeated until they make up
``replay_ratio`` of what the model trains on: old tasks are rehearsed all through the new task, as
in experience replay with a memory batch joined to every batch (Chaudhry et al., 2019)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any

from lifelong.data.task import Task
from lifelong.methods.base import Method, MethodConfig, register_method
from lifelong.models.base import Row
from lifelong.schema import NON_NEGATIVE


@dataclass
class ReplayConfig(MethodConfig):
    memory_per_task: Annotated[int, NON_NEGATIVE] = 50  # rows kept from each finished task (the budget)
    replay_ratio: Annotated[float, NON_NEGATIVE] = (
        0.25  # share of training rows drawn from memory (rows repeat as needed)
    )


@register_method("replay")
class Replay(Method):
    """Experience replay: a fixed memory of real examples per task, trained together with each new task."""

    config_class = ReplayConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.memory: dict[str, list[Row]] = {}

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        memory = [r for kept in self.memory.values() for r in kept]
        if not memory:
            return rows
        ratio = min(max(self.config.replay_ratio, 0.0), 0.95)
        wanted = max(len(memory), round(ratio * len(rows) / (1 - ratio)))
        return rows + [memory[i % len(memory)] for i in range(wanted)]

    def after_task(self, task: Task, rows: list[Row]) -> None:
        own = [r for r in rows if not r.get("replayed")]
        rng = random.Random(self.ctx.seed * 7919 + len(self.tasks))
        picked = rng.sample(own, min(self.config.memory_per_task, len(own)))
        self.memory[task.name] = [{**r, "replayed": True} for r in picked]

    def state_dict(self) -> dict[str, Any]:
        return {"memory": self.memory}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory = state["memory"]
