"""CL-plugins: small modules inserted into a frozen BERT-style encoder, two per transformer layer.

``inject``    find the residual output blocks of any BERT/RoBERTa-family encoder and plug modules in (or out)
``adapter``   bottleneck adapters, shared or one per task
``hat``       HAT task masks and their training-time bookkeeping
``capsules``  CTR's knowledge sharing module (task capsules + transfer routing) and the CTR plugin
"""

from lifelong.models.plugins.adapter import Adapter, TaskAdapters
from lifelong.models.plugins.base import PerTask, TaskSelector, add_task_everywhere, per_task_modules
from lifelong.models.plugins.capsules import CTRPlugin, KnowledgeSharing, TaskCapsule, TransferRouting
from lifelong.models.plugins.hat import HAT, HATAdapter, HATGate, HATMasked, MaskedLinear, anneal_s
from lifelong.models.plugins.inject import (
    ParallelBlock,
    PluggedLinear,
    PluginSite,
    has_plugins,
    inject_plugins,
    plugins,
    remove_plugins,
    sites,
    transformer_layers,
)

__all__ = [
    "HAT",
    "Adapter",
    "CTRPlugin",
    "HATAdapter",
    "HATGate",
    "HATMasked",
    "KnowledgeSharing",
    "MaskedLinear",
    "PerTask",
    "ParallelBlock",
    "PluggedLinear",
    "PluginSite",
    "TaskAdapters",
    "TaskCapsule",
    "TaskSelector",
    "TransferRouting",
    "add_task_everywhere",
    "anneal_s",
    "has_plugins",
    "inject_plugins",
    "per_task_modules",
    "plugins",
    "remove_plugins",
    "sites",
    "transformer_layers",
]
