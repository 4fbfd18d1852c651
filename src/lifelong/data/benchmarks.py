"""Benchmark definitions: task lists, orders and label sets kept as data (YAML), validated on load.

A definition is a dict::

    name, description, scenario, default_order,
    orders: {order name: [task names]},
    tasks: {task name: task spec},   # spec keys: TASK_KEYS (``defaults`` are merged into every task)
    file (where it came from), generator (name of a generated benchmark, else None)

Generated benchmarks (no files, e.g. ``builtin``) register a :class:`GeneratedBenchmark` in a
:class:`~lifelong.registry.Registry` passed around explicitly; the package-level one is ``GENERATED``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lifelong.data.task import Task
from lifelong.errors import ConfigError, UnknownNameError
from lifelong.io import read_text
from lifelong.registry import Registry
from lifelong.schema import unknown_key

KINDS = ("classification", "qa", "corpus", "dst")
SCENARIOS = ("task", "domain", "class")
FORMATS = ("jsonl", "csv", "tsv", "json", "txt", "squad", "woz", "hf")
FIELD_KEYS = ("text", "text_pair", "aspect", "label", "question", "answers", "id")

TOP_KEYS = frozenset(
    {"name", "description", "citation", "scenario", "default_order", "orders", "tasks", "defaults"}
)
# The task spec: every key a task may have (in a benchmark YAML, or in stream.tasks), and what it means.
# `lifelong list --spec` prints this; the README shows one example per kind.
TASK_SPEC = {
    "name": "the task's name (stream.tasks only; a benchmark's tasks are named by their key)",
    "kind": "classification (default) | qa | corpus | dst",
    "path": "a folder with train/dev/test files, one file (its split from its name, or `splits: [test]`), "
    "or a mapping split -> file; relative paths are under the data directory",
    "format": "jsonl | csv | tsv | json | txt | squad | woz | hf (default: from the file suffix)",
    "fields": "example field -> file column (fields: text, text_pair, aspect, label, question, answers, id)",
    "columns": "column names of a headerless CSV/TSV file",
    "labels": "the label set, in output order (default: the labels found in the first split read)",
    "label_map": "file value -> label name (e.g. {1: positive, 0: negative})",
    "question": "the question a text-to-text model is asked (classification cast to QA)",
    "metric": "the task's primary metric (default: accuracy; f1 for qa, perplexity for corpus, ds_em for dst)",
    "splits": "which splits to read (default train, dev, test; for format hf: split -> hub split name)",
    "hf_config": "the dataset configuration of a Hugging Face dataset (format hf)",
    "end_task": "corpus tasks: a labelled task spec that scores the domain by fine-tuning a copy",
    "test_fraction": "carve this share of the train rows into the test split (seeded by the task name)",
    "dev_fraction": "carve this share of the train rows into the dev split (seeded by the task name)",
    "eval_only": "true: a held-out probe, scored at every stage and never trained (needs a test or dev split only)",
    "description": "free text",
}
TASK_KEYS = frozenset(TASK_SPEC) - {"name"}
# A custom task spec in a stream config also names itself.
CUSTOM_TASK_KEYS = TASK_KEYS | {"name"}


@dataclass(frozen=True)
class GeneratedBenchmark:
    """A benchmark made by code from a seed: its definition, and how to build one task of it."""

    definition: dict[str, Any]
    make_task: Callable[..., Task]  # (name, *, seed, n_train, n_dev, n_test) -> Task


GENERATED: Registry[GeneratedBenchmark] = Registry("generated benchmark")


def _package_dir() -> Path:
    return Path(str(resources.files("lifelong") / "benchmarks"))


def list_benchmarks(generated: Registry[GeneratedBenchmark] = GENERATED) -> list[str]:
    """Names accepted by :func:`load_benchmark_def`: the shipped YAML files and the generated ones."""
    shipped = {p.stem for p in _package_dir().glob("*.yaml")}
    return sorted(shipped | set(generated))


def validate_task_spec(
    spec: Any, where: str, *, custom: bool = False, needs_path: bool = True
) -> dict[str, Any]:
    """Check one task spec (keys, kind, format, types); returns it unchanged. ``where`` prefixes errors."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a task spec must be a mapping, got {type(spec).__name__}")
    allowed = CUSTOM_TASK_KEYS if custom else TASK_KEYS
    for key in spec:
        if key not in allowed:
            raise unknown_key(str(key), allowed, location=where)
    if custom and not isinstance(spec.get("name"), str):
        raise ConfigError(f"{where}: a custom task needs a 'name' (string)")
    kind = spec.get("kind", "classification")
    if kind not in KINDS:
        raise UnknownNameError("task kind", str(kind), KINDS)
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise UnknownNameError("data format", str(fmt), FORMATS)
    if needs_path and "path" not in spec:
        raise ConfigError(f"{where}: missing 'path' (a folder with train/dev/test files, or split: file)")
    path = spec.get("path")
    if path is not None and not isinstance(path, str | dict):
        raise ConfigError(f"{where}: 'path' must be a string or a mapping split -> file")
    if isinstance(path, dict):
        for split in path:
            if split not in ("train", "dev", "test"):
                raise ConfigError(f"{where}: unknown split {split!r} in 'path' (use train, dev, test)")
    splits = spec.get("splits")
    if splits is not None:
        if not isinstance(splits, list | dict) or not splits:
            raise ConfigError(
                f"{where}: 'splits' must list split names (or map split -> hf split for format hf)"
            )
        for split in splits:
            if split not in ("train", "dev", "test"):
                raise ConfigError(f"{where}: unknown split {split!r} in 'splits' (use train, dev, test)")
    fields = spec.get("fields")
    if fields is not None:
        if not isinstance(fields, dict):
            raise ConfigError(f"{where}: 'fields' must map example fields to file columns")
        for key in fields:
            if key not in FIELD_KEYS:
                raise unknown_key(str(key), FIELD_KEYS, prefix="fields.", location=where)
    labels = spec.get("labels")
    if labels is not None and (not isinstance(labels, list) or not labels):
        raise ConfigError(f"{where}: 'labels' must be a non-empty list")
    if labels is not None and len(set(map(str, labels))) != len(labels):
        raise ConfigError(f"{where}: 'labels' has duplicates: {labels}")
    label_map = spec.get("label_map")
    if label_map is not None and not isinstance(label_map, dict):
        raise ConfigError(f"{where}: 'label_map' must be a mapping file value -> label")
    for key in ("test_fraction", "dev_fraction"):
        value = spec.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1
        ):
            raise ConfigError(f"{where}: {key!r} must be a number between 0 and 1, got {value!r}")
    if "eval_only" in spec and not isinstance(spec["eval_only"], bool):
        raise ConfigError(f"{where}: 'eval_only' must be true or false")
    if spec.get("end_task") is not None:
        validate_task_spec(spec["end_task"], f"{where}: end_task", custom=True)
    return spec


