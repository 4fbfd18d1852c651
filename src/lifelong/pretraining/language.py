"""Language adaptation: a new tokenizer and fresh token embeddings for a target language, learned by
masked LM against the frozen pretrained body (stage 1 of the zero-shot recipe).

Optionally the adapted embeddings are assembled with a task-adapted body every ``eval_every``
steps and scored on the target language's test set: accuracy against adaptation steps is the
curve active forgetting is meant to steepen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import torch
from tqdm.auto import tqdm

from lifelong.errors import ConfigError
from lifelong.optim import OptimConfig, ParamGroup, build_optimizer
from lifelong.pretraining.classify import evaluate_classifier, read_labelled
from lifelong.pretraining.corpus import (
    BlockBatches,
    make_collator,
    mask_batch,
    pack_blocks,
    read_lines,
    train_tokenizer,
)
from lifelong.pretraining.forgetting import token_embedding_parameters
from lifelong.pretraining.loop import autocast, update
from lifelong.pretraining.models import (
    SparseMaskedLM,
    body_fingerprint,
    check_same_body,
    install_embeddings,
    load_classifier,
    load_mlm,
    max_length,
    read_meta,
    replace_vocabulary,
    save_stage,
)
from lifelong.schema import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE

DEFAULT_BUDGET_STEPS = 500  # when neither budget is given


@dataclass
class LanguageAdaptConfig(OptimConfig):
    """Relearn only the vocabulary for a new language on top of a frozen pretrained body.

    The LM-head bias is vocabulary-specific (one logit offset per token), so it is re-created at
    zero with the new vocabulary and, by default, trained with the embeddings (``train_lm_bias``);
    it is not part of the assembled classifier either way. The LM head's dense layer and
    LayerNorm belong to the body and stay frozen.

    The defaults (lr 2e-3, 10 % warm-up) are what every measured table of docs/results.md §7 used at
    budgets of 200-300 updates; at the paper's 5M-token budget (1,221 updates of 32 x 128) lr 5e-3 with
    5 % warm-up was chosen on the English control's dev curve (§7a).
    """

    lr: Annotated[float, POSITIVE] = 2e-3
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.0
    warmup_ratio: Annotated[float, FRACTION] = 0.1
    model: str = ""
    corpus: str = ""
    out: str = ""
    budget_steps: Annotated[int, AT_LEAST_1] | None = None  # default DEFAULT_BUDGET_STEPS
    budget_tokens: Annotated[int, AT_LEAST_1] | None = (
        None  # converted to steps: ceil(tokens / (batch_size * seq_len))
    )
    vocab_size: Annotated[int, AT_LEAST_1] = 8192
    tokenizer_lines: Annotated[int, AT_LEAST_1] | None = None
    max_lines: Annotated[int, AT_LEAST_1] | None = None
    seq_len: Annotated[int, AT_LEAST_1] | None = None  # default: the model's maximum
    batch_size: Annotated[int, AT_LEAST_1] = 32
    mlm_probability: Annotated[float, FRACTION] = 0.15
    train_lm_bias: bool = True
    seed: int = 0
    log_every: Annotated[int, AT_LEAST_1] = 10
    # optional zero-shot evaluation of the assembled model along the way (task accuracy vs steps)
    eval_body: str | None = None
    eval_test: str | None = None
    eval_every: Annotated[int, AT_LEAST_1] | None = None

    def steps(self, seq_len: int) -> int:
        """The adaptation budget in optimizer updates (at most one of the two budgets may be given)."""
        if self.budget_steps is not None and self.budget_tokens is not None:
            raise ConfigError("give one adaptation budget: budget_steps or budget_tokens, not both")
        if self.budget_tokens is not None:
            steps = math.ceil(self.budget_tokens / (self.batch_size * seq_len))
        else:
            steps = DEFAULT_BUDGET_STEPS if self.budget_steps is None else self.budget_steps
        if steps <= 0:
            raise ConfigError(f"the adaptation budget must be positive, got {steps} steps")
        return steps


@dataclass
class AdaptationCurve:
    """MLM loss and (optionally) assembled-model accuracy against adaptation steps."""

    name: str = ""
    steps: list[int] = field(default_factory=list)
    mlm_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)

    def record_eval(self, step: int, metrics: dict[str, float]) -> dict[str, float]:
        self.eval_steps.append(step)
        self.accuracy.append(metrics["accuracy"])
        self.macro_f1.append(metrics["macro_f1"])
        return metrics


@dataclass
class LanguageResult:
    out: Path
    steps: int
    curve: AdaptationCurve
    final: dict[str, float] | None = None


def _vocabulary_only(model: torch.nn.Module, train_lm_bias: bool) -> list[torch.nn.Parameter]:
    """Freeze everything but the vocabulary matrices (and the per-token LM-head bias); return those."""
    trainable = token_embedding_parameters(model)
    output = model.get_output_embeddings()
    if train_lm_bias and getattr(output, "bias", None) is not None:
        trainable.append(output.bias)
    keep = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return trainable


def _evaluator(
    cfg: LanguageAdaptConfig, model: torch.nn.Module, tokenizer, fingerprint: str
) -> Callable[[], dict[str, float]] | None:
    """Scores the current embeddings inside the task-adapted body on the target test set (or None)."""
    if cfg.eval_body is None or cfg.eval_test is None:
        return None
    classifier = load_classifier(cfg.eval_body)
    check_same_body(read_meta(cfg.eval_body), fingerprint, Path(cfg.eval_body), Path(cfg.model))
    test = read_labelled(cfg.eval_test)

    def evaluate() -> dict[str, float]:
        install_embeddings(classifier, model.get_input_embeddings().weight)
        return evaluate_classifier(classifier, tokenizer, test, bf16=cfg.bf16)

    return evaluate


def adapt_language(cfg: LanguageAdaptConfig) -> LanguageResult:
    """Train a target tokenizer and fresh embeddings against the frozen body; save a full MLM to ``out``."""
    if not cfg.out:
        raise ConfigError("language adaptation needs an output folder (out)")
    if (cfg.eval_body is None) != (cfg.eval_test is None):
        raise ConfigError("evaluation along the way needs both eval_body and eval_test")
    torch.manual_seed(cfg.seed)
    model = load_mlm(cfg.model)
    fingerprint = body_fingerprint(model)
    max_len = max_length(model)
    seq_len = min(cfg.seq_len or max_len, max_len)
    steps = cfg.steps(seq_len)
    lines = read_lines(cfg.corpus, cfg.max_lines)
    tokenizer = train_tokenizer(
        lines[: cfg.tokenizer_lines], cfg.vocab_size, max_len, pad_id=model.config.pad_token_id
    )
    replace_vocabulary(model, len(tokenizer), torch.Generator().manual_seed(cfg.seed))
    trainable = _vocabulary_only(model, cfg.train_lm_bias)

    blocks = pack_blocks(tokenizer, lines, seq_len, source=cfg.corpus)
    batches = BlockBatches(blocks, cfg.batch_size, cfg.seed)
    collator = make_collator(tokenizer, cfg.mlm_probability)
    optimizer, scheduler = build_optimizer([ParamGroup(trainable, name="vocabulary")], cfg, steps)
    evaluate = _evaluator(cfg, model, tokenizer, fingerprint)
    curve = AdaptationCurve(name=Path(cfg.out).name)
    final = curve.record_eval(0, evaluate()) if evaluate else None
    masked_lm = SparseMaskedLM(model)
    model.train()  # dropout as in pretraining; the frozen body still gets no updates
    running: torch.Tensor | float = 0.0  # a tensor sum: the loop syncs with the host only when it logs
    counted = 0
    for step in tqdm(range(steps), desc=f"adapt-language {curve.name}"):
        batch = mask_batch(collator, batches(step))
        with autocast(cfg.bf16):
            loss = masked_lm(batch["input_ids"], batch["labels"])
        update(loss, trainable, optimizer, scheduler, cfg)
        running = running + loss.detach().float()
        counted += 1
        done = step + 1
        if done % cfg.log_every == 0 or done == steps:
            curve.steps.append(done)
            curve.mlm_loss.append(float(running) / counted)
            running, counted = 0.0, 0
        if evaluate and ((cfg.eval_every and done % cfg.eval_every == 0) or done == steps):
            final = curve.record_eval(done, evaluate())

    meta = {
        "kind": "language",
        "pretrained_fingerprint": fingerprint,
        "steps": steps,
        "tokens": steps * cfg.batch_size * seq_len,
        "corpus_tokens": int(blocks.numel()),
        "final": final,
        "curve": dataclasses.asdict(curve),
        "config": dataclasses.asdict(cfg),
    }
    out = save_stage(cfg.out, model, tokenizer, meta)
    return LanguageResult(out, steps, curve, final)
