"""Copies of a learner's weights: to restart from the initial model, or keep one per task."""

from __future__ import annotations

import torch
from torch import nn


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def overlap(small: torch.Size, big: torch.Size) -> tuple[slice, ...]:
    """The part of a grown tensor (a class-incremental head) that its smaller former self covers."""
    return tuple(slice(0, s) for s in small)


def restore(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` for the entries it has (modules added later, e.g. new heads, keep their values)."""
    own = module.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            if k in own and own[k].shape == v.shape:
                own[k].copy_(v)


def extend_initial(initial: dict[str, torch.Tensor], module: nn.Module) -> None:
    """Add to an initial snapshot what ``grow`` just created: a new head's fresh weights, and a grown
    head's new rows (its old rows keep their initial values), so a restart resets heads too."""
    for k, v in module.state_dict().items():
        old = initial.get(k)
        if old is None:
            initial[k] = v.detach().clone()
        elif old.shape != v.shape:
            merged = v.detach().clone()
            merged[overlap(old.shape, v.shape)] = old
            initial[k] = merged
