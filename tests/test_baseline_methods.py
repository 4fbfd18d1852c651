"""Unit behaviour of the foundation baselines on a tiny BERT: EWC's penalty, separate's per-task copies,
replay's memory budget."""

from __future__ import annotations

import torch
from accelerate import Accelerator

from lifelong.config import ModelConfig, TrainingConfig
from lifelong.context import RunContext
from lifelong.data.builtin import builtin_stream
from lifelong.methods.base import StepInfo, build_method_config
from lifelong.methods.ewc import EWC
from lifelong.methods.multitask import Multitask
from lifelong.methods.replay import Replay
from lifelong.methods.separate import Separate
from lifelong.models.build import build_learner

STEP = StepInfo(0, 0, 0, 1, 0)


def _method(cls, scenario="task", **args):
    stream = builtin_stream(seed=0, n_train=40, n_eval=10, scenario=scenario)
    learner = build_learner(ModelConfig(name="tiny-bert", max_length=32), scenario, stream.tasks)
    ctx = RunContext(Accelerator(), TrainingConfig(), seed=0)
    return cls(learner, build_method_config(cls, args), ctx), stream.tasks


def test_ewc_penalty_is_zero_at_the_anchor_and_grows_away_from_it() -> None:
    ewc, tasks = _method(EWC, fisher_rows=16)
    ewc.grow(tasks[0])
    rows = ewc.learner.encode(tasks[0], tasks[0].splits["train"])
    ewc.after_task(tasks[0], rows)
    assert ewc.fisher and all((f >= 0).all() for f in ewc.fisher.values())
    assert sum(float(f.sum()) for f in ewc.fisher.values()) > 0
    batch = ewc.learner.collate(rows[:4])
    out = ewc.learner(batch)
    assert torch.equal(ewc.loss(batch, out, STEP), out.loss)  # at the anchor the penalty is 0
    with torch.no_grad():
        for p in ewc.learner.encoder.parameters():
            p.add_(0.05)
    out = ewc.learner(batch)
    assert float(ewc.loss(batch, out, STEP).detach()) > float(out.loss.detach())


def test_separate_answers_each_task_with_its_own_copy() -> None:
    sep, tasks = _method(Separate)
    sep.grow(tasks[0])
    sep.before_task(tasks[0], [])
    with torch.no_grad():
        sep.learner.encoder.embeddings.word_embeddings.weight.fill_(1.0)
    sep.after_task(tasks[0], [])
    sep.grow(tasks[1])
    sep.before_task(tasks[1], [])  # back to the initial weights for the next task
    assert not torch.all(sep.learner.encoder.embeddings.word_embeddings.weight == 1.0)
    with sep.eval_context(tasks[0]):
        assert torch.all(sep.learner.encoder.embeddings.word_embeddings.weight == 1.0)
    assert not torch.all(sep.learner.encoder.embeddings.word_embeddings.weight == 1.0)


def test_replay_keeps_a_fixed_budget_per_task_and_rehearses_it() -> None:
    replay, tasks = _method(Replay, memory_per_task=5, replay_ratio=0.5)
    replay.grow(tasks[0])
    rows = replay.learner.encode(tasks[0], tasks[0].splits["train"])
    replay.after_task(tasks[0], replay.before_task(tasks[0], rows))
    assert len(replay.memory["topic"]) == 5
    replay.grow(tasks[1])
    new = replay.learner.encode(tasks[1], tasks[1].splits["train"])
    mixed = replay.before_task(tasks[1], new)
    replayed = [r for r in mixed if r.get("replayed")]
    assert len(replayed) == len(new)  # ratio 0.5: as many memory rows as new rows, repeated
    assert {r["task_index"] for r in replayed} == {0}
    replay.after_task(tasks[1], mixed)
    assert len(replay.memory["sentiment"]) == 5 and len(replay.memory["topic"]) == 5


def test_ewc_estimates_the_fisher_on_a_random_sample_not_the_first_rows() -> None:
    ewc, tasks = _method(EWC, fisher_rows=8)
    ewc.grow(tasks[0])
    rows = sorted(ewc.learner.encode(tasks[0], tasks[0].splits["train"]), key=lambda r: r["labels"])
    seen: list[int] = []
    collate = ewc.learner.collate

    def recording(batch_rows, generator=None):
        seen.extend(r["labels"] for r in batch_rows)
        return collate(batch_rows)

    ewc.learner.collate = recording
    ewc.after_task(tasks[0], rows)  # file sorted by label: the first 8 rows hold one label only
    assert len(seen) == 8 and len(set(seen)) > 1


def test_ewc_in_class_incremental_learning_keeps_the_grown_heads_importance() -> None:
    ewc, tasks = _method(EWC, scenario="class", fisher_rows=8, decay=1.0)
    ewc.grow(tasks[0])
    ewc.after_task(tasks[0], ewc.learner.encode(tasks[0], tasks[0].splits["train"]))
    old = ewc.fisher["heads.0.weight"].clone()
    ewc.grow(tasks[1])  # the one head grows by the new task's classes
    rows = ewc.learner.encode(tasks[1], tasks[1].splits["train"])
    batch = ewc.learner.collate(rows[:4])
    out = ewc.learner(batch)
    assert torch.equal(ewc.loss(batch, out, STEP), out.loss)  # no crash; at the anchor no penalty
    ewc.after_task(tasks[1], rows)
    grown = ewc.fisher["heads.0.weight"]
    assert grown.shape[0] > old.shape[0]
    assert torch.all(grown[: old.shape[0]] >= old)  # the old classes' importance is kept


def test_restarts_reset_shared_heads_too() -> None:
    mtl, tasks = _method(Multitask, scenario="domain")
    mtl.grow(tasks[0])
    head = mtl.learner.heads[0].weight
    initial = head.detach().clone()
    mtl.before_task(tasks[0], [])
    with torch.no_grad():
        head.add_(1.0)  # "training" the shared head on task 1
    mtl.grow(tasks[1])
    mtl.before_task(tasks[1], [])
    assert torch.equal(mtl.learner.heads[0].weight, initial)


def test_text2text_class_incremental_question_does_not_name_the_task() -> None:
    stream = builtin_stream(seed=0, n_train=4, n_eval=4, scenario="class")
    cfg = ModelConfig(name="tiny-gpt2", max_length=64)
    lm = build_learner(cfg, "class", stream.tasks, bf16=False)
    for task in stream.tasks[:2]:
        lm.grow(task)
    first, second = stream.tasks[0], stream.tasks[1]
    q1 = lm.question(first, first.split("train")[0])
    q2 = lm.question(second, second.split("train")[0])
    assert q1 == q2 and all(label in q1 for label in (*first.labels, *second.labels))
    task_lm = build_learner(cfg, "task", stream.tasks, bf16=False)
    task_lm.grow(first)
    assert task_lm.question(first, first.split("train")[0]) == first.question
