"""CPT (Ke, Shao, Lin, Konishi, Kim and Liu, EMNLP 2022): continual post-training of a masked LM on a
sequence of unlabeled domain corpora. CL-plugins with HAT task masks sit in every layer of the frozen
backbone; only the plugins and the mask embeddings train, the task id is the domain id, and earlier
domains' masks protect their units exactly (see ``lifelong.models.plugins.hat``). Each domain is scored
by fine-tuning a copy of the post-trained encoder, under that domain's mask at ``s_max``, on its end task
(``lifelong.evaluation.end_task``)."""

from __future__ import annotations

from dataclasses import dataclass

from lifelong.methods.base import register_method
from lifelong.methods.hat import HATConfig, HATMethod


@dataclass
class CPTConfig(HATConfig):
    """HAT's hyper-parameters on CL-plugins (bottleneck, s_max, lamb, clamp, thres_cosh)."""


@register_method("cpt")
class CPT(HATMethod):
    """CPT: HAT-masked CL-plugins post-trained with the masked-LM objective on one domain corpus after another.

    HAT-masked CL-plugins driven by the masked-LM objective: everything is HAT's hooks; what is
    CPT's own is the learner (corpus tasks, masked-LM loss) and the end-task evaluation."""

    config_class = CPTConfig
    learner_kinds = frozenset({"mlm"})
