"""End-task fine-tuning (CPT's evaluation protocol): a copy of the post-trained encoder gets a fresh
classification head and is fine-tuned on the end task's (few-shot) training split, then scored on its test
split. :func:`end_task_scores` fine-tunes copies, so the post-trained model itself never changes.

Few-shot by default, as in CPT: 32 training examples when the task has at most 4 classes, otherwise 8 per
class, sampled with a seed that depends only on (seed, task), so every stage and every method fine-tunes on
the same examples from the same head initialisation.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from typing import Annotated, Any

import numpy as np
import torch

from lifelong.data.stream import subsample
from lifelong.data.task import Example, Task
from lifelong.evaluation.scoring import score_task
from lifelong.models.base import WarnOnce
from lifelong.models.classifier import EncoderClassifier
from lifelong.models.plugins import plugins
from lifelong.optim import OptimConfig, ParamGroup, build_optimizer, clip_gradients
from lifelong.schema import AT_LEAST_1, NON_NEGATIVE, POSITIVE


@dataclass
class EndTaskConfig(OptimConfig):
    """The end task's own fine-tuning; ``lr`` is the encoder's (and its plugins'), ``head_lr`` the head's."""

    enabled: bool = True  # False: score corpus tasks by masked-LM loss only
    full_data: bool = False  # fine-tune on the whole training split instead of a few-shot sample
    shots: Annotated[int, AT_LEAST_1] = (
        32  # few-shot training examples for tasks with at most ``small_classes`` classes
    )
    shots_per_class: Annotated[int, AT_LEAST_1] = 8  # ... and per class for tasks with more
    small_classes: Annotated[int, AT_LEAST_1] = 4
    epochs: Annotated[int, AT_LEAST_1] = 10
    batch_size: Annotated[int, AT_LEAST_1] = 8
    lr: Annotated[float, POSITIVE] = 3e-5  # the encoder (and its plugins)
    head_lr: Annotated[float, POSITIVE] = 3e-3  # the fresh head: few-shot runs have few steps
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.0
    freeze_backbone: bool = False  # train only the CL-plugins (if any) and the head
    pooling: str = "mean"
    max_eval: Annotated[int, AT_LEAST_1] | None = (
        None  # cap the end task's test split (stratified, seeded); None: all of it
    )
    seed: int = 0
    repeats: Annotated[int, AT_LEAST_1] = (
        1  # fine-tune this many times with seeds seed, seed+1, ...: the scores are their mean
    )


def few_shot_sample(task: Task, examples: list[Example], cfg: EndTaskConfig) -> list[Example]:
    """CPT's few-shot training set (or everything with ``full_data``)."""
    if cfg.full_data:
        return list(examples)
    labels = list(task.labels) or sorted({ex.label or "" for ex in examples})
    if len(labels) <= cfg.small_classes:
        return subsample(examples, cfg.shots, cfg.seed, salt=f"few-shot/{task.name}")
    rng = random.Random(f"{cfg.seed}:few-shot/{task.name}")
    chosen: list[int] = []
    for label in labels:
        idx = [i for i, ex in enumerate(examples) if ex.label == label]
        chosen += rng.sample(idx, min(cfg.shots_per_class, len(idx)))
    return [examples[i] for i in sorted(chosen)]


def end_task_scores(
    encoder: Any,
    tokenizer: Any,
    max_length: int,
    task: Task,
    cfg: EndTaskConfig,
    warn_once: WarnOnce | None = None,
) -> dict[str, float]:
    """The end task's scores, averaged over ``cfg.repeats`` fine-tunings of fresh copies of ``encoder``
    (which is never modified). Few-shot scores vary by several points with the sampled examples and the
    head's initialisation; repeating the cheap fine-tuning on one post-trained model separates that noise
    from the post-training's effect. With repeats, each one's scores are kept too, as ``<name>_seed<s>``."""
    runs = []
    for r in range(cfg.repeats):
        one = replace(cfg, seed=cfg.seed + r)
        runs.append(
            (one.seed, finetune_end_task(copy.deepcopy(encoder), tokenizer, max_length, task, one, warn_once))
        )
    if cfg.repeats == 1:
        return runs[0][1]
    scores = {name: float(np.mean([s[name] for _, s in runs])) for name in runs[0][1]}
    for seed, s in runs:
        scores.update({f"{name}_seed{seed}": value for name, value in s.items()})
    return scores


def finetune_end_task(
    encoder: Any,
    tokenizer: Any,
    max_length: int,
    task: Task,
    cfg: EndTaskConfig,
    warn_once: WarnOnce | None = None,
) -> dict[str, float]:
    """Fine-tune ``encoder`` (modified in place: pass a copy) on ``task``; its test scores."""
    device = next(encoder.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)  # same head and batch order at every stage: differences are the encoder's
        clf = EncoderClassifier(
            encoder, tokenizer, "task", max_length, cfg.pooling, bf16=cfg.bf16, warn_once=warn_once
        )
        clf.grow(task)
        if cfg.freeze_backbone:
            keep = {id(p) for plugin in plugins(encoder) for p in plugin.parameters()}
            for p in encoder.parameters():
                p.requires_grad_(id(p) in keep)
        else:
            for p in encoder.parameters():
                p.requires_grad_(True)
        groups = [ParamGroup(list(clf.heads.parameters()), lr=cfg.head_lr, name="head")]
        body = [p for p in encoder.parameters() if p.requires_grad]
        if body:
            groups.append(ParamGroup(body, name="encoder"))
        rows = clf.encode(task, few_shot_sample(task, task.split("train"), cfg))
        order = torch.Generator().manual_seed(cfg.seed)
        loader = torch.utils.data.DataLoader(
            rows, batch_size=cfg.batch_size, shuffle=True, collate_fn=clf.collate, generator=order
        )
        optimizer, scheduler = build_optimizer(groups, cfg, len(loader) * cfg.epochs)
        trained = [p for g in groups for p in g.params]
        clf.train()
        for _ in range(cfg.epochs):
            for batch in loader:
                batch = clf.to_device(batch)
                with clf.autocast():
                    loss = clf(batch).loss
                loss.backward()
                clip_gradients(trained, cfg)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        test = task.split(task.eval_split())
        test = subsample(test, cfg.max_eval, cfg.seed, salt=f"{task.name}/test")
        predictions = clf.predict(task, test)
    return score_task(task, test, predictions)
