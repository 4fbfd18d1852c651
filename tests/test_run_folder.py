"""A run folder's life through the CLI: a finished run is never damaged by a failing command, a resume
needs the run's own config, values are range-checked before any folder exists, and messages say
what is wrong (exit code 2)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

import lifelong.session
from lifelong.cli import main
from lifelong.errors import LifelongError

TINY = [
    "model.name=tiny-bert",
    "training.epochs=2",
    "training.lr=1e-3",
    "model.max_length=32",
    "stream.max_train=64",
    "stream.max_eval=16",
    "stream.max_dev=8",
    "stream.tasks=[topic, sentiment]",
]


def _sets(overrides: list[str]) -> list[str]:
    return sum((["--set", o] for o in overrides), [])


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lifelong: error:") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "done"
    assert main(["run", "--out", str(out), *_sets(TINY)]) == 0
    return out


@pytest.fixture
def run_copy(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_failing_commands_leave_a_finished_run_byte_for_byte_unchanged(
    run_copy: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    before = _fingerprint(run_copy)
    assert json.loads((run_copy / "status.json").read_text())["status"] == "complete"
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "a red kite"}\n')
    _fails(["predict", str(run_copy), "--task", "nosuch", "--input", str(inputs)], capsys, "'nosuch'")
    _fails(["predict", str(run_copy), "--task", "topic", "--input", str(tmp_path / "absent.jsonl")], capsys)
    _fails(["learn", str(run_copy), "--task", "topic"], capsys, "already learned", "'topic'")
    _fails(["learn", str(run_copy), "--task", "tc/agnews", "--data-dir", str(tmp_path / "nowhere")], capsys)
    assert main(["evaluate", str(run_copy), "--data-dir", str(tmp_path / "nowhere")]) == 0  # reads only
    assert main(["report", str(run_copy)]) == 0

    def broken(*args, **kwargs):
        raise LifelongError("simulated failure while learning")

    monkeypatch.setattr(lifelong.session, "train_task", broken)
    _fails(["learn", str(run_copy), "--task", "color"], capsys, "simulated")
    assert _fingerprint(run_copy) == before
    assert not [p for p in run_copy.parent.iterdir() if p.name.startswith(".")]  # no work copy left


def test_learn_completes_on_a_copy_and_predict_needs_only_the_learner(
    run_copy: Path, tmp_path: Path, capsys
) -> None:
    assert main(["learn", str(run_copy), "--task", "builtin/color"]) == 0
    metrics = json.loads((run_copy / "metrics.json").read_text())
    assert metrics["tasks"] == ["topic", "sentiment", "color"]
    assert not [p for p in run_copy.parent.iterdir() if p.name.startswith(".")]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "azure hat in the woods"}\n')
    out = tmp_path / "pred.jsonl"
    # BENCHMARK/TASK, the form learn takes; the data directory is not needed (and absent here)
    argv = ["predict", str(run_copy), "--task", "builtin/color", "--input", str(inputs), "--output", str(out)]
    assert main([*argv, "--scores"]) == 0
    row = json.loads(out.read_text())
    assert row["prediction"] in row["scores"] and abs(sum(row["scores"].values()) - 1) < 1e-4
    assert max(row["scores"], key=row["scores"].get) == row["prediction"]


def test_resume_refuses_a_different_config(run_copy: Path, capsys) -> None:
    before = _fingerprint(run_copy)
    base = ["run", "--out", str(run_copy), "--resume", *_sets(TINY)]
    _fails(
        [*base, "--set", "training.lr=0.5", "--set", "training.epochs=1"],
        capsys,
        "training.lr",
        "training.epochs",
    )
    _fails([*base, "--set", "method=replay"], capsys, "method", "'finetune'", "'replay'")
    _fails([*base, "--set", "training.eval_batch_size=8"], capsys, "--allow-change")
    _fails(
        [*base, "--set", "training.lr=0.5", "--allow-change", "training.lr"],
        capsys,
        "--allow-change training.lr",
    )
    assert _fingerprint(run_copy) == before
    # a change that cannot affect results, when allowed: the finished run just reports again
    assert (
        main([*base, "--set", "training.eval_batch_size=8", "--allow-change", "training.eval_batch_size"])
        == 0
    )


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("training.batch_size=0", ["training.batch_size", "must be >= 1"]),
        ("training.epochs=0", ["training.epochs", ">= 1"]),
        ("training.lr=-1", ["training.lr", "> 0"]),
        ("training.warmup_ratio=1.5", ["training.warmup_ratio", "<= 1"]),
        ("method_args.ewc_lambda=-2", ["method_args.ewc_lambda", ">= 0"]),
    ],
)
def test_out_of_range_values_are_refused_before_any_folder(
    tmp_path: Path, capsys, override: str, needles: list[str]
) -> None:
    extra = ["method=ewc"] if override.startswith("method_args") else []
    out = tmp_path / "r"
    _fails(["run", "--out", str(out), *_sets([*TINY, *extra, override])], capsys, "--set", *needles)
    assert not out.exists()
    config = tmp_path / "c.yaml"
    section, _, rest = override.partition(".")
    key, _, value = rest.partition("=")
    config.write_text(f"method: {'ewc' if extra else 'finetune'}\n{section}: {{{key}: {value}}}\n")
    _fails(["run", str(config), "--out", str(out)], capsys, "c.yaml", *needles)
    assert not out.exists()


@pytest.mark.parametrize(
    "override",
    [
        "model.name=tiny-bret",
        "method_args.memory=3",
        "training.trackers=[nosuch]",
        "model.name=org/absent-model",
    ],
)
def test_a_failed_start_creates_no_folder(tmp_path: Path, capsys, monkeypatch, override: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "r"
    assert main(["run", "--out", str(out), *_sets([*TINY, override])]) == 2
    capsys.readouterr()
    assert not out.exists()


def test_messages(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"text": "oops", "label": \n')
    from lifelong.data.loaders import read_rows
    from lifelong.errors import DataError

    with pytest.raises(DataError, match=r"bad.jsonl:2: .*column 27"):
        list(read_rows(bad))
    assert main(["list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert listed["adapter_ncl"].split(None, 1)[1] != listed["adapter_one"].split(None, 1)[1]
    assert all(not line.rstrip().endswith(("the", "a", "of", ",")) for line in listed.values())
    assert "YYYYmmdd" in (main_help := _help(["run", "--help"], capsys)) and "seedN" not in main_help


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().out


def test_report_over_seeds_keeps_runs_with_other_settings_apart(
    finished: Path, tmp_path: Path, capsys
) -> None:
    def copy(name: str, old: str, new: str, seed: int) -> Path:
        folder = tmp_path / name
        shutil.copytree(finished, folder)
        config = folder / "config.yaml"
        config.write_text(re.sub(old, new, config.read_text(), flags=re.MULTILINE))
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**metrics, "seed": seed}))
        return folder

    other_seed = copy("s1", "^seed: 0$", "seed: 1", 1)  # the run's seed, not the stream's
    faster = copy("fast", "lr: 0.001", "lr: 0.01", 0)
    assert main(["report", "--over-seeds", str(finished), str(other_seed), str(faster)]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| Run | runs | ACC |") and table[0].endswith("| settings that differ |")
    rows = [row.split(" | ") for row in table[2:]]
    assert [(row[0], row[1], row[-1]) for row in rows] == [
        ("| done", "2", "training.lr=0.001 |"),  # the same settings on two seeds: one row
        ("| done", "1", "training.lr=0.01 |"),
    ]


def test_report_over_seeds_tells_apart_runs_made_with_different_method_defaults(
    finished: Path, tmp_path: Path, capsys
) -> None:
    """config.yaml holds only the settings given; a default that changed between two runs shows only in
    the method_config each run records, and the report must not average such runs as one."""
    assert "method_config" in json.loads((finished / "environment.json").read_text())
    method_config, key = {"strength": 1.0, "kind": "mean"}, "strength"  # as a method with settings records
    folders = []
    for name, seed, value in (("a0", 0, 1.0), ("a1", 1, 1.0), ("b0", 0, 0.123)):
        folder = tmp_path / name
        shutil.copytree(finished, folder)
        config = folder / "config.yaml"
        config.write_text(re.sub("^seed: 0$", f"seed: {seed}", config.read_text(), flags=re.MULTILINE))
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**metrics, "seed": seed}))
        environment = json.loads((folder / "environment.json").read_text())
        environment["method_config"] = {**method_config, key: value}
        (folder / "environment.json").write_text(json.dumps(environment))
        folders.append(str(folder))
    assert main(["report", "--over-seeds", *folders]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| done")]
    assert [(row[1], row[-1]) for row in rows] == [
        ("2", f"method_args.{key}=1.0 |"),
        ("1", f"method_args.{key}=0.123 |"),
    ]


def test_reports_define_their_metrics(finished: Path, capsys) -> None:
    assert "BWT: mean change" in (finished / "report.md").read_text()
    assert main(["report", str(finished), "--plot", str(finished.parent / "seen.png")]) == 0
    out = capsys.readouterr().out
    assert "FWT:" in out and f"plot: {finished.parent / 'seen.png'}" in out
    assert (finished.parent / "seen.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["report", str(finished), "--plot", str(finished.parent / "seen.txt")]) == 2
    assert "--plot" in capsys.readouterr().err and not (finished.parent / "seen.txt").exists()


def test_report_names_runs_and_shows_the_settings_that_differ(finished: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "hat-fast"
    shutil.copytree(finished, other)
    config = other / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.001", "lr: 0.01"))
    metrics = json.loads((other / "metrics.json").read_text())
    (other / "metrics.json").write_text(json.dumps({**metrics, "name": "hat-fast"}))
    assert main(["report", str(finished), str(other)]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert table[0].endswith("| settings that differ |")
    assert table[2].startswith("| done |") and table[2].endswith("| training.lr=0.001 |")
    assert table[3].startswith("| hat-fast |") and table[3].endswith("| training.lr=0.01 |")
