"""The run configuration: one YAML file (or mapping) composed of each part's own config dataclass.

Validation and ``--set key=value`` overrides go through :mod:`lifelong.schema`, like every other
entry point's config; an unknown key anywhere is an error that names the key."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifelong.context import TrainingConfig
from lifelong.data.stream import StreamConfig, looks_like_path
from lifelong.methods import METHODS
from lifelong.methods.base import build_method_config
from lifelong.models.build import ModelConfig
from lifelong.models.end_task import EndTaskConfig
from lifelong.schema import apply_override, build_dataclass, load

__all__ = [
    "EndTaskConfig",
    "ModelConfig",
    "RunConfig",
    "StreamConfig",
    "TrainingConfig",
    "apply_override",
    "build_dataclass",
    "load_config",
]


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
    name: str | None = None  # the run's label in reports (default: the run folder's name)

    def __post_init__(self) -> None:
        named_tasks = self.stream.tasks is None or all(
            isinstance(t, str) and not looks_like_path(t) for t in self.stream.tasks
        )
        if self.stream.benchmark is None and named_tasks:
            self.stream.benchmark = "builtin"  # task names without a benchmark: the built-in stream
        # the method's own keys are checked here, with the rest of the config, before anything runs
        checked = build_method_config(METHODS.get(self.method), self.method_args)
        self.method_args = {key: getattr(checked, key) for key in self.method_args}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """A run config from an optional YAML file and ``--set`` overrides, checked once."""
    return load(RunConfig, path, overrides)
