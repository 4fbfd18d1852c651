"""Sequential fine-tuning with no protection against forgetting (NCL): the lower bound."""

from lifelong.methods.base import Method, register_method


@register_method("finetune")
class Finetune(Method):
    """Sequential fine-tuning: train on each task's data in turn, nothing else (the lower bound).

    Every hook keeps its default: train on each task's data in turn."""
