"""The core contracts every part relies on: the gradient-hook rule, the learner's eval mode and
settings, and whole-or-absent folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lifelong.config import load_config
from lifelong.data.builtin import builtin_stream
from lifelong.io import atomic_path, recover
from lifelong.session import open_session
from lifelong.training.trainer import train_task


def test_gradient_hooks_run_once_per_update_under_accumulation() -> None:
    config = load_config(
        None, ["model.name=tiny-bert", "training.batch_size=4", "training.grad_accum=2", "training.epochs=1"]
    )
    stream = builtin_stream(seed=0, n_train=16, n_eval=4)
    session = open_session(config, stream.tasks, stream.scenario)
    method, task = session.method, stream.tasks[0]
    calls: list[tuple[str, int, bool]] = []
    for hook in ("before_forward", "after_backward", "before_step", "after_step"):

        def record(step, hook=hook):
            calls.append((hook, step.batch, session.ctx.accelerator.sync_gradients))

        setattr(method, hook, record)
    method.grow(task)
    stats = train_task(method, task, 0, method.learner.encode(task, task.split("train")), session.ctx)
    assert stats["updates"] == 2  # 4 batches, 2 per update
    assert [c[1] for c in calls if c[0] == "before_forward"] == [0, 1, 2, 3]
    for hook in ("after_backward", "before_step", "after_step"):
        assert [(b, synced) for h, b, synced in calls if h == hook] == [(1, True), (3, True)], hook


def test_a_task_shorter_than_log_every_still_logs_its_progress_off_a_terminal(caplog) -> None:
    """A stage of fewer than log_every updates used to log nothing until it ended; a background run's log
    then showed no sign of life or speed for it."""
    config = load_config(None, ["model.name=tiny-bert", "training.batch_size=4", "training.epochs=1"])
    stream = builtin_stream(seed=0, n_train=12, n_eval=4)
    session = open_session(config, stream.tasks, stream.scenario)
    method, task = session.method, stream.tasks[0]
    method.grow(task)
    with caplog.at_level("INFO", logger="lifelong"):
        stats = train_task(method, task, 0, method.learner.encode(task, task.split("train")), session.ctx)
    assert stats["updates"] == 3 < config.training.log_every
    lines = [r.getMessage() for r in caplog.records if "tokens/s" in r.getMessage()]
    assert len(lines) == 1 and f"train {task.name}: update 3/3" in lines[0]


def test_eval_mode_restores_training_and_settings_come_from_the_config() -> None:
    config = load_config(None, ["model.name=tiny-bert", "training.bf16=false", "training.eval_batch_size=7"])
    stream = builtin_stream(seed=0, n_train=8, n_eval=4)
    learner = open_session(config, stream.tasks, stream.scenario).method.learner
    assert (learner.bf16, learner.eval_batch_size) == (False, 7)
    learner.train()
    with learner.eval_mode():
        assert not learner.training and not torch.is_grad_enabled()
    assert learner.training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError), learner.eval_mode(grad=True):
        assert torch.is_grad_enabled()
        raise RuntimeError
    assert learner.training


def test_a_classifier_batch_names_its_heads_on_the_host() -> None:
    """A mixed batch (replay, multitask) is routed through each row's head; the heads come from the
    collated host list, so a forward on a GPU never waits to read them off the device."""
    config = load_config(None, ["model.name=tiny-bert", "training.bf16=false", "method=multitask"])
    stream = builtin_stream(seed=0, n_train=8, n_eval=4)
    session = open_session(config, stream.tasks, stream.scenario)
    learner = session.method.learner
    for task in stream.tasks[:2]:
        session.method.grow(task)
    rows = [r for task in stream.tasks[:2] for r in learner.encode(task, task.split("train")[:3])]
    batch = learner.collate(rows)
    assert batch["heads"] == sorted({r["task_index"] for r in rows}) and len(batch["heads"]) == 2
    learner.eval()  # no dropout: the two forwards must agree exactly
    with torch.no_grad():
        with_list = learner(batch).loss
        without = learner({k: v for k, v in batch.items() if k != "heads"}).loss
    assert torch.equal(with_list, without)


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint"
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("one")
    with pytest.raises(ValueError), atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("half")
        raise ValueError("killed while writing")
    assert (folder / "a.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # no temporary left
    # a crash between the two renames of a swap: the old folder is put back
    folder.rename(tmp_path / ".checkpoint.old-1-abc")
    assert (recover(folder) / "a.txt").read_text() == "one"
