"""Insert CL-plugins into any BERT/RoBERTa-family encoder by walking the model and replacing modules
by reference (as HF PEFT does), never by matching parameter-name strings.

A transformer layer of this family ends each of its two sub-layers (self-attention, feed-forward) in a
*residual output block*: ``LayerNorm(dropout(proj(h)) + input)``. It is recognised by its structure:
one linear projection, a LayerNorm, and a ``forward(hidden_states, input_tensor)`` that takes the
residual input. The projection is wrapped so the plugin sees its output before the residual addition
and the LayerNorm. This finds the two blocks of every layer in ``BertModel``, ``RobertaModel``,
``ElectraModel``, ``XLMRobertaModel``, DeBERTa, and the same encoders inside ``*ForMaskedLM`` or
``*ForSequenceClassification`` (the MLM head's transform takes no residual input, so it is never a site).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch import nn

from lifelong.errors import ConfigError


@dataclass(frozen=True)
class PluginSite:
    """Where a plugin goes: layer index, sub-layer kind, and the width of the hidden states there."""

    layer: int
    kind: str  # "attention" | "cross_attention" | "ffn"
    hidden: int


class ParallelBlock(nn.Module):
    """A residual output block whose plugin reads the sub-layer's *input* and adds to its output
    (a parallel adapter, the layout of the CPT paper): ``LN(proj(h) + plugin(x))`` where the block alone
    computes ``LN(proj(h) + x)``; a plugin returns ``x + f(x)``, so ``f(x)`` joins the residual sum."""

    def __init__(self, block: nn.Module, plugin: nn.Module):
        super().__init__()
        self.block = block
        self.plugin = plugin

    def forward(self, hidden_states, input_tensor, *args, **kwargs):
        return self.block(hidden_states, self.plugin(input_tensor), *args, **kwargs)


class PluggedLinear(nn.Module):
    """A residual block's projection followed by its plugin. The projection is kept untouched as
    ``base`` so removing the plugin gives back the very same module."""

    def __init__(self, base: nn.Module, plugin: nn.Module):
        super().__init__()
        self.base = base
        self.plugin = plugin

    def forward(self, x):
        return self.plugin(self.base(x))


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("LayerNorm")


def _takes_residual(module: nn.Module) -> bool:
    """True when ``forward`` needs exactly two inputs: the sub-layer output and the residual input."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is inspect.Parameter.empty
    ]
    return len(required) == 2


def projection_of(block: nn.Module) -> tuple[str, nn.Module] | None:
    """If ``block`` is a residual output block, the name and module of its projection."""
    children = list(block.named_children())
    projections = [(n, c) for n, c in children if isinstance(c, nn.Linear | PluggedLinear)]
    if len(projections) != 1 or not any(_is_norm(c) for _, c in children) or not _takes_residual(block):
        return None
    return projections[0]


def residual_blocks(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if projection_of(m) is not None]


def transformer_layers(model: nn.Module) -> list[nn.Module]:
    """The encoder's layer stack: the first ModuleList whose every item holds residual output blocks."""
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) and all(residual_blocks(m) for m in module):
            return list(module)
    raise ConfigError(
        f"{type(model).__name__} has no BERT-style encoder layers (residual output blocks with a projection "
        "and a LayerNorm); CL-plugins need a BERT/RoBERTa-family encoder"
    )


def sites(model: nn.Module) -> Iterator[tuple[PluginSite, nn.Module, str, nn.Module]]:
    """Every plugin site in order: (site, the block, the projection's attribute name, the projection)."""
    for i, layer in enumerate(transformer_layers(model)):
        blocks = residual_blocks(layer)
        for j, block in enumerate(blocks):
            name, proj = projection_of(block)  # type: ignore[misc]
            kind = "attention" if j == 0 else "ffn" if j == len(blocks) - 1 else "cross_attention"
            base = proj.base if isinstance(proj, PluggedLinear) else proj
            yield PluginSite(i, kind, base.out_features), block, name, proj


LAYOUTS = ("sequential", "parallel")


def inject_plugins(
    model: nn.Module, make: Callable[[PluginSite], nn.Module], layout: str = "sequential"
) -> list[nn.Module]:
    """Put ``make(site)`` at every residual output block: after its projection (``sequential``, as in
    B-CL/CTR) or beside the sub-layer, reading its input (``parallel``, as in CPT); returns the plugins."""
    if layout not in LAYOUTS:
        raise ConfigError(f"plugin layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    if has_plugins(model):
        raise ConfigError("the model already has CL-plugins; remove them first")
    parents = {
        id(child): (parent, name) for parent in model.modules() for name, child in parent.named_children()
    }
    made = []
    for site, block, name, proj in list(sites(model)):
        plugin = make(site).to(next(proj.parameters()).device)
        if layout == "sequential":
            setattr(block, name, PluggedLinear(proj, plugin))
        else:
            parent, attr = parents[id(block)]
            setattr(parent, attr, ParallelBlock(block, plugin))
        made.append(plugin)
    return made


def plugged(model: nn.Module) -> list[PluggedLinear | ParallelBlock]:
    return [m for m in model.modules() if isinstance(m, PluggedLinear | ParallelBlock)]


def plugins(model: nn.Module) -> list[nn.Module]:
    """The plugins of ``model`` in layer order (two per layer)."""
    return [m.plugin for m in plugged(model)]


def has_plugins(model: nn.Module) -> bool:
    return bool(plugged(model))


def remove_plugins(model: nn.Module) -> list[nn.Module]:
    """Take every plugin out again, restoring the original projections; returns the removed plugins."""
    removed = []
    parents = {
        id(child): (parent, name) for parent in model.modules() for name, child in parent.named_children()
    }
    for wrapper in plugged(model):
        parent, attr = parents[id(wrapper)]
        setattr(parent, attr, wrapper.base if isinstance(wrapper, PluggedLinear) else wrapper.block)
        removed.append(wrapper.plugin)
    return removed
