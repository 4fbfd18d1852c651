"""LoRA through the stock ``peft`` package: adapters injected into a learner's pretrained body by
PEFT itself (its own default target modules for the architecture, or a config list), several named
adapters side by side (one per task for the LoRA-family methods), any subset of them active at once
(PEFT sums their outputs), everything found by type (``peft``'s ``LoraLayer``), never by parameter name.

The adapters are ordinary submodules of the learner, so the run's checkpoints save and load them with
the rest of the weights, and rebuilding a learner (``grow`` replayed over its tasks) recreates them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Annotated

import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from lifelong.errors import ConfigError
from lifelong.schema import AT_LEAST_1, POSITIVE, Range

SHARED = "shared"  # the adapter a LoRA learner starts with (model.lora): one LoRA for every task


@dataclass
class LoraSettings:
    """``model.lora``: train low-rank adapters in a frozen body instead of the whole model."""

    r: Annotated[int, AT_LEAST_1] = 8
    alpha: Annotated[float, POSITIVE] = 16.0  # the update is scaled by alpha / r
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0
    # module names to adapt (e.g. [q_proj, v_proj]); None: PEFT's default for the architecture
    target_modules: list[str] | None = None


def lora_layers(body: nn.Module) -> list[LoraLayer]:
    return [m for m in body.modules() if isinstance(m, LoraLayer)]


def adapter_names(body: nn.Module) -> list[str]:
    layers = lora_layers(body)
    return list(layers[0].lora_A.keys()) if layers else []


def add_adapter(body: nn.Module, name: str, settings: LoraSettings) -> None:
    """Inject adapter ``name`` into every target module of ``body`` (idempotent). New adapters are not
    active until :func:`activate` says so."""
    if name in adapter_names(body):
        return
    active = lora_layers(body)[0].active_adapters if lora_layers(body) else []
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules) if settings.target_modules else None,
    )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")  # GPT-2's Conv1D: PEFT adapts it
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")  # several are the point
            inject_adapter_in_model(config, body, adapter_name=name)
    except ValueError as exc:  # no target module found, or no default known for the architecture
        raise ConfigError(f"model.lora: {exc} (set model.lora.target_modules)") from None
    activate(body, active)  # injecting makes the new adapter the only active one: undo that


def activate(body: nn.Module, names: list[str]) -> None:
    """Make exactly ``names`` active in every LoRA layer (their outputs are summed)."""
    for layer in lora_layers(body):
        if names:
            layer.set_adapter(list(names))
    # PEFT marks active adapters trainable; what trains is the method's choice (set_trainable)


def adapter_parameters(body: nn.Module, name: str) -> list[nn.Parameter]:
    return [
        p
        for layer in lora_layers(body)
        for part in (layer.lora_A, layer.lora_B)
        for p in part[name].parameters()
    ]


def down_projections(body: nn.Module, name: str) -> list[torch.Tensor]:
    """Adapter ``name``'s A matrices, one ``(r, in_features)`` per adapted layer, in a fixed order."""
    return [layer.lora_A[name].weight for layer in lora_layers(body)]


def lora_parameter_ids(body: nn.Module) -> set[int]:
    return {
        id(p)
        for layer in lora_layers(body)
        for part in (layer.lora_A, layer.lora_B)
        for p in part.parameters()
    }


def set_trainable(module: nn.Module, chosen: list[nn.Parameter]) -> list[nn.Parameter]:
    """``chosen`` trains; every other parameter of ``module`` is frozen (no gradient is even computed)."""
    ids = {id(p) for p in chosen}
    for p in module.parameters():
        p.requires_grad_(id(p) in ids)
    return chosen


def remove_adapter(body: nn.Module, name: str) -> None:
    for layer in lora_layers(body):
        if name in layer.lora_A:
            layer.delete_adapter(name)
