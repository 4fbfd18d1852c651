"""Score one task with a method's current model: one cell of each score matrix. Shards examples over processes."""

from __future__ import annotations

from accelerate.utils import gather_object

from lifelong.context import RunContext
from lifelong.data.task import Task
from lifelong.evaluation.scoring import score_task
from lifelong.methods.base import Method


def evaluate_task(method: Method, task: Task, ctx: RunContext, split: str | None = None) -> dict[str, float]:
    """Score ``task`` on its held-out split (test, else dev; never train)."""
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
