"""A stream of tasks and how to build one from a config: benchmark + order, or custom task specs.

Every task keeps a JSON-able ``source`` (see :func:`load_task_from_source`) so a saved learner can
rebuild exactly the same data later, including the subsampling.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from lifelong.data.benchmarks import (
    GENERATED,
    SCENARIOS,
    GeneratedBenchmark,
    load_benchmark_def,
    validate_task_spec,
)
from lifelong.data.files import env_data_dir, load_splits
from lifelong.data.loaders import SUFFIX_FORMATS
from lifelong.data.task import SPLITS, Example, Scenario, Task
from lifelong.errors import ConfigError, DataError, LifelongError, UnknownNameError
from lifelong.registry import Registry

DEFAULT_METRICS = {
    "classification": "accuracy",
    "qa": "f1",
    "dst": "ds_em",
    "corpus": "perplexity",
}
# split -> the StreamConfig / source key that caps it
SPLIT_CAPS = {"train": "max_train", "dev": "max_dev", "test": "max_eval"}


@dataclass
class Stream:
    """The ordered tasks a continual learner sees, and the scenario that says what it knows at test time."""

    name: str
    tasks: list[Task]
    scenario: Scenario = "task"
    merge_labels: bool = False  # class-incremental: a label name shared by tasks is one class

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise UnknownNameError("scenario", str(self.scenario), SCENARIOS)
        if not self.tasks:
            raise ConfigError(f"stream {self.name!r} has no tasks")
        seen: set[str] = set()
        for task in self.tasks:
            if task.name in seen:
                raise ConfigError(f"stream {self.name!r}: task name {task.name!r} appears twice")
            seen.add(task.name)
        if self.scenario == "domain":
            self._check_shared_labels()
        if self.scenario == "class" and not self.merge_labels:
            self._check_label_collisions()

    def _check_shared_labels(self) -> None:
        """Domain-incremental learning has one output space, so every classifier must share it."""
        first: Task | None = None
        for task in self.tasks:
            if task.kind != "classification":
                continue
            if first is None:
                first = task
            elif set(task.labels) != set(first.labels):
                raise ConfigError(
                    f"stream {self.name!r}: domain-incremental needs one label set, but task {first.name!r} "
                    f"has {list(first.labels)} and task {task.name!r} has {list(task.labels)}; "
                    f"use scenario 'task' or 'class'"
                )

    def _check_label_collisions(self) -> None:
        """Class-incremental learning grows one head over every task's labels; two tasks with the same
        label name would share an output without the user saying so (e.g. 'positive' for films and for
        phones), so that is an error unless the labels are renamed or the merge is asked for."""
        owner: dict[str, str] = {}
        for task in self.tasks:
            if task.kind != "classification":
                continue
            for label in task.labels:
                if label in owner:
                    raise ConfigError(
                        f"stream {self.name!r}: label {label!r} belongs to task {owner[label]!r} and to task "
                        f"{task.name!r}; in class-incremental learning that would be one class. Rename it "
                        f"with the task's label_map, or set stream.merge_labels: true if it is the same class"
                    )
                owner[label] = task.name

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise UnknownNameError("task", name, self.task_names)

    def all_labels(self) -> tuple[str, ...]:
        """Union of the label sets in stream order: the output space of class-incremental learning."""
        out: dict[str, None] = {}
        for t in self.tasks:
            out.update(dict.fromkeys(t.labels))
        return tuple(out)


def subsample(examples: Sequence[Example], n: int | None, seed: int, salt: str = "") -> list[Example]:
    """A label-stratified random subset of size ``n``, in the original order.

    The RNG depends only on ``seed`` and ``salt`` (e.g. "task/split"), so one task's subset never
    changes when other tasks are added or reordered.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n <= 0:
        return []
    rng = random.Random(f"{seed}:{salt}")
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.label or "", []).append(i)
    total = len(examples)
    exact = {lab: n * len(idx) / total for lab, idx in groups.items()}
    quota = {lab: int(q) for lab, q in exact.items()}
    by_remainder = sorted(groups, key=lambda lab: (-(exact[lab] - quota[lab]), lab))
    for lab in by_remainder[: n - sum(quota.values())]:
        quota[lab] += 1
    chosen: list[int] = []
    for lab in sorted(groups):
        chosen.extend(rng.sample(groups[lab], quota[lab]))
    return [examples[i] for i in sorted(chosen)]


