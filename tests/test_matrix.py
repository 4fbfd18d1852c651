"""Every registered method in every scenario it declares runs end to end on the built-in stream with a
tiny model; every scenario it does not declare is refused with one message before any training. The
matrix comes from the registry, so a new method is covered without editing this file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifelong.config import load_config
from lifelong.data.builtin import builtin_stream
from lifelong.errors import ConfigError
from lifelong.methods import METHODS
from lifelong.runs import run

SCENARIOS = ("task", "domain", "class")
MODELS = {"classifier": "tiny-bert", "text2text": "tiny-gpt2", "mlm": "tiny-bert"}


def _kind(method: str) -> str:
    kinds = METHODS.get(method).learner_kinds
    return next(k for k in ("classifier", "text2text", "mlm") if k in kinds)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two corpus tasks made of built-in sentences (for methods that only post-train masked LMs)."""
    root = tmp_path_factory.mktemp("corpora")
    stream = builtin_stream(seed=0, n_train=32, n_eval=8)
    for task in stream.tasks[:2]:
        folder = root / task.name
        folder.mkdir()
        for split in ("train", "dev"):
            rows = task.split("train" if split == "train" else "test")
            (folder / f"{split}.jsonl").write_text(
                "".join(json.dumps({"text": ex.text}) + "\n" for ex in rows)
            )
    return root


def _overrides(method: str, scenario: str, corpus: Path) -> list[str]:
    kind = _kind(method)
    base = [
        f"method={method}",
        f"model.name={MODELS[kind]}",
        f"model.kind={kind}",
        "model.max_length=32",
        "model.max_answer_length=4",
        "training.epochs=1",
        "training.batch_size=8",
        "stream.max_train=24",
        "stream.max_eval=8",
        "stream.max_dev=8",
    ]
    if kind == "mlm":
        specs = [
            {"name": n, "kind": "corpus", "path": str(corpus / n), "splits": ["train", "dev"]}
            for n in ("topic", "sentiment")
        ]
        return [*base, f"stream.tasks={json.dumps(specs)}", "end_task.enabled=false"]
    benchmark = "builtin-domain" if scenario == "domain" else "builtin"
    tasks = "" if scenario == "domain" else "stream.tasks=[topic, sentiment]"
    extra = [f"stream.scenario={scenario}", f"stream.benchmark={benchmark}"]
    return [
        *base,
        *extra,
        *([tasks] if tasks else []),
        *(["stream.max_train=12"] if scenario == "domain" else []),
    ]


CASES = [(m, s) for m, cls in METHODS.items() for s in SCENARIOS if s in cls.scenarios]
REFUSED = [(m, s) for m, cls in METHODS.items() for s in SCENARIOS if s not in cls.scenarios]


@pytest.mark.parametrize(("method", "scenario"), CASES)
def test_every_method_runs_in_every_scenario_it_declares(
    method: str, scenario: str, corpus_dir: Path, tmp_path: Path
) -> None:
    if _kind(method) == "mlm" and scenario != "task":
        pytest.skip("corpus tasks form a task-incremental stream")
    metrics = run(load_config(None, _overrides(method, scenario, corpus_dir)), out=tmp_path / "r")
    assert len(metrics["matrix"]) == len(metrics["tasks"]) + 1 >= 3
    assert metrics["scenario"] == scenario and (tmp_path / "r" / "report.md").is_file()


@pytest.mark.parametrize(("method", "scenario"), REFUSED)
def test_an_undeclared_scenario_is_refused_before_training(
    method: str, scenario: str, corpus_dir: Path, tmp_path: Path
) -> None:
    overrides = _overrides(method, scenario, corpus_dir)
    if _kind(method) == "mlm":
        pytest.skip("corpus tasks form a task-incremental stream")
    with pytest.raises(ConfigError, match=f"does not support the {scenario}-incremental scenario"):
        run(load_config(None, overrides), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
