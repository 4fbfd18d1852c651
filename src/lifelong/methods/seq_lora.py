"""SeqLoRA (the baseline of O-LoRA, Wang et al., Findings of EMNLP 2023): one LoRA in a frozen body,
trained on each task in turn. Sequential fine-tuning with LoRA: the family's lower bound."""

from __future__ import annotations

from typing import Any

from lifelong.methods.base import register_method
from lifelong.methods.lora_base import LoraMethod
from lifelong.models.lora import SHARED, activate, add_adapter


@register_method("seq_lora")
class SeqLora(LoraMethod):
    """SeqLoRA: one LoRA trained on every task in turn (O-LoRA's baseline; forgets)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        add_adapter(self.body, SHARED, self.learner.lora)  # already there when model.lora is set
        activate(self.body, [SHARED])
