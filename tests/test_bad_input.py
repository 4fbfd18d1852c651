"""Bad input: one clear message naming the file, line or key; exit code 2; no run folder that looks finished."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from lifelong.cli import main
from lifelong.config import load_config
from lifelong.errors import LifelongError


def _write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r + "\n" for r in rows))
    return path


def _custom_task(
    tmp_path: Path, *, train: list[str], test: list[str], labels: list[str] | None = None
) -> Path:
    folder = tmp_path / "mytask"
    _write(folder / "train.jsonl", train)
    _write(folder / "test.jsonl", test)
    spec = {"name": "mytask", "kind": "classification", "path": str(folder)}
    if labels:
        spec["labels"] = labels
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"model": {"name": "tiny-bert"}, "stream": {"tasks": [spec]}, "training": {"epochs": 1}}
        )
    )
    return config


GOOD = ['{"text": "good film", "label": "pos"}', '{"text": "bad film", "label": "neg"}']


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lifelong: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path, capsys) -> None:
    config = _custom_task(tmp_path, train=[*GOOD, '{"text": "oops", "label": '], test=GOOD)
    _fails(["run", str(config), "--out", str(tmp_path / "r")], capsys, "train.jsonl:3", "malformed JSON")
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_missing_field_names_file_line_and_field(tmp_path: Path, capsys) -> None:
    config = _custom_task(tmp_path, train=[*GOOD, '{"txt": "typo", "label": "pos"}'], test=GOOD)
    _fails(
        ["run", str(config), "--out", str(tmp_path / "r")], capsys, "train.jsonl:3", "missing field 'text'"
    )


def test_label_at_evaluation_that_the_task_does_not_have(tmp_path: Path, capsys) -> None:
    config = _custom_task(
        tmp_path, train=GOOD, test=[*GOOD, '{"text": "meh film", "label": "neutral"}'], labels=["pos", "neg"]
    )
    _fails(["run", str(config), "--out", str(tmp_path / "r")], capsys, "test.jsonl:3", "'neutral'")


def test_training_file_that_is_not_utf8_names_file_and_line(tmp_path: Path, capsys) -> None:
    config = _custom_task(tmp_path, train=GOOD, test=GOOD)
    train = tmp_path / "mytask" / "train.jsonl"
    train.write_bytes(train.read_bytes() + '{"text": "caf\u00e9", "label": "pos"}\n'.encode("latin-1"))
    _fails(["run", str(config), "--out", str(tmp_path / "r")], capsys, "train.jsonl", "line 3", "not UTF-8")
    assert not (tmp_path / "r").exists()  # nothing written


def test_method_args_are_type_checked_like_every_other_key(tmp_path: Path, capsys) -> None:
    def config(method: str, args: str) -> Path:
        path = tmp_path / f"{method}.yaml"
        path.write_text(f"model: {{name: tiny-bert}}\nmethod: {method}\nmethod_args: {{{args}}}\n")
        return path

    # PyYAML reads 5e-2 (no dot) as a string; as a float key it is the number
    assert load_config(config("hat", "mask_lr: 5e-2")).method_args == {"mask_lr": 0.05}
    assert load_config(config("replay", "memory_per_task: 1e2")).method_args["memory_per_task"] == 100
    _fails(
        ["run", str(config("hat", "mask_lr: fast")), "--out", str(tmp_path / "r")],
        capsys,
        "hat.yaml",
        "method_args.mask_lr",
        "'fast'",
    )
    assert not (tmp_path / "r").exists()  # nothing written


def test_empty_split(tmp_path: Path, capsys) -> None:
    config = _custom_task(tmp_path, train=GOOD, test=[])
    _fails(["run", str(config), "--out", str(tmp_path / "r")], capsys, "mytask", "empty")


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("stream.tasks=[topik]", ["'topik'", "Did you mean 'topic'"]),
        ("method=finetun", ["unknown method 'finetun'", "Did you mean 'finetune'"]),
        ("model.name=tiny-bret", ["unknown model 'tiny-bret'", "tiny-bert"]),
        ("stream.benchmark=tcc", ["'tcc'", "Did you mean 'tc'"]),
        ("stream.tasks=[topic, topic]", ["topic", "twice"]),
        ("training.epoch=3", ["training.epoch", "Did you mean", "epochs"]),
        ("stream.max_trian=3", ["max_trian", "max_train"]),
        ("method_args.memory=3", ["method_args.memory", "finetune"]),
    ],
)
def test_unknown_names_and_keys(
    tmp_path: Path, capsys, override: str, needles: list[str], monkeypatch
) -> None:
    monkeypatch.setenv("LIFELONG_DATA", str(tmp_path))
    _fails(["run", "--set", override, "--out", str(tmp_path / "r")], capsys, *needles)
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_missing_data_dir_says_where_data_goes(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("LIFELONG_DATA", raising=False)
    _fails(
        ["run", "--set", "stream.benchmark=tc", "--out", str(tmp_path / "r")],
        capsys,
        "LIFELONG_DATA",
        "--data-dir",
    )
    _fails(
        [
            "run",
            "--set",
            "stream.benchmark=tc",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
        str(tmp_path / "nowhere"),
    )


def test_malformed_config_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: tiny-bert\n")
    _fails(["run", str(bad)], capsys, "bad.yaml", "malformed YAML")
    _fails(["run", str(tmp_path / "absent.yaml")], capsys, "absent.yaml")


def test_method_scenario_mismatch_is_an_error() -> None:
    from lifelong.errors import ConfigError
    from lifelong.methods.base import Method

    class TaskOnly(Method):
        name = "task-only"
        scenarios = frozenset({"task"})

    with pytest.raises(ConfigError, match="does not support the class-incremental"):
        TaskOnly.check_compatible("class", "classifier")
    with pytest.raises(ConfigError, match="does not work with a text2text"):
        type("ClsOnly", (Method,), {"learner_kinds": frozenset({"classifier"})}).check_compatible(
            "task", "text2text"
        )


def test_long_text_is_truncated_with_one_warning(tmp_path: Path, caplog) -> None:
    from lifelong.config import load_config
    from lifelong.runs import run

    cfg = load_config(
        None,
        [
            "stream.tasks=[topic]",
            "stream.max_train=32",
            "stream.max_eval=8",
            "training.epochs=1",
            "model.max_length=8",
        ],
    )
    with caplog.at_level(logging.WARNING, logger="lifelong"):
        metrics = run(cfg, out=tmp_path / "r")
    warnings = [r for r in caplog.records if "longer than max_length=8" in r.getMessage()]
    assert len(warnings) == 1
    assert metrics["tasks"] == ["topic"]


def test_a_failed_run_is_marked_failed_and_never_looks_finished(tmp_path: Path, capsys, monkeypatch) -> None:
    import lifelong.session

    def broken(*args, **kwargs):
        raise LifelongError("simulated failure while training")

    monkeypatch.setattr(lifelong.session, "train_task", broken)
    out = tmp_path / "r"
    _fails(
        ["run", "--set", "stream.tasks=[topic]", "--set", "stream.max_train=16", "--out", str(out)],
        capsys,
        "simulated",
    )
    assert json.loads((out / "status.json").read_text())["status"] == "failed"
    assert not (out / "metrics.json").exists()
    # an existing run folder is never overwritten, nor its status touched, by another run
    (out / "status.json").write_text('{"status": "running"}')
    _fails(["run", "--set", "stream.tasks=[topic]", "--out", str(out)], capsys, "already exists", "--resume")
    assert json.loads((out / "status.json").read_text())["status"] == "running"


def test_unknown_or_missing_tracker_is_a_clear_error(tmp_path: Path, capsys) -> None:
    _fails(
        ["run", "--set", "training.trackers=[tensorbored]", "--out", str(tmp_path / "r")],
        capsys,
        "tensorbored",
    )
