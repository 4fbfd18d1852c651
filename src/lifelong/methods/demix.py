"""DEMix as CPT's baseline (after Gururangan et al., 2022): a new adapter per domain, initialised from
the earlier domain's adapter whose masked-LM loss on the new domain's corpus is lowest (the most similar
domain); the first domain's adapter starts fresh. Adapters never share weights afterwards, so nothing is
forgotten; the initialisation is the only transfer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch

from lifelong.data.task import Task
from lifelong.methods.adapters import AdapterOne
from lifelong.methods.base import register_method
from lifelong.methods.plugin_base import PluginConfig
from lifelong.models.base import Row
from lifelong.models.plugins import TaskAdapters, per_task_modules
from lifelong.schema import AT_LEAST_1


@dataclass
class DEMixConfig(PluginConfig):
    probe_rows: Annotated[int, AT_LEAST_1] = (
        256  # new-domain rows used to measure each earlier adapter's masked-LM loss
    )


@register_method("demix")
class DEMix(AdapterOne):
    """DEMix: a new adapter per domain, initialised from the earlier adapter with the lowest masked-LM loss on it."""

    config_class = DEMixConfig
    learner_kinds = frozenset({"mlm"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.parents: dict[str, str] = {}  # domain -> the earlier domain its adapter started from

    def probe_loss(self, task: Task, rows: list[Row], expert: int) -> float:
        """Masked-LM loss of the new domain's rows through adapter ``expert`` (fixed masking seed)."""
        learner = self.learner
        probe = rows[: self.config.probe_rows]
        was = self.selector.task
        self.selector.task = expert
        gen = torch.Generator().manual_seed(0)
        total, count = 0.0, 0
        with learner.eval_mode():
            for start in range(0, len(probe), learner.eval_batch_size):
                batch = learner.collate(probe[start : start + learner.eval_batch_size], generator=gen)
                n = int((batch["labels"] != -100).sum())
                if n:
                    batch = learner.to_device(batch)
                    with learner.autocast():
                        total += float(learner(batch).loss) * n
                    count += n
        self.selector.task = was
        return total / max(count, 1)

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        t = self.current
        if t > 0 and rows:
            losses = [self.probe_loss(task, rows, j) for j in range(t)]
            best = min(range(t), key=losses.__getitem__)
            with torch.no_grad():
                for module in per_task_modules(self.learner):
                    if isinstance(module, TaskAdapters):
                        module.adapters[t].load_state_dict(module.adapters[best].state_dict())
            self.parents[task.name] = self.tasks[best].name
        return rows

    def state_dict(self) -> dict[str, Any]:
        return {"parents": dict(self.parents)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.parents = dict(state.get("parents", {}))
