"""Task adaptation: body + classification head fine-tuned on (English) task data with the token
embeddings frozen, so any language's embeddings can replace them later (stage 2 of the recipe)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
from tqdm.auto import tqdm

from lifelong.errors import ConfigError, DataError
from lifelong.optim import OptimConfig, build_optimizer
from lifelong.pretraining.classify import encode, evaluate_classifier, read_labelled
from lifelong.pretraining.loop import autocast, update
from lifelong.pretraining.models import (
    load_classifier,
    load_tokenizer,
    max_length,
    pretrained_body_fingerprint,
    save_stage,
)
from lifelong.schema import AT_LEAST_1, POSITIVE, check


@dataclass
class TaskAdaptConfig(OptimConfig):
    """Fine-tune body + head; the token embeddings stay as pretrained."""

    lr: Annotated[float, POSITIVE] = 1e-4
    model: str = ""
    train: str = ""  # labelled file (row range allowed, ``file.jsonl[a:b]``)
    out: str = ""
    dev: str | None = None
    epochs: Annotated[int, AT_LEAST_1] = 20  # SIB-200 English has 701 rows: 440 updates at batch 32
    batch_size: Annotated[int, AT_LEAST_1] = 32
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
    check(cfg)
    rows = read_labelled(cfg.train)
    dev_rows = read_labelled(cfg.dev) if cfg.dev else None
    labels = sorted({ex.label for ex in rows})
    if len(labels) < 2:
        raise DataError(f"{cfg.train}: needs at least two labels, found {labels}")
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    model = load_classifier(cfg.model, labels)
    # of the pretrained masked LM, not of the classifier: a classifier may add body parts the checkpoint
    # lacks (BERT's pooler), freshly initialised, which would make every fingerprint differ
    fingerprint = pretrained_body_fingerprint(cfg.model)
    model.get_input_embeddings().weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    total = math.ceil(len(rows) / cfg.batch_size) * cfg.epochs
    optimizer, scheduler = build_optimizer(trainable, cfg, total)
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
            enc = encode(tokenizer, chunk, max_length(model))
            target = torch.tensor([label2id[ex.label] for ex in chunk])
            with autocast(cfg.bf16):
                loss = model(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=target
                ).loss
            update(loss, trainable, optimizer, scheduler, cfg)
            step += 1
            losses.append((step, loss.item()))
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    dev = evaluate_classifier(model, tokenizer, dev_rows, bf16=cfg.bf16) if dev_rows else None
    meta = {
        "kind": "task",
        "pretrained_fingerprint": fingerprint,
        "labels": labels,
        "steps": step,
        "losses": losses,
        "dev": dev,
        "config": dataclasses.asdict(cfg),
    }
    out = save_stage(cfg.out, model, tokenizer, meta)
    return TaskResult(out, step, losses, dev)
