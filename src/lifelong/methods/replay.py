"""Experience replay: a memory of real examples, a fixed number per task, trained together with
each new task's data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from lifelong.data.task import Task
from lifelong.methods.base import Method, MethodConfig, register_method
from lifelong.models.base import Row


@dataclass
class ReplayConfig(MethodConfig):
    memory_per_task: int = 50  # rows kept from each finished task


@register_method("replay")
class Replay(Method):
    config_class = ReplayConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.memory: dict[str, list[Row]] = {}

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        return rows + [r for kept in self.memory.values() for r in kept]

    def after_task(self, task: Task, rows: list[Row]) -> None:
        own = [r for r in rows if not r.get("replayed")]
        rng = random.Random(self.ctx.seed * 7919 + len(self.tasks))
        picked = rng.sample(own, min(self.config.memory_per_task, len(own)))
        self.memory[task.name] = [{**r, "replayed": True} for r in picked]

    def state_dict(self) -> dict[str, Any]:
        return {"memory": self.memory}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory = state["memory"]