def validate_definition(raw: Any, where: str, *, generated: bool = False) -> dict[str, Any]:
    """Normalise and check a benchmark definition read from ``where``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a benchmark definition must be a mapping")
    for key in raw:
        if key not in TOP_KEYS:
            raise unknown_key(str(key), TOP_KEYS, location=where)
    tasks_raw = raw.get("tasks")
    if not isinstance(tasks_raw, dict) or not tasks_raw:
        raise ConfigError(f"{where}: 'tasks' must be a non-empty mapping name -> task spec")
    defaults = raw.get("defaults") or {}
    validate_task_spec(defaults, f"{where}: defaults", needs_path=False)
    tasks: dict[str, dict[str, Any]] = {}
    for name, spec in tasks_raw.items():
        merged = {**copy.deepcopy(defaults), **(spec or {})}
        tasks[str(name)] = validate_task_spec(merged, f"{where}: task {name!r}", needs_path=not generated)
    orders_raw = raw.get("orders") or {}
    if not isinstance(orders_raw, dict):
        raise ConfigError(f"{where}: 'orders' must be a mapping name -> list of task names")
    orders: dict[str, list[str]] = {}
    for order, names in orders_raw.items():
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{where}: order {order!r} must be a non-empty list of task names")
        for name in names:
            if name not in tasks:
                raise ConfigError(f"{where}: order {order!r} names unknown task {name!r}")
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: order {order!r} lists a task twice")
        orders[str(order)] = [str(n) for n in names]
    default_order = raw.get("default_order")
    if default_order is not None and default_order not in orders:
        raise ConfigError(f"{where}: default_order {default_order!r} is not one of the orders {list(orders)}")
    scenario = raw.get("scenario", "task")
    if scenario not in SCENARIOS:
        raise UnknownNameError("scenario", str(scenario), SCENARIOS)
    return {
        "name": str(raw.get("name") or Path(where).stem),
        "description": raw.get("description", ""),
        "scenario": scenario,
        "default_order": default_order,
        "orders": orders,
        "tasks": tasks,
        "file": where,
        "generator": None,
    }


def _looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors become a ConfigError naming the file and line."""
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfigError(f"cannot read benchmark file {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{at}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None


def load_benchmark_def(
    name_or_path: str | Path, generated: Registry[GeneratedBenchmark] = GENERATED
) -> dict[str, Any]:
    """The validated definition of a shipped benchmark, a generated one, or a YAML file given by path."""
    name = str(name_or_path)
    if name in generated:
        definition = validate_definition(
            copy.deepcopy(generated.get(name).definition), f"<generated {name}>", generated=True
        )
        definition["generator"] = name
        return definition
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"benchmark file not found: {path}")
    else:
        path = _package_dir() / f"{name}.yaml"
        if not path.is_file():
            raise UnknownNameError("benchmark", name, list_benchmarks(generated))
    return validate_definition(read_yaml(path), str(path))
