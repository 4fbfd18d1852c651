"""``ncl`` (CPT's name for it): sequential masked-LM post-training of the whole model, no protection.
The same hooks as ``finetune``; a separate name so CPT's tables read as in the paper."""

from __future__ import annotations

from lifelong.methods.base import register_method
from lifelong.methods.finetune import Finetune


@register_method("ncl")
class NCL(Finetune):
    """NCL: post-train the whole model on each domain corpus in turn (CPT's naive continual baseline).

    Every hook keeps its default."""
