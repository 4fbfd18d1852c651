"""Shared by the CL-plugin methods (hat, ctr, adapter_ncl, adapter_one): plugins go into the frozen
backbone on the first ``grow``, per-task parts grow with every task, and only the plugins, the current
task's own parts and its head train."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from torch import nn

from lifelong.data.task import Task
from lifelong.methods.base import Method, MethodConfig, StepInfo
from lifelong.models.plugins import (
    PluginSite,
    TaskSelector,
    add_task_everywhere,
    has_plugins,
    inject_plugins,
    per_task_modules,
    plugins,
)
from lifelong.schema import AT_LEAST_1


@dataclass
class PluginConfig(MethodConfig):
    bottleneck: Annotated[int, AT_LEAST_1] = 128  # adapter width
    # where plugins go: after each sub-layer's projection ("sequential", B-CL/CTR) or beside the sub-layer,
    # reading its input ("parallel", the CPT paper's layout)
    layout: Literal["sequential", "parallel"] = "sequential"
    # widths by site, None = bottleneck (the CPT paper: 512 beside attention, 768 beside the feed-forward)
    bottleneck_attention: Annotated[int, AT_LEAST_1] | None = None
    bottleneck_ffn: Annotated[int, AT_LEAST_1] | None = None
    train_layernorm: bool = False  # also train the backbone's LayerNorms (hat/ctr then lose exact protection)


class PluginMethod(Method):
    """Subclasses say which plugin goes at each site (``make_plugin``) and add their own hooks."""

    config_class = PluginConfig
    answers_unseen_tasks = False
    scenarios = frozenset({"task"})
    learner_kinds = frozenset({"classifier", "mlm"})
    hard_masks: ClassVar[bool] = False  # HAT-masked methods answer with binary masks

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.selector = TaskSelector()

    def make_plugin(self, site: PluginSite) -> nn.Module:
        raise NotImplementedError

    def width(self, site: PluginSite) -> int:
        """The plugin's bottleneck at ``site``."""
        cfg = self.config
        own = cfg.bottleneck_ffn if site.kind == "ffn" else cfg.bottleneck_attention
        return own or cfg.bottleneck

    # ---- structure -------------------------------------------------------------------------------
    def grow(self, task: Task) -> None:
        super().grow(task)
        if not has_plugins(self.learner):
            inject_plugins(self.learner, self.make_plugin, self.config.layout)
        add_task_everywhere(self.learner, self.learner.device)

    @property
    def current(self) -> int:
        return len(self.tasks) - 1

    def position(self, task: Task) -> int:
        for i, t in enumerate(self.tasks):
            if t.name == task.name:
                return i
        raise KeyError(f"the method has not grown for task {task.name!r}")

    # ---- what trains -----------------------------------------------------------------------------
    def trainable_for(self, task: Task) -> list[nn.Parameter]:
        t = self.position(task)
        parts = per_task_modules(self.learner)
        owned = {id(p) for m in parts for i in range(m.num_tasks()) for p in m.task_parameters(i)}
        chosen = [p for plugin in plugins(self.learner) for p in plugin.parameters() if id(p) not in owned]
        chosen += [p for m in parts for p in m.task_parameters(t)]
        chosen += self.learner.head_parameters(task)
        if self.config.train_layernorm:
            chosen += [
                p for m in self.learner.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()
            ]
        unique: dict[int, nn.Parameter] = {}
        for p in chosen:
            unique.setdefault(id(p), p)
        return list(unique.values())

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Also switches gradients off everywhere else: the backbone, old heads and old tasks' parts."""
        chosen = self.trainable_for(self.tasks[-1])
        ids = {id(p) for p in chosen}
        for p in self.learner.parameters():
            p.requires_grad_(id(p) in ids)
        return iter(chosen)

    # ---- which task answers ----------------------------------------------------------------------
    @property
    def inference_s(self) -> float:
        return self.selector.s

    def before_forward(self, step: StepInfo) -> None:
        self.selector.task = self.current

    @contextlib.contextmanager
    def eval_context(self, task: Task) -> Iterator[None]:
        saved = (self.selector.task, self.selector.s, self.selector.hard)
        self.selector.task, self.selector.s = self.position(task), self.inference_s
        self.selector.hard = self.hard_masks
        try:
            yield
        finally:
            self.selector.task, self.selector.s, self.selector.hard = saved
