"""InfLoRA (Liang and Li, CVPR 2024): interference-free LoRA. Before task t trains, each layer's new
down-projection A_t is fixed to the top-r directions of the new task's inputs to that layer, taken
orthogonal to the subspace the earlier tasks' inputs occupy (a memory M per layer); only B_t trains.
Since A_t x ≈ 0 for inputs x in the span of M, the new LoRA leaves the earlier tasks' outputs (nearly)
unchanged, and it is fitted to the directions the new task actually uses.

After the task the memory grows (as in the paper's DualGPM, simplified): the new task's input
covariance, re-measured on the trained model, adds its leading directions outside M until M holds
``threshold`` of that task's input energy.

Deviations: the paper's ViT prompt-free setup becomes a language model's LoRA layers; DualGPM's switch to
storing the complement once M exceeds half the dimensions is not implemented (M is capped at
d_in - r dimensions, so there is always room for A_t); a fixed energy threshold instead of the paper's
growing one; the subspace is measured on ``subspace_rows`` training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import nn

from lifelong.data.task import Task
from lifelong.methods.base import MethodConfig, register_method
from lifelong.methods.lora_base import IncrementalLora
from lifelong.models.base import Row
from lifelong.models.lora import lora_layers, set_trainable
from lifelong.schema import AT_LEAST_1, Range


@dataclass
class InfLoraConfig(MethodConfig):
    subspace_rows: Annotated[int, AT_LEAST_1] = 256  # training rows whose inputs define the subspace
    threshold: Annotated[float, Range(gt=0, lt=1)] = 0.95  # input energy the memory keeps per task


def input_covariances(
    learner: Any, layers: list[nn.Module], rows: list[Row], batch_size: int
) -> list[torch.Tensor]:
    """Σ x xᵀ over the real (not padding) tokens' inputs to each layer, in float32."""
    covs: list[torch.Tensor | None] = [None] * len(layers)
    mask: dict[str, torch.Tensor] = {}

    def hook(i: int):
        def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            x = args[0].detach().float()
            x = x[mask["m"].bool()] if x.dim() == 3 else x
            with torch.autocast(x.device.type, enabled=False):  # a float32 sum, not bf16
                c = x.T @ x
            covs[i] = c if covs[i] is None else covs[i] + c

        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad(), learner.eval_mode(), learner.autocast():
            for start in range(0, len(rows), batch_size):
                batch = learner.collate(rows[start : start + batch_size])
                batch = learner.to_device(batch)
                mask["m"] = batch["attention_mask"]
                learner(batch)
    finally:
        for h in handles:
            h.remove()
    return [c.cpu() if c is not None else torch.zeros(1, 1) for c in covs]


def leading_directions(cov: torch.Tensor, memory: torch.Tensor, r: int) -> torch.Tensor:
    """The top-``r`` eigenvectors of the covariance projected off ``memory`` (d × k orthonormal): r × d."""
    d = cov.shape[0]
    project = torch.eye(d) - memory @ memory.T
    values, vectors = torch.linalg.eigh(project @ cov @ project)
    return vectors[:, values.argsort(descending=True)[:r]].T.contiguous()


def grow_memory(cov: torch.Tensor, memory: torch.Tensor, threshold: float, cap: int) -> torch.Tensor:
    """Add the task's leading directions outside ``memory`` until it holds ``threshold`` of the task's
    input energy (at most ``cap`` dimensions in all)."""
    total = float(torch.trace(cov))
    if total <= 0:
        return memory
    held = float(torch.trace(memory.T @ cov @ memory)) if memory.shape[1] else 0.0
    project = torch.eye(cov.shape[0]) - memory @ memory.T
    values, vectors = torch.linalg.eigh(project @ cov @ project)
    order = values.argsort(descending=True)
    added = []
    for i in order.tolist():
        if held / total >= threshold or memory.shape[1] + len(added) >= cap:
            break
        added.append(vectors[:, i])
        held += float(values[i])
    return torch.cat([memory, torch.stack(added, dim=1)], dim=1) if added else memory


@register_method("inf_lora")
class InfLora(IncrementalLora):
    """InfLoRA: each new LoRA's down-projection fixed orthogonal to the earlier tasks' input subspace (Liang and Li, 2024)."""

    config_class = InfLoraConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.memory: list[torch.Tensor] = []  # per LoRA layer: d_in × k orthonormal

    def _sample(self, rows: list[Row]) -> list[Row]:
        own = [r for r in rows if not r.get("replayed")]
        return own[: self.config.subspace_rows]

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        layers = lora_layers(self.body)
        covs = input_covariances(self.learner, layers, self._sample(rows), self.learner.eval_batch_size)
        if not self.memory:
            self.memory = [torch.zeros(c.shape[0], 0) for c in covs]
        with torch.no_grad():
            for layer, cov, memory in zip(layers, covs, self.memory, strict=True):
                a = layer.lora_A[self.current].weight
                a.copy_(leading_directions(cov, memory, a.shape[0]).to(a.dtype))
        return rows

    def trainable_parameters(self):
        """B_t and the head: A_t stays where ``before_task`` put it."""
        chosen = [layer.lora_B[self.current].weight for layer in lora_layers(self.body)]
        chosen += self.learner.head_parameters(self.tasks[-1])
        return iter(set_trainable(self.learner, chosen))

    def after_task(self, task: Task, rows: list[Row]) -> None:
        layers = lora_layers(self.body)
        covs = input_covariances(self.learner, layers, self._sample(rows), self.learner.eval_batch_size)
        r = self.learner.lora.r
        self.memory = [
            grow_memory(cov, memory, self.config.threshold, cap=cov.shape[0] - r)
            for cov, memory in zip(covs, self.memory, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {f"memory.{i}": m.contiguous() for i, m in enumerate(self.memory)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = sorted((k for k in state if k.startswith("memory.")), key=lambda k: int(k.split(".")[1]))
        self.memory = [state[k].float() for k in keys]
