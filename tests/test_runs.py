"""End-to-end behaviour of runs on the built-in stream: forgetting, resume, saved learners."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lifelong.cli import main
from lifelong.config import load_config
from lifelong.data.builtin import builtin_stream
from lifelong.methods import METHODS
from lifelong.runs import run
from lifelong.session import Session

THREE = "stream.tasks=[topic, sentiment, color]"


def _run(method: str, out: Path, overrides: list[str], *extra: str) -> dict:
    cfg = load_config(None, [*overrides, f"method={method}", *extra])
    return run(cfg, out=out)


def test_finetune_forgets_while_replay_and_multitask_forget_less(
    tmp_path: Path, fast_overrides: list[str]
) -> None:
    two = "stream.tasks=[topic, sentiment]"
    results = {m: _run(m, tmp_path / m, fast_overrides, two) for m in ("finetune", "replay", "multitask")}
    ft, rp, mt = results["finetune"], results["replay"], results["multitask"]
    # every task is learned when it is trained ...
    matrix = np.array(ft["matrix"], dtype=float)
    assert all(matrix[i + 1, i] > 0.8 for i in range(2))
    # ... and sequential fine-tuning loses much of it afterwards
    assert ft["forgetting"] > 0.3
    assert rp["forgetting"] < ft["forgetting"] - 0.15
    assert mt["forgetting"] < ft["forgetting"] - 0.15
    assert mt["acc"] > ft["acc"] + 0.1
    for name, metrics in results.items():
        folder = tmp_path / name
        assert json.loads((folder / "status.json").read_text())["status"] == "complete"
        for f in (
            "metrics.json",
            "matrix.csv",
            "report.md",
            "heatmap.png",
            "task_curves.png",
            "config.yaml",
            "environment.json",
        ):
            assert (folder / f).exists(), f
        assert metrics["method"] == name and metrics["tasks"] == ["topic", "sentiment"]
        settings = json.loads((folder / "environment.json").read_text())["method_config"]
        assert settings == dataclasses.asdict(METHODS.get(name).config_class())  # the defaults, spelled out
        assert len(metrics["matrix"]) == 3  # row 0 = before any training


def test_resume_reaches_the_same_metrics(
    tmp_path: Path, fast_overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = [*fast_overrides, THREE, "method=replay", "training.epochs=2"]
    straight = run(load_config(None, overrides), out=tmp_path / "straight")

    original = Session.learn_task
    calls = {"n": 0}

    def killed_on_third(self: Session, task, last: bool = True):  # the process dies training the third task
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, task, last)

    monkeypatch.setattr(Session, "learn_task", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        run(load_config(None, overrides), out=tmp_path / "killed")
    assert not (tmp_path / "killed" / "metrics.json").exists()
    assert json.loads((tmp_path / "killed" / "status.json").read_text())["status"] == "running"
    monkeypatch.setattr(Session, "learn_task", original)
    progress = json.loads((tmp_path / "killed" / "checkpoint" / "progress.json").read_text())
    assert progress["wall_time_s"] > 0
    resumed = run(load_config(None, overrides), out=tmp_path / "killed", resume=True)
    assert resumed["wall_time_s"] > progress["wall_time_s"]  # the time before the kill counts too
    np.testing.assert_allclose(
        np.array(resumed["matrix"], float), np.array(straight["matrix"], float), atol=1e-9
    )
    assert resumed["acc"] == pytest.approx(straight["acc"])
    # the training cost of every stage survives the resume: one record per task, in order
    cost = resumed["training"]
    assert [r["task"] for r in cost] == [r["task"] for r in straight["training"]] == resumed["tasks"]
    assert all(r["updates"] > 0 and r["tokens"] > 0 and r["tokens_per_s"] > 0 for r in cost)
    assert "## Training cost" in (tmp_path / "killed" / "report.md").read_text()


def test_saved_learner_learns_evaluates_and_predicts(
    tmp_path: Path, fast_overrides: list[str], capsys
) -> None:
    out = tmp_path / "learner"
    assert (
        main(
            [
                "run",
                "--out",
                str(out),
                *sum((["--set", o] for o in fast_overrides), []),
                "--set",
                "stream.tasks=[topic, sentiment]",
            ]
        )
        == 0
    )
    first = json.loads((out / "metrics.json").read_text())["wall_time_s"]
    assert main(["learn", str(out), "--task", "color"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["wall_time_s"] > first  # the learner's whole training time, not the last task's
    assert metrics["tasks"] == ["topic", "sentiment", "color"]
    assert len(metrics["matrix"]) == 4 and metrics["matrix"][3][2] > 0.8  # the new task was learned
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "topic" in printed and "color" in printed
    # predictions for new inputs (held-out sentences of the task) match what `learn` measured
    examples = builtin_stream(seed=7, n_eval=40).task("color").split("test")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"text": ex.text}) + "\n" for ex in examples))
    preds = tmp_path / "out.jsonl"
    assert main(["predict", str(out), "--task", "color", "--input", str(inputs), "--output", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == len(examples) and {r["prediction"] for r in rows} <= {
        "red",
        "blue",
        "green",
        "yellow",
    }
    assert np.mean([r["prediction"] == ex.label for r, ex in zip(rows, examples, strict=True)]) > 0.8


def test_text2text_learner_runs_on_a_causal_lm(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "model.name=tiny-gpt2",
            "stream.tasks=[topic]",
            "stream.max_train=64",
            "stream.max_eval=16",
            "training.epochs=1",
            "model.max_answer_length=4",
        ],
    )
    metrics = run(cfg, out=tmp_path / "t2t")
    assert metrics["tasks"] == ["topic"] and 0.0 <= metrics["acc"] <= 1.0
    assert "em" in metrics["matrices"] or "accuracy" in metrics["matrices"]


def test_domain_and_class_incremental_heads(tmp_path: Path, fast_overrides: list[str]) -> None:
    from lifelong.config import ModelConfig
    from lifelong.data.builtin import builtin_stream
    from lifelong.models.build import build_learner

    domain = builtin_stream(seed=0, n_train=20, n_eval=10, scenario="domain")
    learner = build_learner(ModelConfig(name="tiny-bert"), "domain", domain.tasks)
    for t in domain.tasks:
        learner.grow(t)
    assert len(learner.heads) == 1 and learner.heads[0].out_features == len(domain.tasks[0].labels)

    tasks = builtin_stream(seed=0, n_train=20, n_eval=10).tasks
    learner = build_learner(ModelConfig(name="tiny-bert"), "class", tasks)
    learner.grow(tasks[0])
    first = learner.heads[0].weight.detach().clone()
    learner.grow(tasks[1])
    assert len(learner.heads) == 1
    assert learner.heads[0].out_features == len(tasks[0].labels) + len(tasks[1].labels)
    assert (learner.heads[0].weight[: len(first)] == first).all()  # old classes keep their weights
    preds = learner.predict(tasks[0], tasks[0].splits["test"][:5])
    assert all(p in tasks[0].labels + tasks[1].labels for p in preds)


def test_model_dropout_sets_every_dropout_module_and_rejects_bad_rates() -> None:
    from torch import nn

    from lifelong.config import ModelConfig
    from lifelong.data.builtin import builtin_stream
    from lifelong.errors import ConfigError
    from lifelong.models.build import build_learner

    tasks = builtin_stream(seed=0, n_train=20, n_eval=10).tasks
    default = build_learner(ModelConfig(name="tiny-bert"), "task", tasks)
    assert any(m.p > 0 for m in default.modules() if isinstance(m, nn.Dropout))
    off = build_learner(ModelConfig(name="tiny-bert", dropout=0.0), "task", tasks)
    rates = [m.p for m in off.modules() if isinstance(m, nn.Dropout)]
    assert rates and all(p == 0.0 for p in rates)
    with pytest.raises(ConfigError, match="model.dropout"):
        build_learner(ModelConfig(name="tiny-bert", dropout=1.5), "task", tasks)


def test_score_before_false_skips_row_zero_and_the_new_tasks_first_score(
    tmp_path: Path, fast_overrides: list[str]
) -> None:
    metrics = _run("finetune", tmp_path / "r", [*fast_overrides, THREE], "training.score_before=false")
    R = np.array(metrics["matrix"], float)
    assert np.isnan(R[0]).all()  # row 0 was not scored
    assert all(np.isnan(R[i, i]) for i in range(1, R.shape[1]))  # nor each task before its training
    assert not np.isnan(R[1:][np.tril_indices(R.shape[1])]).any()  # every trained stage was
    assert metrics["fwt"] is None or np.isnan(metrics["fwt"])
    assert 0.0 <= metrics["acc"] <= 1.0 and (tmp_path / "r" / "report.md").is_file()


def test_a_terminated_run_says_it_was_interrupted(tmp_path: Path, fast_overrides: list[str]) -> None:
    """``kill`` / ``timeout`` / a session's end send SIGTERM: the folder must not keep claiming to run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    settings = [*fast_overrides, "training.epochs=200"]  # far longer than the test waits
    argv = [sys.executable, "-m", "lifelong", "run", "--out", str(out)]
    proc = subprocess.Popen(
        [*argv, *sum((["--set", s] for s in settings), [])], env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "status.json").is_file():
        time.sleep(0.2)
    time.sleep(1.0)  # into the training loop
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "interrupted"
    assert not (out / "metrics.json").exists()


