"""HAT (Serra et al., 2018) on CL-plugins: HAT-masked adapters in a frozen backbone, one head per task.
Earlier tasks' outputs are preserved exactly (see ``lifelong.models.plugins.hat``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import nn

from lifelong.data.task import Task
from lifelong.methods.base import StepInfo, register_method
from lifelong.methods.plugin_base import PluginConfig, PluginMethod
from lifelong.models.base import Row
from lifelong.models.plugins import HAT, HATAdapter, PluginSite, anneal_s
from lifelong.schema import NON_NEGATIVE, POSITIVE


@dataclass
class HATConfig(PluginConfig):
    s_max: Annotated[float, POSITIVE] = 400.0  # gate temperature at inference and for the stored masks
    lamb: Annotated[float, NON_NEGATIVE] = 0.75  # sparsity regulariser weight
    clamp: Annotated[float, POSITIVE] = 6.0  # task embeddings are clamped to ±clamp after every step
    thres_cosh: Annotated[float, POSITIVE] = 50.0  # clamp of s·e inside the gradient compensation
    # learning rate of the task embeddings (their own AdamW group); None = training.lr. Adam moves each
    # entry by about lr per update whatever HAT's gradient compensation does, and e starts N(0, 1): at
    # the plugins' 1e-3 a task cannot close a unit in a few hundred updates, every task keeps the random
    # half of the units it started with and later tasks find them all used. The default lets an entry
    # cross zero within a few dozen updates (chosen on dev data, docs/results.md §4).
    mask_lr: Annotated[float, POSITIVE] | None = 0.05


@register_method("hat")
class HATMethod(PluginMethod):
    """HAT: hard attention masks on CL-plugins in a frozen backbone protect earlier tasks' units exactly (Serra et al., 2018)."""

    config_class = HATConfig
    hard_masks = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cfg = self.config
        self.selector.s = cfg.s_max
        self.hat = HAT(self.learner, cfg.s_max, cfg.lamb, cfg.clamp, cfg.thres_cosh)
        self.mask_usage: list[dict[str, Any]] = []  # per finished task: open, overlap, used so far

    def make_plugin(self, site: PluginSite) -> nn.Module:
        return HATAdapter(site.hidden, self.width(site), self.selector)

    @property
    def inference_s(self) -> float:
        return self.config.s_max

    def learning_rates(self) -> dict[int, float]:
        if self.config.mask_lr is None:
            return {}
        return {id(p): self.config.mask_lr for p in self.hat.task_embeddings(self.current)}

    def clipped(self, params: list[nn.Parameter]) -> list[nn.Parameter]:
        embeddings = self.hat.embedding_ids()
        return [p for p in params if id(p) not in embeddings]

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        self.hat.start_task()
        return rows

    def before_forward(self, step: StepInfo) -> None:
        super().before_forward(step)
        self.selector.s = anneal_s(step.batch, step.batches_per_epoch, self.config.s_max)

    def loss(self, batch: dict[str, Any], output: Any, step: StepInfo) -> torch.Tensor:
        return output.loss + self.hat.regularizer(self.current, self.selector.s)

    def after_backward(self, step: StepInfo) -> None:
        self.hat.compensate(self.current, self.selector.s)
        self.hat.block_gradients()

    def after_step(self, step: StepInfo) -> None:
        self.hat.restore()
        self.hat.clamp(self.current)

    def after_task(self, task: Task, rows: list[Row]) -> None:
        t = self.position(task)
        self.hat.consolidate(t)
        self.mask_usage.append({"stage": t + 1, "task": task.name, **self.hat.usage(t)})

    def report_tables(self) -> list[dict[str, Any]]:
        if not self.mask_usage:
            return []
        columns = list(self.mask_usage[0])
        return [
            {
                "title": "HAT mask usage per task",
                "columns": columns,
                "rows": [[row[c] for c in columns] for row in self.mask_usage],
                "note": "Shares of all masked plugin units: open for the task (its binary mask), of those "
                "already used by an earlier task, and used by some task so far (frozen for later tasks).",
                "plot": {"x": "stage", "y": "used so far %", "ylabel": "units used by the tasks so far (%)"},
            }
        ]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "mask_usage": json.dumps(self.mask_usage)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.mask_usage = json.loads(state.get("mask_usage", "[]"))
