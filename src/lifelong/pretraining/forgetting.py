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

from lifelong.errors import ConfigError
from lifelong.optim import WarmupDecay

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
    every other parameter's state is left alone. The state is keyed by the parameter itself, so
    whichever optimizer group holds the embeddings does not matter.
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
    there would hand random embeddings to task adaptation). ``reset_every=None`` is standard
    pretraining; it is the only spelling of "off".
    """

    reset_every: int | None
    total_steps: int

    def __post_init__(self) -> None:
        if self.reset_every is not None and self.reset_every <= 0:
            raise ConfigError(
                f"reset_every must be a positive number of updates, or null (None) for no resets; got {self.reset_every}"
            )

    @property
    def enabled(self) -> bool:
        return self.reset_every is not None

    def is_reset_step(self, step: int) -> bool:
        """``step`` = number of completed optimizer updates."""
        k = self.reset_every
        return k is not None and step > 0 and step % k == 0 and step < self.total_steps

    def embedding_schedule(self, warmup_steps: int | None, min_ratio: float = 0.0) -> WarmupDecay | None:
        """The embeddings' own LR shape: warm-up + decay restarted every episode (None: no resets, so
        the embeddings follow the global schedule). ``warmup_steps`` defaults to a tenth of an episode."""
        if self.reset_every is None:
            return None
        k = self.reset_every
        warm = warmup_steps if warmup_steps is not None else max(1, k // 10)
        return WarmupDecay(min(max(1, warm), k), k, min_ratio, period=k)


def reset_generator(seed: int, step: int) -> torch.Generator:
    """The same fresh embeddings on every process (and on resume), without touching the global RNG."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)
