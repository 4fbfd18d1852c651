"""The zero-shot cross-lingual recipe that active forgetting is meant to make cheap (Chen et al., 2023).

1. language adaptation: new tokenizer + fresh embeddings for the target language, learned by
   masked LM with the pretrained body frozen;
2. task adaptation: body + classification head fine-tuned on English task data, English embeddings
   frozen;
3. assembly: target tokenizer + target embeddings + task-adapted body + head, evaluated zero-shot
   on the target language's test set.

Stages 1 and 2 both start from the same pretrained model and never see each other's data; the
body fingerprint stored with each adapted model lets assembly refuse parts of different bodies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from lifelong.errors import ConfigError, DataError
from lifelong.pretraining.forgetting import WarmupDecay, init_token_embeddings, token_embedding_parameters
from lifelong.pretraining.mlm import (
    BlockBatches,
    PretrainConfig,
    SparseMaskedLM,
    body_fingerprint,
    make_collator,
    mask_batch,
    pack_blocks,
    pretrain,
    read_lines,
    train_tokenizer,
    write_json,
)

META_FILE = "adaptation.json"


# ---------------------------------------------------------------- loading


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading an MLM checkpoint into a classifier (and back) rightly drops/creates heads; don't warn."""
    from transformers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _model_dir(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise DataError(f"{what} folder {path} does not exist or holds no model (no config.json)")
    return path


def load_mlm(path: str | os.PathLike[str]) -> nn.Module:
    from transformers import AutoModelForMaskedLM

    with _quiet_transformers():
        return AutoModelForMaskedLM.from_pretrained(_model_dir(path, "model"))


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_model_dir(path, "model"))


def load_classifier(path: str | os.PathLike[str], labels: list[str] | None = None) -> nn.Module:
    """A sequence classifier; with ``labels``, a fresh head on a pretrained (MLM) body."""
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {}
    if labels is not None:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    with _quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(_model_dir(path, "model"), **kwargs)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    file = Path(path) / META_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


class LabelledRow(NamedTuple):
    """One classification example: a text, an optional second text (NLI hypothesis), a label."""

    text: str
    pair: str | None
    label: str


