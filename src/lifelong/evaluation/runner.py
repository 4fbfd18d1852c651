"""Evaluate every task a method has seen: one row of each score matrix. Shards examples over processes."""

from __future__ import annotations

import torch
from accelerate.utils import gather_object

from lifelong.data.task import Task
from lifelong.methods.base import Method
from lifelong.training.context import RunContext


def evaluate_task(method: Method, task: Task, ctx: RunContext, split: str | None = None) -> dict[str, float]:
    """Score ``task`` on its held-out split (test, else dev; never train)."""
    from lifelong.evaluation.scoring import score_task

    examples = task.split(split or task.eval_split())
    acc = ctx.accelerator
    if task.kind == "corpus" or acc.num_processes == 1:
        return method.evaluate(task, examples)
    # predictions are sharded, gathered in the original order, and scored once
    shard = list(range(acc.process_index, len(examples), acc.num_processes))
    preds = method.predict(task, [examples[i] for i in shard])
    pairs = gather_object(list(zip(shard, preds, strict=True)))
    by_index = dict(pairs)
    return score_task(task, examples, [by_index[i] for i in range(len(examples))])


@torch.no_grad()
def evaluate_tasks(method: Method, tasks: list[Task], ctx: RunContext) -> dict[str, dict[str, float]]:
    return {task.name: evaluate_task(method, task, ctx) for task in tasks}
