"""Active forgetting (Chen et al., NeurIPS 2023): every K updates the token embeddings start over.

The body keeps learning across resets while the embeddings only ever see K updates, so the body is
pushed to work with embeddings it has barely trained with -- which is what makes swapping in a new
language's embeddings later cheap. Three pieces: the reset itself (weights + their Adam state), the
schedule saying when, and a learning-rate shape that restarts with every episode of K updates.

Parameters are found by reference (``get_input_embeddings``/``get_output_embeddings``), never by
name, so the same code works for any Hugging Face masked LM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

INIT_STD = 0.02


def token_embedding_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The vocabulary matrices: input embeddings and the LM-head decoder weight (once, if tied)."""
    params = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and all(output.weight is not p for p in params):
        params.append(output.weight)
    return params


def padding_index(model: nn.Module) -> int | None:
    return getattr(model.get_input_embeddings(), "padding_idx", None)


@torch.no_grad()
def init_token_embeddings(
    model: nn.Module, generator: torch.Generator | None = None, std: float = INIT_STD
) -> list[nn.Parameter]:
    """Fresh N(0, std) vocabulary matrices with the padding row at zero (as at initialisation)."""
    params = token_embedding_parameters(model)
    pad = padding_index(model)
    for p in params:
        fresh = torch.empty(p.shape, dtype=torch.float32).normal_(0.0, std, generator=generator)
        if pad is not None:
            fresh[pad] = 0.0
        p.copy_(fresh)  # drawn on the CPU so every device and process gets the same values
    return params


def reset_token_embeddings(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator | None = None,
    std: float = INIT_STD,
) -> list[nn.Parameter]:
    """Forget: re-draw the embeddings and drop their optimizer state (moments and step count).

    Dropping the per-parameter state makes Adam start these parameters from scratch on the next
    step (moments zero, bias correction from step 1), exactly as for a newly created parameter;
    every other parameter's state is left alone.
    """
    params = init_token_embeddings(model, generator, std)
    for p in params:
        optimizer.state.pop(p, None)
        p.grad = None
    return params


@dataclass(frozen=True)
class ForgettingSchedule:
    """When to forget: after every ``reset_every`` completed updates, except the very last one.

    The final update is skipped so the saved model ends with trained English embeddings (a reset
    there would hand random embeddings to task adaptation). ``reset_every`` None or 0 = baseline.
    """

    reset_every: int | None
    total_steps: int

    @property
    def enabled(self) -> bool:
        return bool(self.reset_every)

    def is_reset_step(self, step: int) -> bool:
        """``step`` = number of completed optimizer updates."""
        k = self.reset_every
        return bool(k) and step > 0 and step % k == 0 and step < self.total_steps

    def episode_length(self) -> int:
        return self.reset_every if self.enabled else self.total_steps


@dataclass
class WarmupDecay:
    """LR multiplier: linear warm-up, then linear decay to ``min_ratio``; restarts every ``period`` steps.

    A callable dataclass rather than a closure so ``LambdaLR.state_dict`` can store it. With
    ``period`` set it is the per-episode schedule of the token embeddings; without, the global one.
    """

    warmup: int
    total: int
    min_ratio: float = 0.0
    period: int | None = None

    def __call__(self, step: int) -> float:
        if self.period:
            step %= self.period
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return max(self.min_ratio, 1.0 - progress * (1.0 - self.min_ratio))


def reset_generator(seed: int, step: int) -> torch.Generator:
    """The same fresh embeddings on every process (and on resume), without touching the global RNG."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)
