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

from lifelong.data.spec import FIELD_KEYS, spec_fields
from lifelong.data.task import Task
from lifelong.errors import ConfigError, UnknownNameError
from lifelong.io import read_text
from lifelong.registry import Registry
from lifelong.schema import check_type, unknown_key

SCENARIOS = ("task", "domain", "class")

TOP_KEYS = frozenset(
    {"name", "description", "citation", "scenario", "default_order", "orders", "tasks", "defaults"}
)
# Every key a task may have and its type come from the TaskSpec dataclass (``lifelong list --spec``).
CUSTOM_TASK_KEYS = frozenset(spec_fields())
TASK_KEYS = CUSTOM_TASK_KEYS - {"name"}  # a benchmark's tasks are named by their key


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
    """Check one task spec against :class:`~lifelong.data.spec.TaskSpec` (keys, types, values) and the
    rules between keys; returns it with numbers read. ``where`` prefixes errors."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a task spec must be a mapping, got {type(spec).__name__}")
    allowed = CUSTOM_TASK_KEYS if custom else TASK_KEYS
    hints = spec_fields()
    for key, value in spec.items():
        if key not in allowed:
            raise unknown_key(str(key), allowed, location=where)
        try:
            spec[key] = check_type(value, hints[key][0], str(key))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}".replace("config key ", "key ")) from None
    if custom and not isinstance(spec.get("name"), str):
        raise ConfigError(f"{where}: a custom task needs a 'name' (string)")
    if needs_path and "path" not in spec:
        raise ConfigError(f"{where}: missing 'path' (a folder with train/dev/test files, or split: file)")
    path = spec.get("path")
    if isinstance(path, dict):
        for split in path:
            if split not in ("train", "dev", "test"):
                raise ConfigError(f"{where}: unknown split {split!r} in 'path' (use train, dev, test)")
    splits = spec.get("splits")
    if splits is not None:
        if not splits:
            raise ConfigError(
                f"{where}: 'splits' must list split names (or map split -> hf split for format hf)"
            )
        for split in splits:
            if split not in ("train", "dev", "test"):
                raise ConfigError(f"{where}: unknown split {split!r} in 'splits' (use train, dev, test)")
    fields = spec.get("fields")
    if fields is not None:
        for key in fields:
            if key not in FIELD_KEYS:
                raise unknown_key(str(key), FIELD_KEYS, prefix="fields.", location=where)
    labels = spec.get("labels")
    if labels is not None and not labels:
        raise ConfigError(f"{where}: 'labels' must be a non-empty list")
    if labels is not None and len(set(map(str, labels))) != len(labels):
        raise ConfigError(f"{where}: 'labels' has duplicates: {labels}")
    for key in ("test_fraction", "dev_fraction"):
        value = spec.get(key)
        if value is not None and not 0 < value < 1:
            raise ConfigError(f"{where}: {key!r} must be a number between 0 and 1, got {value!r}")
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
