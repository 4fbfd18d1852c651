"""The one place that builds an optimizer and its learning-rate schedule.

Every training loop of the library (continual training, end-task fine-tuning, masked-LM pretraining,
language and task adaptation) embeds :class:`OptimConfig` in its own config and calls
:func:`build_optimizer`, so a setting has one name and one meaning everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated

import torch
from torch import nn

from lifelong.schema import FRACTION, NON_NEGATIVE, POSITIVE, Range

Schedule = Callable[[int], float]
BETA = Range(ge=0, lt=1)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up and linear decay, gradient clipping and bf16 autocast."""

    lr: Annotated[float, POSITIVE] = 5e-4
    weight_decay: Annotated[float, NON_NEGATIVE] = (
        0.01  # on weight matrices only; biases and norms are never decayed
    )
    warmup_ratio: Annotated[float, FRACTION] = 0.1  # share of all updates spent warming up
    min_lr_ratio: Annotated[float, FRACTION] = 0.0  # the decay ends at lr * min_lr_ratio
    max_grad_norm: Annotated[float, NON_NEGATIVE] = 1.0  # 0 = no clipping
    adam_beta1: Annotated[float, BETA] = 0.9
    adam_beta2: Annotated[float, BETA] = 0.999
    adam_eps: Annotated[float, POSITIVE] = 1e-8
    bf16: bool = True  # bf16 autocast for forward passes (weights and optimizer state stay float32)


@dataclass
class WarmupDecay:
    """LR multiplier: linear warm-up from 0, then linear decay to ``min_ratio``; with ``period`` the
    shape restarts every ``period`` updates (active forgetting's per-episode embedding schedule).

    A callable dataclass, not a closure, so that ``LambdaLR.state_dict`` can store it."""

    warmup: int
    total: int
    min_ratio: float = 0.0
    period: int | None = None

    def __call__(self, step: int) -> float:
        if self.period:
            step %= self.period
        if step < self.warmup:
            return step / max(1, self.warmup)
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return max(self.min_ratio, 1.0 - progress * (1.0 - self.min_ratio))


@dataclass
class ParamGroup:
    """Parameters that share a learning rate (None: the config's) and a schedule (None: the global one)."""

    params: list[nn.Parameter]
    lr: float | None = None
    schedule: Schedule | None = None
    name: str = ""
    decay: bool = field(default=True)  # False: no weight decay for any parameter of the group


def warmup_decay(cfg: OptimConfig, total_updates: int) -> WarmupDecay:
    total = max(1, total_updates)
    return WarmupDecay(int(cfg.warmup_ratio * total), total, cfg.min_lr_ratio)


def groups_by_lr(
    params: Iterable[nn.Parameter], own_lr: dict[int, float], undecayed: frozenset[int] = frozenset()
) -> list[ParamGroup]:
    """One group per learning rate (``own_lr`` by parameter id; the rest use the config's) and per
    decay (``undecayed`` ids get none), the default group first: how a method asks for larger rates
    on some of its parameters, or for no weight decay on a table it trains only in part."""
    by_key: dict[tuple[float | None, bool], list[nn.Parameter]] = {(None, True): []}
    for p in params:
        by_key.setdefault((own_lr.get(id(p)), id(p) not in undecayed), []).append(p)
    return [ParamGroup(ps, lr=rate, decay=decay) for (rate, decay), ps in by_key.items() if ps]


def build_optimizer(
    groups: list[ParamGroup] | Iterable[nn.Parameter], cfg: OptimConfig, total_updates: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``groups`` (each split into decayed matrices and undecayed vectors) and its schedule."""
    if not (isinstance(groups, list) and groups and isinstance(groups[0], ParamGroup)):
        groups = [ParamGroup([p for p in groups])]
    torch_groups, schedules = [], []
    default = warmup_decay(cfg, total_updates)
    for g in groups:
        params = [p for p in g.params if p.requires_grad]
        for decayed in (True, False):
            chosen = [p for p in params if (p.ndim >= 2) == decayed]
            if not chosen:
                continue
            torch_groups.append(
                {
                    "params": chosen,
                    "lr": cfg.lr if g.lr is None else g.lr,
                    "weight_decay": cfg.weight_decay if (decayed and g.decay) else 0.0,
                    "name": f"{g.name or 'group'}/{'decay' if decayed else 'no_decay'}",
                }
            )
            schedules.append(g.schedule or default)
    if not torch_groups:
        raise ValueError("nothing to optimise: no parameter requires a gradient")
    # the fused kernel: one pass over each tensor instead of foreach's dozen (1.4x a whole smollm2 step
    # on this CPU, docs/results.md §2)
    optimizer = torch.optim.AdamW(
        torch_groups, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps, fused=True
    )
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedules)


def clip_gradients(params: Iterable[nn.Parameter], cfg: OptimConfig) -> None:
    """Clip the gradient norm (no-op when ``max_grad_norm`` is 0)."""
    if cfg.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(list(params), cfg.max_grad_norm)
