"""The continual training loop for one task: a plain Accelerate loop with the method's hooks."""

from __future__ import annotations

import logging
import math
import sys
import time

import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lifelong.context import RunContext
from lifelong.data.task import Task
from lifelong.errors import DataError
from lifelong.methods.base import Method, StepInfo
from lifelong.models.base import Row
from lifelong.optim import build_optimizer, groups_by_lr
from lifelong.training.batches import LengthGroupedBatches, row_length

log = logging.getLogger("lifelong")


def task_seed(seed: int, task_index: int) -> int:
    """Every random source is re-seeded per task, so a resumed run replays the same randomness."""
    return seed + 1009 * (task_index + 1)


def train_task(
    method: Method, task: Task, task_index: int, rows: list[Row], ctx: RunContext
) -> dict[str, float]:
    """Train on ``rows`` (the task's rows plus whatever the method added). Returns simple stats."""
    cfg, acc = ctx.training, ctx.accelerator
    learner = method.learner
    if not method.trains:  # e.g. ``none``: the untouched pretrained model at every stage
        return {"loss": float("nan"), "updates": 0, "tokens": 0, "seconds": 0.0}
    if not rows:
        raise DataError(f"task {task.name!r}: nothing to train on (empty train split)")
    if cfg.batch_size % acc.num_processes:
        raise DataError(
            f"training.batch_size={cfg.batch_size} must be divisible by {acc.num_processes} processes"
        )
    set_seed(task_seed(ctx.seed, task_index))
    order = torch.Generator().manual_seed(task_seed(ctx.seed, task_index))
    if cfg.group_by_length:
        batches = LengthGroupedBatches([row_length(r) for r in rows], cfg.batch_size, order)
        loader = DataLoader(rows, batch_sampler=batches, collate_fn=learner.collate)
    else:
        loader = DataLoader(
            rows, batch_size=cfg.batch_size, shuffle=True, collate_fn=learner.collate, generator=order
        )
    params = [p for p in method.trainable_parameters() if p.requires_grad]
    epochs = cfg.epochs_for(task.name)
    updates = math.ceil(len(loader) / cfg.grad_accum) * epochs
    optimizer, scheduler = build_optimizer(
        groups_by_lr(params, method.learning_rates(), method.undecayed()), cfg, updates
    )
    clipped = method.clipped(params)
    model, optimizer, loader, scheduler = acc.prepare(learner, optimizer, loader, scheduler)
    model.train()

    # running sums stay tensors: no host sync in the loop except where the progress bar is updated
    n_batches, step, seen = len(loader), 0, 0
    loss_sum: torch.Tensor | float = 0.0
    tokens: torch.Tensor | int = 0
    lines = acc.is_main_process and not sys.stderr.isatty()
    started = time.perf_counter()
    bar = tqdm(
        total=n_batches * epochs,
        desc=f"train {task.name}",
        disable=None if acc.is_local_main_process else True,  # None: off when not a terminal
        leave=False,
    )
    for epoch in range(epochs):
        for b, batch in enumerate(loader):
            info = StepInfo(task_index, epoch, b, n_batches, step)
            with acc.accumulate(model):
                method.before_forward(info)
                with learner.autocast():
                    out = model(batch)
                loss = method.loss(batch, out, info)
                acc.backward(loss)
                # the gradient hooks see only the complete (accumulated) gradient of an update
                if acc.sync_gradients:
                    method.after_backward(info)
                    if cfg.max_grad_norm:
                        acc.clip_grad_norm_(clipped, cfg.max_grad_norm)
                    method.before_step(info)
                optimizer.step()
                if acc.sync_gradients:
                    method.after_step(info)
                    scheduler.step()
                    step += 1
                optimizer.zero_grad(set_to_none=True)
            loss_sum = loss_sum + loss.detach().float()
            seen += 1
            if "attention_mask" in batch:
                tokens = tokens + batch["attention_mask"].sum()
            bar.update(1)
            if step and acc.sync_gradients and (step % cfg.log_every == 0 or step == updates):
                mean = float(loss_sum) / seen
                bar.set_postfix(loss=f"{mean:.4f}")
                acc.log({f"train/{task.name}/loss": mean}, step=step)
                if lines:  # no progress bar (not a terminal): a line every log_every updates and at the end
                    elapsed = time.perf_counter() - started
                    log.info(
                        "train %s: update %d/%d, loss %.4f, %.0f tokens/s, %.0fs left",
                        task.name,
                        step,
                        updates,
                        mean,
                        float(tokens) / elapsed,
                        elapsed / step * (updates - step),
                    )
    bar.close()
    acc.wait_for_everyone()
    acc.free_memory()  # the next task re-prepares a grown model with a fresh optimizer
    return {
        "loss": float(loss_sum) / max(seen, 1),
        "updates": step,
        "tokens": int(tokens),
        "seconds": time.perf_counter() - started,
    }
