"""``none``: no post-training at all. Every stage is the original pretrained model, so with the masked-LM
learner each domain's end task is fine-tuned from the untouched model: the reference post-training must beat."""

from __future__ import annotations

from lifelong.methods.base import Method, register_method


@register_method("none")
class NoTraining(Method):
    """None: no training at all; every stage is the original pretrained model (CPT's reference)."""

    trains = False
