"""Adapter baselines on a frozen backbone (B-CL/CTR's references): ``adapter_ncl`` trains one shared
adapter per site sequentially (forgets); ``adapter_one`` gives every task a fresh adapter of its own
(forgets nothing, transfers nothing)."""

from __future__ import annotations

from torch import nn

from lifelong.errors import ConfigError
from lifelong.methods.base import register_method
from lifelong.methods.plugin_base import PluginMethod
from lifelong.models.plugins import Adapter, PluginSite, TaskAdapters


@register_method("adapter_ncl")
class AdapterNCL(PluginMethod):
    """Adapter-NCL: one shared adapter per site in a frozen backbone, trained on each task in turn (forgets)."""

    scenarios = frozenset({"task", "domain", "class"})

    def make_plugin(self, site: PluginSite) -> nn.Module:
        return Adapter(site.hidden, self.width(site))


@register_method("adapter_one")
class AdapterOne(PluginMethod):
    """Adapter-ONE: a separate adapter per task in a frozen backbone, the task's own at inference (no transfer, no forgetting)."""

    reference = "one"

    def make_plugin(self, site: PluginSite) -> nn.Module:
        if self.config.train_layernorm:
            raise ConfigError(
                "adapter_one keeps tasks independent; shared LayerNorms cannot train (train_layernorm)"
            )
        return TaskAdapters(site.hidden, self.width(site), self.selector)
