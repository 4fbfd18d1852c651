"""Helpers shared by the CL-plugin tests: small sessions on the built-in stream and exact task logits."""

from __future__ import annotations

import torch

from lifelong.config import load_config
from lifelong.data.stream import load_stream
from lifelong.data.task import Task
from lifelong.methods.base import Method
from lifelong.session import Session, open_session

SMALL = [
    "model.name=tiny-bert",
    "training.epochs=2",
    "training.lr=5e-3",
    "training.batch_size=16",
    "stream.max_train=64",
    "stream.max_eval=32",
    "stream.max_dev=16",
    "stream.tasks=[topic, sentiment, color]",
]


def session(method: str, *extra: str) -> tuple[Session, list[Task]]:
    cfg = load_config(None, [*SMALL, f"method={method}", *extra])
    stream = load_stream(cfg.stream, None)
    return open_session(cfg, stream.tasks, stream.scenario, None), stream.tasks


@torch.no_grad()
def task_logits(method: Method, task: Task, rows: list[dict] | None = None) -> torch.Tensor:
    """The head's outputs for the task's evaluation inputs (or ``rows``), in the state ``eval_context`` gives.

    Pass ``rows`` to compare two learners: the tiny presets train their tokenizer at every load."""
    learner = method.learner
    rows = rows if rows is not None else learner.encode(task, task.split(task.eval_split()))
    batch = learner.collate(rows)
    was_training = learner.training
    learner.eval()
    with method.eval_context(task), learner.autocast():
        logits = learner.heads[learner.head_of_task[task.name]](learner.features(batch))
    learner.train(was_training)
    return logits.float()


def masked_weights(method: Method) -> list[torch.Tensor]:
    """Copies of the shared HAT-masked layers' weights and biases (hat and ctr)."""
    return [t.detach().clone() for ml, _ in method.hat.links() for t in (ml.linear.weight, ml.linear.bias)]


def learn_three_tasks_checking_old_answers(method: str) -> Session:
    """Learn three tasks; assert the first two answer bit-identically afterwards, although the shared
    plugin layers did change (the masks protect the old tasks' units, not the whole layer)."""
    sess, tasks = session(method)
    sess.learn_task(tasks[0])
    first = task_logits(sess.method, tasks[0])
    shared = masked_weights(sess.method)
    sess.learn_task(tasks[1])
    second = task_logits(sess.method, tasks[1])
    sess.learn_task(tasks[2])
    assert torch.equal(task_logits(sess.method, tasks[0]), first)
    assert torch.equal(task_logits(sess.method, tasks[1]), second)
    changed = sum(int((a != b).sum()) for a, b in zip(shared, masked_weights(sess.method), strict=True))
    assert changed > 0  # later tasks did train the shared plugin layers
    return sess
