"""Faster training of Hugging Face models on a CPU, computing the same function.

Measured on this project's 2-core AMX machine (``docs/results.md`` §2), two things cost more than the
matrix products themselves in a small encoder's training step:

- **Dropout masks.** ``torch.bernoulli_`` draws one Mersenne-Twister number per element (about 40 ms
  for one layer's attention probabilities at batch 32 x 128). :func:`fast_dropout` draws 64 random bits
  per four elements and compares 16-bit slices with the keep threshold: the same Bernoulli(1 - p) mask
  (``p`` rounded to 1/65536), from the same seeded generator, about 7x cheaper.
- **Attention.** For an encoder's short sequences the CPU flash-attention kernel is slower than the
  plain ``softmax(QK^T / sqrt(d) + mask) V`` (5,500 against 8,300 tokens/s for a MiniLM step without
  dropout), and any attention dropout sends SDPA to its unfused fallback anyway. Encoders, and any
  model that trains with attention dropout (GPT-2), use :func:`attention`, with :func:`fast_dropout`
  on the probabilities; causal LMs without attention dropout (smollm2) keep SDPA, the faster there.

Both are injected by reference (:func:`speed_up`), like every other module swap in this library.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from lifelong.context import cpu_only

ATTENTION = "lifelong_eager"
_RESOLUTION = 1 << 16  # dropout rates are rounded to multiples of 1/65536


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """A boolean mask, True with probability 1 - p (p rounded to 1/65536), from the global generator."""
    n = math.prod(shape)
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=device)
    bits = words.view(torch.int16)[:n].view(shape)
    return bits >= round(p * _RESOLUTION) - (_RESOLUTION // 2)


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``nn.functional.dropout`` with a cheaper mask (see the module docstring)."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    return x * keep_mask(x.shape, p, x.device) * (1.0 / (1.0 - p))


class FastDropout(nn.Dropout):
    """Drop-in for ``nn.Dropout`` (a subclass, so code that looks for dropout modules still finds it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


def attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention (Hugging Face's own formula) with :func:`fast_dropout` on the probabilities."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = fast_dropout(probs, dropout, module.training)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, probs


AttentionInterface.register(ATTENTION, attention)
AttentionMaskInterface.register(ATTENTION, eager_mask)


def _attention_dropout(config) -> float:
    names = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")
    return max(float(getattr(config, n, 0.0) or 0.0) for n in names)


def speed_up(model: nn.Module) -> nn.Module:
    """Swap every ``nn.Dropout`` for :class:`FastDropout` (same rate) and use :func:`attention` in an
    encoder, or in any model that trains with attention dropout. Returns ``model`` (changed in place)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
    config = getattr(model, "config", None)
    if config is not None and (not model.can_generate() or _attention_dropout(config) > 0):
        model.set_attn_implementation(ATTENTION)
    return model


def speed_up_on_cpu(model: nn.Module) -> nn.Module:
    """:func:`speed_up` on a machine without an accelerator (a GPU's own kernels are faster there)."""
    return speed_up(model) if cpu_only() else model
