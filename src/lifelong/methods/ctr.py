"""CTR (Ke, Liu, Ma, Xu and Shu, NeurIPS 2021): CL-plugins with a knowledge sharing module (task
capsules + transfer routing) and a HAT-masked task specific module; task-incremental, one head per task.
Training is HAT's (the masks cover the plugin's shared fully connected layers); the capsules and routing
of each task train only with that task."""

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
            cfg.bottleneck,
            self.selector,
            capsule_mid=cfg.capsule_mid,
            capsule_dim=cfg.capsule_dim,
            channels=cfg.channels,
            kernel=cfg.kernel,
            tau=cfg.tau,
        )
