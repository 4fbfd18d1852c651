"""IncLoRA (the baseline of O-LoRA, Wang et al., Findings of EMNLP 2023): a new LoRA per task in a frozen
body, the earlier ones frozen, all summed at inference (no task id)."""

from lifelong.methods.base import register_method
from lifelong.methods.lora_base import IncrementalLora


@register_method("inc_lora")
class IncLora(IncrementalLora):
    """IncLoRA: a new LoRA per task, earlier ones frozen, all summed at inference (O-LoRA's baseline)."""
