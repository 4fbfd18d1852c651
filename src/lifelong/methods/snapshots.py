"""Copies of a learner's trainable weights: to restart from the initial model, or keep one per task."""

from __future__ import annotations

import torch
from torch import nn


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def restore(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` for the entries it has (modules added later, e.g. new heads, keep their values)."""
    own = module.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            if k in own and own[k].shape == v.shape:
                own[k].copy_(v)
