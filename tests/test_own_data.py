"""Bringing your own data: paths that do what users mean, streams that mix a benchmark's tasks with
custom ones, and every task checked before any training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifelong.cli import main
from lifelong.config import load_config
from lifelong.data.stream import load_stream
from lifelong.errors import DataError

ROWS = [
    {"text": f"{w} film number {i}", "label": "pos" if w == "good" else "neg"}
    for i in range(6)
    for w in ("good", "bad")
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for split in ("train", "test"):
        _write(tmp_path / "reviews" / f"{split}.jsonl", ROWS)
    return tmp_path / "reviews"


def test_a_path_string_is_a_task_named_after_its_folder(folder: Path) -> None:
    config = load_config(None, [f"stream.tasks=[{folder}]"])
    assert config.stream.benchmark is None  # not silently the built-in stream
    (task,) = load_stream(config.stream).tasks
    assert task.name == "reviews" and len(task.split("train")) == 12 and task.labels == ("neg", "pos")


def test_a_file_path_is_the_split_it_is_named_after_or_the_one_given(folder: Path, tmp_path: Path) -> None:
    spec = {"name": "r", "path": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl")}}
    spec_file = {"name": "probe", "path": str(folder / "test.jsonl")}
    config = load_config(None, [f"stream.tasks={json.dumps([spec])}"])
    assert set(load_stream(config.stream).tasks[0].splits) == {"train", "test"}
    train_only = {
        "name": "t",
        "path": str(folder / "train.jsonl"),
    }  # a file named train.jsonl: the train split
    with pytest.raises(DataError, match="'t' has no non-empty test or dev split"):
        load_stream(load_config(None, [f"stream.tasks={json.dumps([train_only])}"]).stream)
    other = _write(tmp_path / "other.jsonl", ROWS)
    bad = load_config(None, [f"stream.tasks={json.dumps([{'name': 'o', 'path': str(other)}])}"])
    with pytest.raises(DataError, match="is a file; say which split"):
        load_stream(bad.stream)
    # a file holding only a test split cannot be trained: refused before any training, naming it
    only_test = load_config(None, [f"stream.tasks={json.dumps([spec_file])}"])
    with pytest.raises(DataError, match="'probe' has no train split"):
        load_stream(only_test.stream)


def test_streams_mix_benchmark_tasks_and_custom_specs(folder: Path, tmp_path: Path, capsys) -> None:
    spec = {"name": "mine", "path": str(folder), "labels": ["neg", "pos"]}
    overrides = [
        "stream.benchmark=builtin",
        f"stream.tasks={json.dumps(['topic', spec, str(folder)])}",
        "stream.max_train=8",
        "stream.max_eval=4",
    ]
    with pytest.raises(
        Exception, match="appears twice"
    ):  # 'mine' and 'reviews' are fine; reviews twice is not
        load_stream(
            load_config(
                None, [*overrides[:1], f"stream.tasks={json.dumps([str(folder), str(folder)])}"]
            ).stream
        )
    tasks = load_stream(load_config(None, overrides).stream).tasks
    assert [t.name for t in tasks] == ["topic", "mine", "reviews"]
    assert len(tasks[1].split("train")) == 8  # the stream's caps apply to custom tasks too
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--set", "model.name=tiny-bert", "--set", "training.epochs=1"]
    assert main([*argv, *sum((["--set", o] for o in overrides), [])]) == 0
    assert json.loads((out / "metrics.json").read_text())["tasks"] == ["topic", "mine", "reviews"]


def test_a_corpus_tasks_end_task_keeps_its_own_size(folder: Path) -> None:
    spec = {
        "name": "corp",
        "kind": "corpus",
        "path": str(folder),
        "end_task": {"name": "corp-end", "path": str(folder), "labels": ["neg", "pos"]},
    }
    config = load_config(
        None, [f"stream.tasks={json.dumps([spec])}", "stream.max_train=4", "stream.max_eval=2"]
    )
    (task,) = load_stream(config.stream).tasks
    assert len(task.split("train")) == 4
    assert len(task.end_task.split("train")) == 12 and len(task.end_task.split("test")) == 12


def test_row_ranges_carve_splits_from_one_file(tmp_path: Path) -> None:
    whole = _write(tmp_path / "all.jsonl", ROWS)
    spec = {"name": "carved", "path": {"train": f"{whole}[:8]", "test": f"{whole}[8:]"}}
    (task,) = load_stream(load_config(None, [f"stream.tasks={json.dumps([spec])}"]).stream).tasks
    assert [ex.text for ex in task.split("train")] == [r["text"] for r in ROWS[:8]]
    assert [ex.text for ex in task.split("test")] == [r["text"] for r in ROWS[8:]]
    assert task.source["path"]["train"].endswith("all.jsonl[:8]")


def _squad(path: Path) -> Path:
    qas = [
        {"id": str(i), "question": "Who found the kite?", "answers": [{"text": name, "answer_start": 0}]}
        for i, name in enumerate(["Anna", "Ben", "Cleo"])
    ]
    paragraphs = [{"context": f"{q['answers'][0]['text']} found the kite.", "qas": [q]} for q in qas]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": [{"title": "kites", "paragraphs": paragraphs}]}))
    return path


def test_an_eval_only_squad_file_is_scored_at_every_stage_and_never_trained(tmp_path: Path, capsys) -> None:
    probe = {
        "name": "mlqa",
        "kind": "qa",
        "path": str(_squad(tmp_path / "mlqa" / "test.json")),
        "eval_only": True,
    }
    overrides = [
        "model.name=tiny-gpt2",
        "model.max_answer_length=4",
        "stream.benchmark=builtin",
        f"stream.tasks={json.dumps(['topic', 'sentiment', probe])}",
        "stream.max_train=16",
        "stream.max_eval=4",
        "training.epochs=1",
    ]
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *sum((["--set", o] for o in overrides), [])]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tasks"] == ["topic", "sentiment"]  # trained tasks only in the matrix
    scores = metrics["probes"]["mlqa"]["scores"]
    assert metrics["probes"]["mlqa"]["metric"] == "f1" and len(scores) == 3  # before, after 1, after 2
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert "Evaluation-only tasks" in (out / "report.md").read_text()
    # a later `learn` keeps scoring the probe: one more row, the earlier ones untouched
    assert main(["learn", str(out), "--task", "color"]) == 0
    later = json.loads((out / "metrics.json").read_text())
    assert later["tasks"] == ["topic", "sentiment", "color"]
    assert later["probes"]["mlqa"]["scores"][:3] == scores and len(later["probes"]["mlqa"]["scores"]) == 4
    # a task-incremental classifier has no head for a task it never trained: refused before any folder
    classifier = [o.replace("tiny-gpt2", "tiny-bert") for o in overrides]
    assert main(["run", "--out", str(tmp_path / "r2"), *sum((["--set", o] for o in classifier), [])]) == 2
    assert "eval_only" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_fractions_carve_test_and_dev_from_train_deterministically(tmp_path: Path) -> None:
    _write(tmp_path / "only" / "train.jsonl", ROWS)
    spec = {"name": "only", "path": str(tmp_path / "only"), "test_fraction": 0.25, "dev_fraction": 0.25}
    config = load_config(None, [f"stream.tasks={json.dumps([spec])}"])
    a, b = load_stream(config.stream).tasks[0], load_stream(config.stream).tasks[0]
    assert (len(a.split("train")), len(a.split("test")), len(a.split("dev"))) == (6, 3, 3)
    assert a.split("test") == b.split("test") and a.split("dev") == b.split("dev")
    assert not {ex.text for ex in a.split("test")} & {ex.text for ex in a.split("train")}


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ({"name": "o", "path": "{other}"}, ["is a file; say which split"]),
        ({"name": "p", "path": "{test}"}, ["'p' has no train split", "eval_only"]),
        ({"name": "q", "path": "{folder}", "test_fraction": 1.5}, ["test_fraction", "between 0 and 1"]),
        ({"name": "r", "path": "{folder}", "eval_only": "yes"}, ["eval_only", "true or false"]),
    ],
)
def test_bad_task_specs_exit_2_and_write_nothing(
    folder: Path, tmp_path: Path, capsys, spec: dict, needles: list[str]
) -> None:
    paths = {"other": _write(tmp_path / "other.jsonl", ROWS), "test": folder / "test.jsonl", "folder": folder}
    spec = {k: v.format(**paths) if isinstance(v, str) else v for k, v in spec.items()}
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--set", f"stream.tasks={json.dumps([spec])}"]) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in needles), err
    assert not out.exists()


def test_every_problem_of_a_stream_is_reported_at_once(folder: Path, tmp_path: Path, capsys) -> None:
    specs = [
        {"name": "fine", "path": str(folder)},
        {"name": "missing", "path": str(tmp_path / "nowhere")},
        {"name": "probe", "path": str(folder / "test.jsonl")},  # a test file and not eval_only
    ]
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--set", f"stream.tasks={json.dumps(specs)}"]) == 2
    err = capsys.readouterr().err
    assert "2 problems in the stream" in err and "nowhere" in err and "'probe' has no train split" in err
    assert not out.exists()


def test_a_spec_value_of_the_wrong_type_names_the_task_and_key(folder: Path, capsys) -> None:
    spec = {"name": "t", "path": str(folder), "labels": "pos,neg"}
    assert main(["run", "--set", f"stream.tasks={json.dumps([spec])}"]) == 2
    err = capsys.readouterr().err
    assert "stream.tasks[0]" in err and "labels" in err and "expected a list" in err


def test_the_task_spec_is_one_dataclass_shown_as_text_and_json_schema(capsys) -> None:
    from lifelong.data.benchmarks import CUSTOM_TASK_KEYS
    from lifelong.data.spec import spec_fields

    assert main(["list", "--spec"]) == 0
    text = capsys.readouterr().out
    assert all(key in text for key in spec_fields()) and set(spec_fields()) == CUSTOM_TASK_KEYS
    assert main(["list", "--spec", "--json"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == set(spec_fields())
    assert schema["properties"]["kind"]["enum"] == ["classification", "qa", "corpus", "dst"]
    assert schema["properties"]["eval_only"]["type"] == "boolean"