def test_final_only_multitask_reproduces_the_last_row_for_one_stage_of_cost(
    tmp_path: Path, fast_overrides: list[str]
) -> None:
    every = _run("multitask", tmp_path / "every", fast_overrides, THREE)
    final = _run("multitask", tmp_path / "final", fast_overrides, THREE, "method_args.final_only=true")
    M, F = np.array(every["matrix"], dtype=float), np.array(final["matrix"], dtype=float)
    # each stage restarts from the initial weights with the stage's own seed: the same final row
    np.testing.assert_array_equal(F[-1], M[-1])
    # earlier stages are not measured (row 2 holds only the last task's score before its training)
    assert np.isnan(F[1]).all() and np.isnan(F[2, :2]).all()
    assert not np.isnan(M[1, :1]).any() and not np.isnan(M[2, :2]).any()
    assert final["acc"] == every["acc"]
    training = json.loads((tmp_path / "final" / "metrics.json").read_text())["training"]
    assert [t["updates"] for t in training][:2] == [0, 0] and training[2]["updates"] > 0
    assert "| multitask |" in (tmp_path / "final" / "report.md").read_text()


def test_final_only_without_restart_is_a_config_error(
    tmp_path: Path, fast_overrides: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["method=multitask", "method_args.final_only=true", "method_args.restart=false"]
    code = main(
        ["run", "--out", str(tmp_path / "r"), *sum((["--set", a] for a in [*fast_overrides, *args]), [])]
    )
    assert code == 2
    assert "method_args.final_only" in capsys.readouterr().err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_epochs_by_task_trains_the_named_task_longer(tmp_path: Path, fast_overrides: list[str]) -> None:
    two = "stream.tasks=[topic, sentiment]"
    result = _run("finetune", tmp_path / "r", [*fast_overrides, "training.epochs=1"], two,
                  "training.epochs_by_task={sentiment: 3}")  # fmt: skip
    updates = [t["updates"] for t in json.loads((tmp_path / "r" / "metrics.json").read_text())["training"]]
    assert updates[1] == 3 * updates[0]  # same number of rows per task in the built-in stream
    assert result["tasks"] == ["topic", "sentiment"]


@pytest.mark.parametrize(
    ("value", "message"),
    [("{sentimnt: 3}", "no task named 'sentimnt'"), ("{sentiment: 0}", "epochs_by_task.sentiment")],
)
def test_epochs_by_task_rejects_unknown_tasks_and_bad_counts(
    tmp_path: Path, fast_overrides: list[str], capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    sets = [*fast_overrides, "stream.tasks=[topic, sentiment]", f"training.epochs_by_task={value}"]
    code = main(["run", "--out", str(tmp_path / "r"), *sum((["--set", a] for a in sets), [])])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_final_only_multitask_ends_with_the_same_weights_on_a_causal_lm(tmp_path: Path) -> None:
    from lifelong.runs import open_learner

    sets = ["model.name=tiny-gpt2", "model.max_length=48", "model.max_answer_length=4", "stream.max_train=16",
            "stream.max_eval=4", "training.epochs=1", "training.bf16=false", "method=multitask", THREE]  # fmt: skip
    run(load_config(None, sets), out=tmp_path / "every")
    run(load_config(None, [*sets, "method_args.final_only=true"]), out=tmp_path / "final")
    every, final = (open_learner(tmp_path / n, with_data=False)[0].method.learner for n in ("every", "final"))
    a, b = every.state_dict(), final.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
