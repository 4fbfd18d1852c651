"""CPT (Ke, Shao, Lin, Konishi, Kim and Liu, EMNLP 2022): continual post-training of a masked LM on a
sequence of unlabeled domain corpora. CL-plugins with HAT task masks sit in every layer of the frozen
backbone; only the plugins and the mask embeddings train, the task id is the domain id, and earlier
domains' masks protect their units exactly (see ``lifelong.models.plugins.hat``). Each domain is scored
by fine-tuning a copy of the post-trained encoder, under that domain's mask, on its end task
(``lifelong.models.end_task``).

Deviations from the paper: MiniLM-L6 (``minilm-l6-mlm``: its masked-LM head warmed on English by
``lifelong warm-head``) instead of RoBERTa-base; plugins sequential with bottleneck 128 by default — the
paper's parallel adapters are ``method_args: {layout: parallel, bottleneck_attention: 512,
bottleneck_ffn: 768}``; HAT as in ``lifelong.methods.hat`` (binary masks once a domain is learned, the
task embeddings' own AdamW learning rate ``mask_lr``, no gradient clipping on them) instead of the
paper's SGD-era HAT; post-training budgets sized for a CPU (one pass over each DSC domain's unlabeled
text); end tasks fine-tuned for 10 epochs (the official scripts: 20), repeated with several seeds on one
post-trained model (``end_task.repeats``) rather than post-training once per seed."""

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
