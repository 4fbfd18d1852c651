"""What every CL-plugin shares: the task selector it reads and the protocol for per-task parts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TaskSelector:
    """Which task the plugins of one model answer for, and HAT's gate temperature ``s``.

    One object is shared by every plugin of a model and set by the method (before a forward, or in
    ``eval_context``), so the plugins need no extra forward arguments and there is no global state.
    """

    task: int = 0
    s: float = 400.0
    hard: bool = False  # HAT at inference: binary masks (a unit is open or contributes exactly zero)


class PerTask(nn.Module):
    """A plugin part that owns parameters of its own for every task (task embeddings, capsules,
    one adapter per task). ``add_task`` must depend only on how many tasks exist, so that replaying
    it rebuilds a saved model with the same parameter names and shapes."""

    def add_task(self, device: torch.device | str | None = None) -> None:
        raise NotImplementedError

    def num_tasks(self) -> int:
        raise NotImplementedError

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        """The parameters that belong to ``task`` alone: trained only while that task is learned."""
        raise NotImplementedError


def add_task_everywhere(model: nn.Module, device: torch.device | str | None = None) -> None:
    """Grow every per-task part of ``model`` by one task."""
    for module in per_task_modules(model):
        module.add_task(device)


def per_task_modules(model: nn.Module) -> list[PerTask]:
    return [m for m in model.modules() if isinstance(m, PerTask)]
