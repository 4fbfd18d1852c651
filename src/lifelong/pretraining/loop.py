"""What the two adaptation loops share: bf16 autocast and one clipped optimizer update.

Both adaptation stages train a subset of the model on one process, so a plain loop suffices
(pretraining, which may run on many processes, goes through Accelerate instead).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from lifelong.optim import OptimConfig, clip_gradients
from lifelong.precision import bf16_autocast


def autocast(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    return bf16_autocast("cpu", enabled)


def update(
    loss: torch.Tensor,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    cfg: OptimConfig,
) -> None:
    """One optimizer update of ``params``: backward, clip, step, schedule, clear."""
    loss.backward()
    clip_gradients(params, cfg)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