@dataclass
class StreamConfig:
    """What stream to build: a benchmark with an order or task subset, or a list of custom task specs."""

    benchmark: str | None = None
    order: str | None = None
    tasks: list[str | dict[str, Any]] | None = None
    scenario: str | None = None
    max_train: int | None = None
    max_dev: int | None = None
    max_eval: int | None = None
    seed: int = 0
    # the split every score matrix is computed on: "dev" for model selection (test is then dropped,
    # so it cannot be looked at), "test" for the reported numbers
    eval_split: Literal["test", "dev"] = "test"
    # class-incremental: tasks that share a label name share that class (e.g. star ratings of two review
    # sites); without it, a shared name is an error
    merge_labels: bool = False

    def __post_init__(self) -> None:
        for name in ("max_train", "max_dev", "max_eval"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ConfigError(f"stream.{name} must be a positive integer or empty, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"stream.seed must be an integer, got {self.seed!r}")
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise UnknownNameError("scenario", str(self.scenario), SCENARIOS)
        if self.tasks is not None and (not isinstance(self.tasks, list) or not self.tasks):
            raise ConfigError("stream.tasks must be a non-empty list of task names or task specs")
        if self.order is not None and self.tasks is not None:
            raise ConfigError("give either stream.order or stream.tasks, not both")
        if self.benchmark is None and self.order is not None:
            raise ConfigError("stream.order needs a stream.benchmark")

    def caps(self) -> dict[str, Any]:
        return {
            "max_train": self.max_train,
            "max_dev": self.max_dev,
            "max_eval": self.max_eval,
            "seed": self.seed,
            **({"eval_split": "dev"} if self.eval_split == "dev" else {}),
        }


def _load_file_task(source: dict[str, Any], data_dir: Path | None) -> Task:
    name = source["name"]
    kind = source.get("kind", "classification")
    splits, where, labels = load_splits(name, source, data_dir)
    for split, rows in splits.items():
        if not rows:
            raise DataError(f"task {name!r}: split {split!r} is empty after loading {where[split]}")
        cap = source.get(SPLIT_CAPS.get(split, ""))
        splits[split] = subsample(rows, cap, int(source.get("seed", 0)), salt=f"{name}/{split}")
    source["labels"] = labels
    end_task = None
    if source.get("end_task"):
        if source.get("eval_split") == "dev":  # selection runs never see the end task's test split either
            source["end_task"] = {**source["end_task"], "eval_split": "dev"}
        end_task = load_task_from_source(source["end_task"], data_dir)
        source["end_task"] = end_task.source
    return Task(
        name=name,
        kind=kind,
        splits=splits,
        labels=tuple(labels or ()),
        metric=source.get("metric") or DEFAULT_METRICS[kind],
        question=source.get("question"),
        source=source,
        end_task=end_task,
    )


def load_task_from_source(
    source: Mapping[str, Any],
    data_dir: str | Path | None = None,
    generated: Registry[GeneratedBenchmark] = GENERATED,
) -> Task:
    """Rebuild a task from its ``source`` spec (as stored in ``Task.source``).

    Two shapes: ``{"generator": "builtin", "name", "seed", "max_train", "max_dev", "max_eval"}`` for
    generated tasks, or a file spec ``{"name", "kind", "path", "format", "fields", "columns", "labels",
    "question", "metric", "label_map", "splits", "hf_config", "end_task", "benchmark", "max_train",
    "max_dev", "max_eval", "seed"}`` where a relative ``path`` is under the data directory.
    """
    source = copy.deepcopy(dict(source))
    if source.get("generator"):
        gen = generated.get(source["generator"])
        task = gen.make_task(
            source["name"],
            seed=int(source.get("seed", 0)),
            n_train=source.get("max_train"),
            n_dev=source.get("max_dev"),
            n_test=source.get("max_eval"),
        )
        task.source = source
        return _held_out(task)
    root = Path(data_dir).expanduser() if data_dir is not None else None
    return _held_out(_load_file_task(source, root))


def _problems(tasks: list[Task]) -> list[str]:
    """What keeps the loaded tasks of a stream from being trained and scored."""
    if tasks and all(task.eval_only for task in tasks):
        return ["every task of the stream is eval_only: there is nothing to train on"]
    problems = []
    for task in tasks:
        where = task.source.get("path", task.source.get("benchmark", "built-in"))
        if not task.eval_only and not task.splits.get("train"):
            problems.append(
                f"task {task.name!r} has no train split (source: {where}); mark a held-out probe eval_only: true"
            )
        try:
            task.eval_split()  # a test or dev split to score on, else a DataError naming the task
        except LifelongError as exc:
            problems.append(str(exc))
    return problems


def _load_all(makers: Sequence[Callable[[], Task]]) -> list[Task]:
    """Every task of a stream loaded and checked before any training starts; all problems reported at
    once, one line each, so a user fixes a config in one round instead of one per task."""
    tasks: list[Task] = []
    errors: list[LifelongError] = []
    for make in makers:
        try:
            tasks.append(make())
        except LifelongError as exc:
            errors.append(exc)
    problems = [str(e) for e in errors] + _problems(tasks)
    if not problems:
        return tasks
    if len(problems) == 1 and errors:
        raise errors[0]
    error = ConfigError if errors and all(isinstance(e, ConfigError) for e in errors) else DataError
    if len(problems) == 1:
        raise error(problems[0])
    lines = "\n".join(f"  - {p}" for p in problems)
    raise error(f"{len(problems)} problems in the stream (nothing was trained):\n{lines}")


def _held_out(task: Task) -> Task:
    """With ``eval_split: dev`` the test split is dropped, so selection runs cannot score on it."""
    if task.source.get("eval_split") == "dev":
        if not task.splits.get("dev"):
            raise DataError(f"task {task.name!r}: stream.eval_split is dev, but the task has no dev split")
        task.splits.pop("test", None)
    return task


def _select_names(bdef: Mapping[str, Any], cfg: StreamConfig) -> tuple[list[str], str | None]:
    bname = bdef["name"]
    if cfg.tasks is not None:
        names = []
        for item in cfg.tasks:
            if not isinstance(item, str) or looks_like_path(item):  # a custom spec mixed in
                names.append(item)
                continue
            if item not in bdef["tasks"]:
                raise UnknownNameError(f"{bname} task", item, bdef["tasks"])
            names.append(item)
        return names, None
    order = cfg.order or bdef.get("default_order")
    if order is None:
        return list(bdef["tasks"]), None
    if order not in bdef["orders"]:
        raise UnknownNameError(f"{bname} order", order, bdef["orders"])
    return list(bdef["orders"][order]), order


def _custom_path(raw: Any, data_dir: Path | None) -> Any:
    """Relative custom paths: under the data dir when they exist there, else made absolute from the cwd."""
    if isinstance(raw, Mapping):
        return {k: _custom_path(v, data_dir) for k, v in raw.items()}
    p = Path(str(raw)).expanduser()
    if p.is_absolute():
        return str(p)
    root = data_dir if data_dir is not None else env_data_dir()
    if root is not None and (root / p).exists():
        return str(p)
    if p.exists() or root is None:
        return str(p.resolve())
    return str(p)


def looks_like_path(item: Any) -> bool:
    """A task given as a string that names files (a folder or a data file), not a benchmark task."""
    if not isinstance(item, str):
        return False
    return "/" in item or "\\" in item or Path(item).suffix.lower() in SUFFIX_FORMATS or Path(item).exists()


def _custom_source(
    spec: Any, index: int, cfg: StreamConfig, data_dir: Path | None, capped: bool = True
) -> dict[str, Any]:
    """A custom task's source; an end task keeps its own sizes (the stream's caps are for the stream's
    tasks, as in the packaged CPT benchmark). A path string is a classification task named after it."""
    if looks_like_path(spec):
        path = Path(spec)
        spec = {
            "name": path.parent.name if path.name.split(".")[0] in SPLITS else path.name.split(".")[0],
            "path": spec,
        }
    if isinstance(spec, str):
        raise ConfigError(
            f"stream.tasks[{index}] is the task name {spec!r} but no stream.benchmark is given; "
            f"name a benchmark or give a task spec (name, kind, path, ...)"
        )
    validate_task_spec(spec, f"stream.tasks[{index}]", custom=True)
    source = copy.deepcopy(dict(spec))
    if source.get("format") != "hf":
        source["path"] = _custom_path(source["path"], data_dir)
    if source.get("end_task"):
        source["end_task"] = _custom_source(source["end_task"], index, cfg, data_dir, capped=False)
    source.setdefault("kind", "classification")
    if capped:
        source.update(cfg.caps())
    return source


def load_stream(
    cfg: StreamConfig,
    data_dir: str | Path | None = None,
    generated: Registry[GeneratedBenchmark] = GENERATED,
) -> Stream:
    """Build the stream ``cfg`` describes. No benchmark and no tasks means the built-in stream.

    ``data_dir`` (else $LIFELONG_DATA) is only needed by tasks read from relative paths.
    """
    root = Path(data_dir).expanduser() if data_dir is not None else None
    if cfg.benchmark is None and cfg.tasks is not None:

        def make_custom(i: int, spec: Any) -> Task:
            return load_task_from_source(_custom_source(spec, i, cfg, root), root, generated)

        tasks = _load_all([partial(make_custom, i, spec) for i, spec in enumerate(cfg.tasks)])
        return Stream(
            name="custom",
            tasks=tasks,
            scenario=cfg.scenario or "task",  # type: ignore[arg-type]
            merge_labels=cfg.merge_labels,
        )
    bdef = load_benchmark_def(cfg.benchmark or "builtin", generated)
    names, order = _select_names(bdef, cfg)

    def make(i: int, name: Any) -> Task:
        if not isinstance(name, str) or looks_like_path(name):  # a custom task in a benchmark's stream
            return load_task_from_source(_custom_source(name, i, cfg, root), root, generated)
        if bdef["generator"]:
            source: dict[str, Any] = {"generator": bdef["generator"], "name": name, **cfg.caps()}
        else:
            source = {
                "name": name,
                **copy.deepcopy(bdef["tasks"][name]),
                "benchmark": bdef["name"],
                **cfg.caps(),
            }
        return load_task_from_source(source, root, generated)

    tasks = _load_all([partial(make, i, name) for i, name in enumerate(names)])
    stream_name = f"{bdef['name']}:{order}" if order else bdef["name"]
    return Stream(
        name=stream_name,
        tasks=tasks,
        scenario=cfg.scenario or bdef["scenario"],  # type: ignore[arg-type]
        merge_labels=cfg.merge_labels,
    )
