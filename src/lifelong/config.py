"""Run configuration: dataclasses built from YAML and ``--set key=value`` overrides.

An unknown key anywhere is an error that names the key (and suggests the closest one)."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lifelong.data.stream import StreamConfig
from lifelong.errors import ConfigError
from lifelong.evaluation.end_task import EndTaskConfig


@dataclass
class ModelConfig:
    name: str = "tiny-bert"
    kind: str = "auto"  # auto | classifier | text2text | mlm
    max_length: int = 128
    pooling: str = "mean"  # classifier: mean | cls
    max_answer_length: int = 24  # text2text: fixed decoding budget, never derived from test answers
    dropout: float | None = None  # every dropout rate of the model; None keeps the model's own


@dataclass
class TrainingConfig:
    epochs: int = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    bf16: bool = True
    log_every: int = 50
    trackers: list[str] = field(default_factory=list)  # tensorboard | wandb (through Accelerate)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    method: str = "finetune"
    method_args: dict[str, Any] = field(default_factory=dict)
    stream: StreamConfig = field(default_factory=lambda: StreamConfig(benchmark="builtin"))
    training: TrainingConfig = field(default_factory=TrainingConfig)
    end_task: EndTaskConfig = field(default_factory=EndTaskConfig)  # how corpus tasks' end tasks are scored
    seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        named_tasks = self.stream.tasks is None or all(isinstance(t, str) for t in self.stream.tasks)
        if self.stream.benchmark is None and named_tasks:
            self.stream.benchmark = "builtin"  # task names without a benchmark: the built-in stream

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_type(value, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key}: {value!r} is not a valid {hint}")
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key}: expected a list, got {value!r}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key}: expected a mapping, got {value!r}")
        return value
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        except ValueError:
            pass
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ConfigError(f"config key {key}: {value!r} is not a valid {getattr(hint, '__name__', hint)}")


def build_dataclass(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Recursively build ``cls`` from a mapping; unknown keys and wrong types name the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"config key {prefix or '(top level)'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {prefix}{close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown config key {full!r}.{hint} Known keys here: {', '.join(sorted(known))}"
            )
        hint_t = hints[key]
        if dataclasses.is_dataclass(hint_t):
            kwargs[key] = build_dataclass(hint_t, value or {}, prefix=f"{full}.")
        else:
            kwargs[key] = _check_type(value, hint_t, full)
    return cls(**kwargs)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """``a.b.c=value`` (value parsed as YAML) into a nested mapping."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a section")
    node[parts[-1]] = _parse_value(raw)


def _parse_value(raw: str) -> Any:
    """YAML, except that YAML 1.1 reads '2e-3' as a string: numbers should be numbers."""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: malformed YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:
        return build_dataclass(RunConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
