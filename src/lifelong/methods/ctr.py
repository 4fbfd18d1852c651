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

from dataclasses import dataclass
from typing import Annotated

from torch import nn

from lifelong.methods.base import register_method
from lifelong.methods.hat import HATConfig, HATMethod
from lifelong.models.plugins import CTRPlugin, PluginSite
from lifelong.schema import AT_LEAST_1, POSITIVE


@dataclass
class CTRConfig(HATConfig):
    capsule_mid: Annotated[int, AT_LEAST_1] = 32  # hidden width of each task capsule
    capsule_dim: Annotated[int, AT_LEAST_1] = 8  # capsule vector size
    channels: Annotated[int, AT_LEAST_1] = 32  # comparator convolution channels
    kernel: Annotated[int, AT_LEAST_1] = 3  # comparator kernel width
    tau: Annotated[float, POSITIVE] = 1.0  # Gumbel-softmax temperature of the task-similarity detector


@register_method("ctr")
class CTR(HATMethod):
    """CTR: CL-plugins with task capsules, transfer routing and HAT-masked task-specific modules (Ke et al., 2021)."""

    config_class = CTRConfig

    def make_plugin(self, site: PluginSite) -> nn.Module:
        cfg = self.config
        return CTRPlugin(
            site.hidden,
            self.width(site),
            self.selector,
            capsule_mid=cfg.capsule_mid,
            capsule_dim=cfg.capsule_dim,
            channels=cfg.channels,
            kernel=cfg.kernel,
            tau=cfg.tau,
        )