_ROW_RANGE = re.compile(r"^(?P<file>.+)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def split_row_range(path: str | os.PathLike[str]) -> tuple[Path, slice]:
    """``file.jsonl[a:b]`` -> (``file.jsonl``, rows a..b-1, Python slice rules); a plain path -> all rows.

    Lets one file serve as both splits, e.g. XNLI's English dev: ``dev.jsonl[:1245]`` to train,
    ``dev.jsonl[1245:]`` to test.
    """
    text = os.fspath(path)
    match = _ROW_RANGE.match(text)
    if match is None or Path(text).is_file():
        return Path(text), slice(None)
    bound = {k: int(match[k]) if match[k] else None for k in ("start", "stop")}
    return Path(match["file"]), slice(bound["start"], bound["stop"])


def read_labelled(path: str | os.PathLike[str]) -> list[LabelledRow]:
    """Rows of a classification JSONL file: ``text``, ``label`` and, for pair tasks, ``text_pair``.

    ``path`` may end in a row range, ``file.jsonl[a:b]`` (see ``split_row_range``).
    """
    file, rows_wanted = split_row_range(path)
    if not file.is_file():
        raise DataError(f"data file not found: {file}")
    rows = []
    with open(file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{file}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or "label" not in obj:
                raise DataError(f"{file}:{n}: expected an object with a string 'text' and a 'label'")
            pair = obj.get("text_pair")
            if pair is not None and not isinstance(pair, str):
                raise DataError(f"{file}:{n}: 'text_pair' must be a string")
            if rows and (pair is None) != (rows[0].pair is None):
                raise DataError(f"{file}:{n}: some rows have a 'text_pair' and some do not")
            rows.append(LabelledRow(obj["text"], pair, str(obj["label"])))
    rows = rows[rows_wanted]
    if not rows:
        raise DataError(f"{path} has no rows")
    return rows


def _encode(tokenizer: Any, rows: list[LabelledRow], max_length: int) -> Any:
    """Tokenize single texts or (text, text_pair) pairs, padded to the longest in the batch."""
    pairs = [r.pair for r in rows] if rows[0].pair is not None else None
    return tokenizer(
        [r.text for r in rows],
        pairs,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )


def _max_length(model: nn.Module) -> int:
    return model.config.max_position_embeddings - model.config.pad_token_id - 1


def _autocast(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def _update(
    loss: torch.Tensor, params: list[nn.Parameter], optimizer: Any, scheduler: Any, grad_clip: float
) -> None:
    """One optimizer update of ``params`` (both adaptation stages train a subset of the model)."""
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------- vocabulary surgery


def replace_vocabulary(model: nn.Module, vocab_size: int, generator: torch.Generator | None = None) -> None:
    """Fresh N(0, 0.02) embeddings of a new size (pad row 0), tied LM head re-tied, LM-head bias zeroed."""
    model.resize_token_embeddings(vocab_size, mean_resizing=False)
    init_token_embeddings(model, generator)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and getattr(output, "bias", None) is not None:
        with torch.no_grad():
            output.bias.zero_()


def install_embeddings(classifier: nn.Module, weight: torch.Tensor) -> None:
    """Swap a (frozen copy of a) vocabulary matrix into a classifier: the assembly step."""
    old = classifier.get_input_embeddings()
    if weight.shape[1] != old.embedding_dim:
        raise ConfigError(
            f"embeddings of width {weight.shape[1]} do not fit a body of hidden size {old.embedding_dim}"
        )
    new = nn.Embedding(weight.shape[0], weight.shape[1], padding_idx=old.padding_idx)
    with torch.no_grad():
        new.weight.copy_(weight.detach())
    new.weight.requires_grad_(False)
    classifier.set_input_embeddings(new)
    classifier.config.vocab_size = weight.shape[0]


def _check_same_body(body_meta: dict[str, Any], fingerprint: str, body_dir: Path, other: Path) -> None:
    """Target embeddings only fit the body they were learned against: refuse to mix pretrained models."""
    expected = body_meta.get("pretrained_fingerprint")
    if expected and expected != fingerprint:
        raise ConfigError(
            f"{other} and the task-adapted model {body_dir} come from different pretrained bodies "
            f"(fingerprints {fingerprint} vs {expected}); adapt both from the same pretrained model"
        )


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module, tokenizer: Any, rows: list[LabelledRow], batch_size: int = 64, bf16: bool = True
) -> dict[str, float]:
    """Accuracy and macro-F1 (scikit-learn) of a classifier on labelled rows."""
    from sklearn.metrics import accuracy_score, f1_score

    label2id = model.config.label2id
    unknown = sorted({r.label for r in rows} - set(label2id))
    if unknown:
        raise DataError(f"test labels {unknown} are not among the model's labels {sorted(label2id)}")
    was_training = model.training
    model.eval()
    preds: list[int] = []
    for i in range(0, len(rows), batch_size):
        enc = _encode(tokenizer, rows[i : i + batch_size], _max_length(model))
        with _autocast(bf16):
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        preds.extend(logits.argmax(-1).tolist())
    model.train(was_training)
    gold = [label2id[r.label] for r in rows]
    return {
        "accuracy": float(accuracy_score(gold, preds)),
        "macro_f1": float(f1_score(gold, preds, average="macro", zero_division=0)),
        "n": len(rows),
    }


def assemble(body_dir: str | os.PathLike[str], language_dir: str | os.PathLike[str]) -> tuple[nn.Module, Any]:
    """Target tokenizer + target embeddings + task-adapted body and head, ready to classify."""
    body_dir, language_dir = Path(body_dir), Path(language_dir)
    classifier = load_classifier(body_dir)
    language = load_mlm(language_dir)
    _check_same_body(read_meta(body_dir), body_fingerprint(language), body_dir, language_dir)
    install_embeddings(classifier, language.get_input_embeddings().weight)
    return classifier, load_tokenizer(language_dir)


def assemble_and_evaluate(
    body_dir: str | os.PathLike[str],
    language_dir: str | os.PathLike[str],
    test: str | os.PathLike[str],
    bf16: bool = True,
) -> dict[str, float]:
    classifier, tokenizer = assemble(body_dir, language_dir)
    return evaluate_classifier(classifier, tokenizer, read_labelled(test), bf16=bf16)


# ---------------------------------------------------------------- language adaptation


@dataclass
class LanguageAdaptConfig:
    """Relearn only the vocabulary for a new language on top of a frozen pretrained body.

    The LM-head bias is vocabulary-specific (one logit offset per token), so it is re-created at
    zero with the new vocabulary and, by default, trained with the embeddings (``train_lm_bias``);
    it is not part of the assembled classifier either way. The LM head's dense layer and
    LayerNorm belong to the body and stay frozen.
    """

    model: str = ""
    corpus: str = ""
    out: str = ""
    budget_steps: int | None = None
    budget_tokens: int | None = None  # converted to steps: ceil(tokens / (batch_size * seq_len))
    vocab_size: int = 8192
    tokenizer_lines: int | None = None
    max_lines: int | None = None
    seq_len: int | None = None  # default: the model's maximum
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    train_lm_bias: bool = True
    bf16: bool = True
    seed: int = 0
    log_every: int = 10
    # optional zero-shot evaluation of the assembled model along the way (task accuracy vs steps)
    eval_body: str | None = None
    eval_test: str | None = None
    eval_every: int | None = None

    def steps(self, seq_len: int) -> int:
        if (self.budget_steps is None) == (self.budget_tokens is None):
            raise ConfigError("give exactly one adaptation budget: budget_steps or budget_tokens")
        if self.budget_steps is not None:
            steps = self.budget_steps
        else:
            steps = math.ceil(self.budget_tokens / (self.batch_size * seq_len))
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


@dataclass
class LanguageResult:
    out: Path
    steps: int
    curve: AdaptationCurve
    final: dict[str, float] | None = None


def adapt_language(cfg: LanguageAdaptConfig) -> LanguageResult:
    """Train a target tokenizer and fresh embeddings against the frozen body; save a full MLM to ``out``."""
    if not cfg.out:
        raise ConfigError("language adaptation needs an output folder (out)")
    if (cfg.eval_body is None) != (cfg.eval_test is None):
        raise ConfigError("evaluation along the way needs both eval_body and eval_test")
    torch.manual_seed(cfg.seed)
    model = load_mlm(cfg.model)
    fingerprint = body_fingerprint(model)
    max_len = _max_length(model)
    seq_len = min(cfg.seq_len or max_len, max_len)
    steps = cfg.steps(seq_len)
    lines = read_lines(cfg.corpus, cfg.max_lines)
    tokenizer = train_tokenizer(lines[: cfg.tokenizer_lines], cfg.vocab_size, max_len)
    if tokenizer.pad_token_id != model.config.pad_token_id:
        raise ConfigError(
            f"tokenizer pad id {tokenizer.pad_token_id} != model pad id {model.config.pad_token_id}"
        )
    replace_vocabulary(model, len(tokenizer), torch.Generator().manual_seed(cfg.seed))

    trainable = token_embedding_parameters(model)
    output = model.get_output_embeddings()
    if cfg.train_lm_bias and getattr(output, "bias", None) is not None:
        trainable.append(output.bias)
    keep = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)

    blocks = pack_blocks(tokenizer, lines, seq_len, source=cfg.corpus)
    batches = BlockBatches(blocks, cfg.batch_size, cfg.seed)
    collator = make_collator(tokenizer, cfg.mlm_probability)
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupDecay(min(cfg.warmup_steps, steps), steps, cfg.min_lr_ratio)
    )
    evaluator = None
    if cfg.eval_body is not None:
        classifier = load_classifier(cfg.eval_body)
        _check_same_body(read_meta(cfg.eval_body), fingerprint, Path(cfg.eval_body), Path(cfg.model))
        test_rows = read_labelled(cfg.eval_test)

        def evaluator() -> dict[str, float]:
            install_embeddings(classifier, model.get_input_embeddings().weight)
            return evaluate_classifier(classifier, tokenizer, test_rows, bf16=cfg.bf16)

    curve = AdaptationCurve(name=Path(cfg.out).name)

    def record_eval(step: int) -> dict[str, float]:
        metrics = evaluator()
        curve.eval_steps.append(step)
        curve.accuracy.append(metrics["accuracy"])
        curve.macro_f1.append(metrics["macro_f1"])
        return metrics

    final = record_eval(0) if evaluator else None
    masked_lm = SparseMaskedLM(model)
    model.train()  # dropout as in pretraining; the frozen body still gets no updates
    running, counted = 0.0, 0
    for step in tqdm(range(steps), desc=f"adapt-language {curve.name}"):
        batch = mask_batch(collator, batches(step))
        with _autocast(cfg.bf16):
            loss = masked_lm(batch["input_ids"], batch["labels"])
        _update(loss, trainable, optimizer, scheduler, cfg.grad_clip)
        running += loss.item()
        counted += 1
        done = step + 1
        if done % cfg.log_every == 0 or done == steps:
            curve.steps.append(done)
            curve.mlm_loss.append(running / counted)
            running, counted = 0.0, 0
        if evaluator and ((cfg.eval_every and done % cfg.eval_every == 0) or done == steps):
            final = record_eval(done)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in model.parameters():
        p.requires_grad_(True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
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
    write_json(out / META_FILE, meta)
    return LanguageResult(out, steps, curve, final)


# ---------------------------------------------------------------- task adaptation


@dataclass
class TaskAdaptConfig:
    """Fine-tune body + head on (English) task data; the token embeddings stay as pretrained."""

    model: str = ""
    train: str = ""
    out: str = ""
    dev: str | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    bf16: bool = True
    seed: int = 0


@dataclass
class TaskResult:
    out: Path
    steps: int
    losses: list[tuple[int, float]]
    dev: dict[str, float] | None = None


def adapt_task(cfg: TaskAdaptConfig) -> TaskResult:
    """Train the classifier with frozen English embeddings, so any language's embeddings can replace them."""
    if not cfg.out:
        raise ConfigError("task adaptation needs an output folder (out)")
    if cfg.epochs <= 0 or cfg.batch_size <= 0:
        raise ConfigError("epochs and batch_size must be positive")
    rows = read_labelled(cfg.train)
    dev_rows = read_labelled(cfg.dev) if cfg.dev else None
    labels = sorted({r.label for r in rows})
    if len(labels) < 2:
        raise DataError(f"{cfg.train}: needs at least two labels, found {labels}")
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    model = load_classifier(cfg.model, labels)
    fingerprint = body_fingerprint(model)
    model.get_input_embeddings().weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupDecay(max(1, int(cfg.warmup_ratio * total)), total)
    )
    label2id = model.config.label2id
    g = torch.Generator().manual_seed(cfg.seed)
    losses: list[tuple[int, float]] = []
    model.train()
    bar = tqdm(total=total, desc="adapt-task")
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(rows), generator=g).tolist()
        for i in range(0, len(order), cfg.batch_size):
            chunk = [rows[j] for j in order[i : i + cfg.batch_size]]
            enc = _encode(tokenizer, chunk, _max_length(model))
            target = torch.tensor([label2id[r.label] for r in chunk])
            with _autocast(cfg.bf16):
                loss = model(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=target
                ).loss
            _update(loss, trainable, optimizer, scheduler, cfg.grad_clip)
            step += 1
            losses.append((step, loss.item()))
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    dev = evaluate_classifier(model, tokenizer, dev_rows, bf16=cfg.bf16) if dev_rows else None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model.get_input_embeddings().weight.requires_grad_(True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {
        "kind": "task",
        "pretrained_fingerprint": fingerprint,
        "labels": labels,
        "steps": step,
        "losses": losses,
        "dev": dev,
        "config": dataclasses.asdict(cfg),
    }
    write_json(out / META_FILE, meta)
    return TaskResult(out, step, losses, dev)


# ---------------------------------------------------------------- reporting


def plot_curves(curves: dict[str, AdaptationCurve | dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Left: masked-LM loss vs adaptation steps; right: zero-shot accuracy vs steps (if recorded).

    Curves are named ``variant/language``: colour = language, line style = variant, so standard
    and forgetting runs of one language sit side by side.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    names = {label: (label.split("/", 1) + [""])[:2] for label in curves}
    variants = sorted({v for v, _ in names.values()})
    languages = sorted({lang for _, lang in names.values()})
    for label, curve in sorted(curves.items()):
        c = curve if isinstance(curve, AdaptationCurve) else AdaptationCurve(**curve)
        variant, lang = names[label]
        style = {
            "linestyle": ["-", "--", ":", "-."][variants.index(variant) % 4],
            "color": f"C{languages.index(lang) % 10}",
            "label": label,
        }
        loss_ax.plot(c.steps, c.mlm_loss, linewidth=1.2, **style)
        if c.eval_steps:
            acc_ax.plot(c.eval_steps, [100 * a for a in c.accuracy], marker="o", markersize=3, **style)
    loss_ax.set(xlabel="language-adaptation steps", ylabel="masked-LM loss", title="Convergence")
    acc_ax.set(xlabel="language-adaptation steps", ylabel="zero-shot accuracy (%)", title="Assembled model")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7, ncol=max(1, len(variants)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    os.replace(tmp, path)
    return path


def results_table(results: dict[str, dict[str, dict[str, float]]], metric: str = "accuracy") -> str:
    """Markdown: one row per language, one column per variant (e.g. standard vs forgetting), plus the mean."""
    variants = list(results)
    languages = list(dict.fromkeys(lang for v in variants for lang in results[v]))
    lines = [f"| language | {' | '.join(variants)} |", "|---" * (len(variants) + 1) + "|"]
    for lang in languages:
        cells = [results[v].get(lang, {}).get(metric) for v in variants]
        lines.append(
            f"| {lang} | " + " | ".join("—" if c is None else f"{100 * c:.1f}" for c in cells) + " |"
        )
    targets = [lang for lang in languages if lang != "en"]
    means = []
    for v in variants:
        vals = [results[v][lang][metric] for lang in targets if lang in results[v]]
        means.append(f"{100 * sum(vals) / len(vals):.1f}" if vals else "—")
    lines.append("| **mean (targets)** | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- all stages


LANGUAGES = ("de", "es", "fr", "ru", "zh", "ar", "hi", "sw")


def default_data_root() -> str:
    return os.environ.get("LIFELONG_DATA", "/work/shared/data")


@dataclass(frozen=True)
class ZeroShotTask:
    """Where a cross-lingual task's files sit: ``multilingual/<folder>/<lang>/<file>`` (row ranges allowed)."""

    folder: str
    train: str  # English rows that task adaptation trains on
    test: str  # every language's test rows (English included)
    dev: str | None = None  # English rows scored after task adaptation, if present


ZERO_SHOT_TASKS = {
    "sib200": ZeroShotTask("sib200", "train.jsonl", "test.jsonl", "dev.jsonl"),
    # The shared data has XNLI dev splits only; they are row-by-row translations of one another, so
    # English rows 0..1244 train and every language is tested on rows 1245.. (415 per label in each).
    "xnli": ZeroShotTask("xnli", "dev.jsonl[:1245]", "dev.jsonl[1245:]"),
}


@dataclass
class PipelineConfig:
    """Pretrain (unless ``model`` is given) -> task adaptation -> per language: adaptation + zero-shot test.

    Data paths follow the shared layout under ``data``: ``corpora/english.txt``,
    ``multilingual/<task>/<lang>/*.jsonl`` and ``multilingual/corpora/<lang>.txt``. ``task`` (default
    SIB-200) is also scored along each language adaptation; every ``extra_tasks`` entry (e.g.
    ``xnli``) gets its own task adaptation and is scored with the final target embeddings. Stages
    whose output already exists with the same config are skipped, so a run can be restarted.
    """

    out: str = ""
    data: str = field(default_factory=default_data_root)
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    model: str | None = None
    name: str = ""  # variant name in tables and plots; default: the output folder's name
    eval_points: int = 4  # zero-shot evaluations along each language adaptation (plus step 0)
    task_name: str = "sib200"
    extra_tasks: list[str] = field(default_factory=list)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # corpus/out default from data/out
    task: TaskAdaptConfig = field(default_factory=TaskAdaptConfig)
    language: LanguageAdaptConfig = field(default_factory=lambda: LanguageAdaptConfig(budget_steps=500))


def _done(out: Path, cfg: Any, fingerprint: str) -> bool:
    """An adapted model already in ``out``, made with this very config from this very pretrained body."""
    meta = read_meta(out)
    return meta.get("config") == dataclasses.asdict(cfg) and meta.get("pretrained_fingerprint") == fingerprint


def _zero_shot_task(name: str) -> ZeroShotTask:
    if name not in ZERO_SHOT_TASKS:
        raise ConfigError(f"unknown zero-shot task {name!r}; known: {', '.join(ZERO_SHOT_TASKS)}")
    return ZERO_SHOT_TASKS[name]


def _adapt_english(
    cfg: PipelineConfig, task: ZeroShotTask, out: Path, model_dir: Path, fingerprint: str
) -> tuple[TaskAdaptConfig, dict[str, float]]:
    """Task adaptation on the English rows (skipped if already done); returns its config and English test score."""
    english = Path(cfg.data) / "multilingual" / task.folder / "en"
    task_cfg = dataclasses.replace(
        cfg.task, model=str(model_dir), train=cfg.task.train or str(english / task.train), out=str(out)
    )
    if task_cfg.dev is None and task.dev and split_row_range(english / task.dev)[0].is_file():
        task_cfg.dev = str(english / task.dev)
    if not _done(out, task_cfg, fingerprint):
        adapt_task(task_cfg)
    score = evaluate_classifier(
        load_classifier(out), load_tokenizer(out), read_labelled(english / task.test), bf16=task_cfg.bf16
    )
    return task_cfg, score


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """All stages for one pretrained model; writes results.json, results.md and curves.png into ``out``."""
    if not cfg.out:
        raise ConfigError("the pipeline needs an output folder (out)")
    out, data = Path(cfg.out), Path(cfg.data)
    name = cfg.name or out.name
    multi = data / "multilingual"
    main_task = _zero_shot_task(cfg.task_name)
    extra = {task: _zero_shot_task(task) for task in cfg.extra_tasks if task != cfg.task_name}
    for lang in cfg.languages:
        if not (multi / "corpora" / f"{lang}.txt").is_file():
            raise DataError(f"no corpus for language {lang!r}: {multi / 'corpora' / f'{lang}.txt'} not found")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    if cfg.model:
        model_dir = _model_dir(cfg.model, "pretrained model")
    else:
        pre = dataclasses.replace(
            cfg.pretrain,
            corpus=cfg.pretrain.corpus or str(data / "corpora" / "english.txt"),
            out=cfg.pretrain.out or str(out / "pretrained"),
            resume=True,
        )
        pretrain(pre)
        model_dir = Path(pre.out)
    pretrained = load_mlm(model_dir)
    fingerprint = body_fingerprint(pretrained)
    max_seq = _max_length(pretrained)
    del pretrained
    seconds["pretraining"], clock = time.perf_counter() - clock, time.perf_counter()

    task_cfg, english = _adapt_english(cfg, main_task, out / "task", model_dir, fingerprint)
    seconds["task adaptation"], clock = time.perf_counter() - clock, time.perf_counter()
    scores: dict[str, dict[str, float]] = {"en": english}
    curves: dict[str, dict[str, Any]] = {}
    for lang in cfg.languages:
        lang_cfg = dataclasses.replace(
            cfg.language,
            model=str(model_dir),
            corpus=str(multi / "corpora" / f"{lang}.txt"),
            out=str(out / "languages" / lang),
            eval_body=task_cfg.out,
            eval_test=str(multi / main_task.folder / lang / main_task.test),
        )
        if lang_cfg.eval_every is None and cfg.eval_points > 0:
            seq = min(cfg.language.seq_len or max_seq, max_seq)
            lang_cfg.eval_every = max(1, lang_cfg.steps(seq) // cfg.eval_points)
        if not _done(Path(lang_cfg.out), lang_cfg, fingerprint):
            adapt_language(lang_cfg)
        meta = read_meta(lang_cfg.out)
        scores[lang] = dict(meta["final"], mlm_loss=meta["curve"]["mlm_loss"][-1], steps=meta["steps"])
        curves[f"{name}/{lang}"] = meta["curve"]
        seconds[f"language adaptation {lang}"], clock = time.perf_counter() - clock, time.perf_counter()

    extra_scores: dict[str, dict[str, dict[str, float]]] = {}
    for task_name, task in extra.items():
        body = out / f"task-{task_name}"
        own_files = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, train="", dev=None))
        extra_scores[task_name] = {"en": _adapt_english(own_files, task, body, model_dir, fingerprint)[1]}
        for lang in cfg.languages:
            extra_scores[task_name][lang] = assemble_and_evaluate(
                body, out / "languages" / lang, multi / task.folder / lang / task.test, bf16=task_cfg.bf16
            )
        seconds[f"{task_name} (task adaptation + tests)"], clock = (
            time.perf_counter() - clock,
            time.perf_counter(),
        )

    results = {
        "name": name,
        "model": str(model_dir),
        "task": cfg.task_name,
        "scores": scores,
        "extra_tasks": extra_scores,
        "curves": curves,
        "seconds": seconds,
    }
    write_json(out / "results.json", results)
    sections = [f"# {name}: zero-shot {cfg.task_name} accuracy (%)\n"]
    sections += [results_table({name: scores}), "**macro-F1**\n", results_table({name: scores}, "macro_f1")]
    for task_name, task_scores in extra_scores.items():
        sections += [f"## {task_name} accuracy (%)\n", results_table({name: task_scores})]
    (out / "results.md").write_text("\n".join(sections), encoding="utf-8")
    plot_curves(curves, out / "curves.png")
    return results
