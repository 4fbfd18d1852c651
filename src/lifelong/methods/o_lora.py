"""O-LoRA (Wang, Chen, Gui, Hu, Zhang, Zhang, Huang and Qiu, Findings of EMNLP 2023): IncLoRA plus a loss
that keeps the new task's LoRA subspace orthogonal to the earlier tasks':

    L = L_task + λ1 · Σ_layers Σ_{i<t} ||A_i A_tᵀ||²_F + λ2 · ||(A_t, B_t)||²

with ``A`` the down-projections (PEFT's ``lora_A``, r × d_in), so the rows of A_t are pushed out of the
span of every earlier A_i. Defaults are the paper's λ1 = 0.5, λ2 = 0.

Deviations: the paper's experiments use T5 (encoder-decoder) with instruction prompts; here any learner
kind (a causal LM answers in ``context question ANS answer`` format, the question listing the options).
The authors' code sums absolute values of A_i A_tᵀ; this follows the paper's squared Frobenius norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch

from lifelong.methods.base import MethodConfig, StepInfo, register_method
from lifelong.methods.lora_base import IncrementalLora
from lifelong.models.lora import adapter_parameters, down_projections
from lifelong.schema import NON_NEGATIVE


@dataclass
class OLoraConfig(MethodConfig):
    lambda_orth: Annotated[float, NON_NEGATIVE] = 0.5  # λ1, the orthogonality loss weight
    lambda_l2: Annotated[float, NON_NEGATIVE] = 0.0  # λ2, the L2 penalty on the new task's LoRA


def orthogonality_loss(earlier: list[list[torch.Tensor]], current: list[torch.Tensor]) -> torch.Tensor:
    """Σ over earlier adapters and layers of ||A_i A_tᵀ||²_F: zero exactly when every row of each A_t is
    orthogonal to every row of the earlier A_i of the same layer."""
    total = current[0].new_zeros((), dtype=torch.float32)
    for old in earlier:
        for a_old, a_new in zip(old, current, strict=True):
            total = total + (a_old.detach().float() @ a_new.float().T).pow(2).sum()
    return total


@register_method("o_lora")
class OLora(IncrementalLora):
    """O-LoRA: a new LoRA per task kept orthogonal to the earlier ones' subspaces (Wang et al., 2023)."""

    config_class = OLoraConfig

    def loss(self, batch: dict[str, Any], output: Any, step: StepInfo) -> torch.Tensor:
        loss = output.loss
        earlier = self.earlier()
        if self.config.lambda_orth and earlier:
            old = [down_projections(self.body, name) for name in earlier]
            loss = loss + self.config.lambda_orth * orthogonality_loss(
                old, down_projections(self.body, self.current)
            )
        if self.config.lambda_l2:
            l2 = sum(p.float().pow(2).sum() for p in adapter_parameters(self.body, self.current))
            loss = loss + self.config.lambda_l2 * l2
        return loss
