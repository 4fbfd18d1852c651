"""Bottleneck adapters (Houlsby et al., 2019): the plain CL-plugin, shared or one per task."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from lifelong.models.plugins.base import PerTask, TaskSelector


class Adapter(nn.Module):
    """``x + up(act(down(x)))``. ``up`` starts at zero, so a fresh adapter leaves the backbone's
    outputs exactly unchanged and training starts from the pretrained model."""

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        self.act = nn.GELU()
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


class TaskAdapters(PerTask):
    """A fresh adapter for every task (ONE): the selected task's adapter answers, nothing is shared."""

    def __init__(self, hidden: int, bottleneck: int, selector: TaskSelector):
        super().__init__()
        self.hidden, self.bottleneck = hidden, bottleneck
        self.selector = selector
        self.adapters = nn.ModuleList()

    def add_task(self, device: torch.device | str | None = None) -> None:
        self.adapters.append(Adapter(self.hidden, self.bottleneck).to(device))

    def num_tasks(self) -> int:
        return len(self.adapters)

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        return self.adapters[task].parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapters[self.selector.task](x)
