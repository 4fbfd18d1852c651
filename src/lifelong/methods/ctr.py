"""CTR (Ke, Liu, Ma, Xu and Shu, NeurIPS 2021): CL-plugins with a knowledge sharing module (task
capsules + transfer routing) and a HAT-masked task specific module; task-incremental, one head per task.

Training is HAT's (the masks cover the plugin's fully connected layers, binary once a task is learned).
Each task's capsule trains only with its task; the transfer routing (a routing matrix per source task and
the comparator with its similarity estimator and task-sharing gates) is shared by all tasks and keeps
training, as in the paper, so an earlier task's answers can drift a little: CTR's forgetting is small,
not zero as HAT's is. Every task so far is routed, the current one included, through its gate.

Deviations from the paper (see also ``lifelong.models.plugins.capsules``): MiniLM-sized capsules and
bottleneck instead of BERT-base's; routing matrices start as the identity; one comparator kernel width;
the task embeddings get their own AdamW learning rate (``mask_lr``) instead of HAT's SGD; gradient
clipping leaves the task embeddings out (HAT's compensated gradients).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch import nn

from lifelong.data.task import Example, Task
from lifelong.methods.base import Method, register_method
from lifelong.methods.hat import HATConfig, HATMethod
from lifelong.models.base import Row
from lifelong.models.plugins import CTRPlugin, PluginSite, plugins
from lifelong.models.plugins.capsules import knowledge_sharing_core
from lifelong.schema import AT_LEAST_1, NON_NEGATIVE, POSITIVE


@dataclass
class CTRConfig(HATConfig):
    capsule_mid: Annotated[int, AT_LEAST_1] = 32  # hidden width of each task capsule
    capsule_dim: Annotated[int, AT_LEAST_1] = 8  # capsule vector size
    channels: Annotated[int, AT_LEAST_1] = 32  # comparator convolution channels
    kernel: Annotated[int, AT_LEAST_1] = 3  # comparator kernel width
    tau: Annotated[float, POSITIVE] = 1.0  # Gumbel-softmax temperature of the task-similarity detector
    # after each task, the routing gates are measured on this many of its training examples (0: not
    # measured) and reported per stage: does the routing select, or route every earlier task everywhere?
    gate_probe: Annotated[int, NON_NEGATIVE] = 256
    # torch.compile the task capsules and transfer routing (one compiled function for every plugin site,
    # dynamic shapes): fewer, fused kernels where a step is bound by kernel launches (a GPU, docs/results.md
    # §4f). Off by default: on this CPU it is slower (tiny-bert: 63 against 50 ms per update, plus 70 s of
    # compilation per run), and its gain on a GPU is not measured yet (benchmarks/ctr/gpu/profile.sh).
    compile_routing: bool = False


def gate_shares(method: Method, task: Task, examples: list[Example]) -> list[float]:
    """Answering ``examples`` of ``task``: per source task (0..task's position, its own last) the share
    of examples whose task-sharing gate is open, over all examples and plugins."""
    routings = [p.ksm.routing for p in plugins(method.learner)]
    for r in routings:
        r.gate_log = []
    try:
        method.predict(task, examples)
        gates = torch.cat([g for r in routings for g in r.gate_log], dim=1)  # (sources, examples x plugins)
    finally:
        for r in routings:
            r.gate_log = None
    return gates.mean(dim=1).tolist()


@register_method("ctr")
class CTR(HATMethod):
    """CTR: CL-plugins with task capsules, transfer routing and HAT-masked task-specific modules (Ke et al., 2021)."""

    config_class = CTRConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.routing_usage: list[dict[str, Any]] = []  # per finished task: gate open shares

    def make_plugin(self, site: PluginSite) -> nn.Module:
        cfg = self.config
        plugin = CTRPlugin(
            site.hidden,
            self.width(site),
            self.selector,
            capsule_mid=cfg.capsule_mid,
            capsule_dim=cfg.capsule_dim,
            channels=cfg.channels,
            kernel=cfg.kernel,
            tau=cfg.tau,
        )
        if cfg.compile_routing:
            plugin.ksm.core = self.compiled_core
        return plugin

    @functools.cached_property
    def compiled_core(self) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
        """One compiled knowledge-sharing core for all plugin sites (compiled at its first call)."""
        return torch.compile(knowledge_sharing_core, dynamic=True)

    def after_task(self, task: Task, rows: list[Row]) -> None:
        super().after_task(task, rows)
        probe = task.splits.get("train", [])[: self.config.gate_probe]
        if not probe:
            return
        shares = [round(100 * s, 1) for s in gate_shares(self, task, probe)]
        earlier = shares[:-1]
        self.routing_usage.append(
            {
                "stage": len(shares),
                "task": task.name,
                "own gate open %": shares[-1],
                "earlier gates open %": round(sum(earlier) / len(earlier), 1) if earlier else "—",
                "per earlier task %": " ".join(f"{s:.0f}" for s in earlier) or "—",
            }
        )

    def report_tables(self) -> list[dict[str, Any]]:
        tables = super().report_tables()
        if self.routing_usage:
            columns = list(self.routing_usage[0])
            tables.append(
                {
                    "title": "CTR transfer routing: task-sharing gates",
                    "columns": columns,
                    "rows": [[row[c] for c in columns] for row in self.routing_usage],
                    "note": f"Measured right after each task on its first {self.config.gate_probe} training "
                    "examples: the share of (example, plugin) pairs whose gate lets a task's capsule through. "
                    "100 % everywhere means the routing does not select.",
                }
            )
        return tables

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "routing_usage": json.dumps(self.routing_usage)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.routing_usage = json.loads(state.get("routing_usage", "[]"))
