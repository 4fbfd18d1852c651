"""Build the learner a run needs from its model config and stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, PreTrainedModel

from lifelong.data.task import Scenario, Task
from lifelong.errors import ConfigError
from lifelong.models.base import Learner
from lifelong.models.classifier import EncoderClassifier
from lifelong.models.end_task import EndTaskConfig
from lifelong.models.fast import speed_up_on_cpu
from lifelong.models.lora import SHARED, LoraSettings, activate, add_adapter
from lifelong.models.masked_lm import MaskedLMLearner
from lifelong.models.presets import LoadedModel, instantiate, load_model_spec, weights_digest
from lifelong.models.text2text import CausalTextToText
from lifelong.schema import AT_LEAST_1, Range

KINDS = ("classifier", "text2text", "mlm")


@dataclass
class ModelConfig:
    name: str = "tiny-bert"
    kind: str = "auto"  # auto | classifier | text2text | mlm
    max_length: Annotated[int, AT_LEAST_1] = 128
    pooling: str = "mean"  # classifier: mean | cls
    max_answer_length: Annotated[int, AT_LEAST_1] = (
        24  # text2text: fixed decoding budget, never derived from test answers
    )
    dropout: Annotated[float, Range(ge=0, lt=1)] | None = (
        None  # every dropout rate of the model; None keeps the model's own
    )
    fast_kernels: bool = True  # on a CPU: cheaper dropout masks and eager attention (models/fast.py)
    # low-rank adapters in the frozen body instead of training the whole model (PEFT); e.g. `lora: {r: 8}`
    lora: LoraSettings | None = None
    # text2text prompts: "qa" (context question ANS answer, LAMOL) or "instruction" (question / Input:
    # context / Answer: ANS answer, the LoRA-family papers' rows)
    prompt_style: Literal["qa", "instruction"] = "qa"


def learner_kind(cfg: ModelConfig, family: str, tasks: list[Task]) -> str:
    if cfg.kind != "auto":
        if cfg.kind not in KINDS:
            raise ConfigError(f"model.kind must be one of auto, {', '.join(KINDS)}; got {cfg.kind!r}")
        return cfg.kind
    if tasks and all(t.kind == "corpus" for t in tasks):
        return "mlm"
    return "text2text" if family == "causal" else "classifier"


def build_learner(
    cfg: ModelConfig,
    scenario: Scenario,
    tasks: list[Task],
    *,
    bf16: bool = True,
    eval_batch_size: int = 64,
    end_task: EndTaskConfig | None = None,
) -> Learner:
    """The learner for ``tasks``; ``end_task`` configures how a masked LM's corpus tasks are scored."""
    settings = {"bf16": bf16, "eval_batch_size": eval_batch_size}
    learner = _build_learner(cfg, scenario, tasks, settings, end_task or EndTaskConfig(bf16=bf16))
    if cfg.dropout is not None:
        set_dropout(learner, cfg.dropout)
    if cfg.lora is not None:
        learner.lora = cfg.lora
        add_adapter(learner.body, SHARED, cfg.lora)
        activate(learner.body, [SHARED])
    if cfg.fast_kernels:
        for model in learner.children():
            if isinstance(model, PreTrainedModel):
                speed_up_on_cpu(model)
    return learner


def set_dropout(module: nn.Module, p: float) -> int:
    """Every ``nn.Dropout`` below ``module`` to probability ``p`` (Hugging Face attention reads its
    rate from these modules too); returns how many were set."""
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {p}")
    found = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    for m in found:
        m.p = p
    return len(found)


def _build_learner(
    cfg: ModelConfig, scenario: Scenario, tasks: list[Task], settings: dict[str, Any], end_task: EndTaskConfig
) -> Learner:
    spec = load_model_spec(cfg.name)
    learner = _learner_for(spec, cfg, scenario, tasks, settings, end_task)
    learner.weights_digest = weights_digest(spec)
    return learner


def _learner_for(
    spec: LoadedModel,
    cfg: ModelConfig,
    scenario: Scenario,
    tasks: list[Task],
    settings: dict[str, Any],
    end_task: EndTaskConfig,
) -> Learner:
    kind = learner_kind(cfg, spec.family, tasks)
    if kind == "classifier":
        if spec.family != "encoder":
            raise ConfigError(
                f"model {cfg.name!r} is a causal LM; classification heads need an encoder (or use model.kind: text2text)"
            )
        return EncoderClassifier(
            instantiate(spec, AutoModel), spec.tokenizer, scenario, cfg.max_length, cfg.pooling, **settings
        )
    if kind == "text2text":
        if spec.family != "causal":
            raise ConfigError(f"model {cfg.name!r} is an encoder; text-to-text tasks need a causal LM")
        return CausalTextToText(
            instantiate(spec, AutoModelForCausalLM),
            spec.tokenizer,
            cfg.max_length,
            cfg.max_answer_length,
            scenario,
            cfg.prompt_style,
            **settings,
        )
    if spec.family != "encoder":
        raise ConfigError(f"model {cfg.name!r} is not a masked LM; corpus post-training needs an encoder")
    return MaskedLMLearner(
        instantiate(spec, AutoModelForMaskedLM), spec.tokenizer, cfg.max_length, end_task=end_task, **settings
    )
