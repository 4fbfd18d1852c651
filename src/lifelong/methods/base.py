"""The method protocol: a continual-learning method is a short class that fills in a few named hooks.

The trainer calls the hooks in this order for every task::

    method.grow(task)                      # structural: heads, tokens, plugins, task embeddings (also on restore)
    if not method.trains_stage(last):      # a stage the method leaves out: neither trained nor scored
        continue
    rows = method.before_task(task, rows)  # data: replay memory, pseudo-samples, all tasks so far ...
    for each batch:
        method.before_forward(step)        # e.g. anneal HAT's s
        out = model(batch)
        loss = method.loss(batch, out, step)
        backward
        # the three gradient hooks run once per optimizer update, on the complete accumulated gradient
        method.after_backward(step)        # gradient masks (then gradients are clipped)
        method.before_step(step); optimizer.step(); method.after_step(step)
    method.after_task(task, rows)          # Fisher, memory, cumulative masks
    method.evaluate(task, split) for every task seen -> one row of the score matrix

The trainer never branches on a method's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from lifelong.errors import ConfigError
from lifelong.registry import Registry
from lifelong.schema import build_dataclass, check

if TYPE_CHECKING:
    from lifelong.context import RunContext
    from lifelong.data.task import Example, Scenario, Task
    from lifelong.models.base import Learner, Row

METHODS: Registry[type[Method]] = Registry("method")


@dataclass
class MethodConfig:
    """Hyper-parameters of a method; each method subclasses this with its own fields."""


@dataclass
class StepInfo:
    """Where the trainer is: lets hooks anneal schedules within an epoch."""

    task_index: int
    epoch: int
    batch: int  # index of the batch within the epoch
    batches_per_epoch: int
    global_step: int  # optimizer steps so far within the task


class Method:
    """Base class: plain sequential fine-tuning; subclasses override only the hooks they need."""

    name: ClassVar[str] = "base"
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    scenarios: ClassVar[frozenset[str]] = frozenset({"task", "domain", "class"})
    learner_kinds: ClassVar[frozenset[str]] = frozenset({"classifier", "text2text", "mlm"})
    trains: ClassVar[bool] = True  # False: a reference that never trains (the trainer skips the task)
    # the role this method plays in comparisons: "upper_bound" (joint training, MTL), "one" (an
    # independent model per task) or None; written to metrics.json and read by the report
    reference: ClassVar[str | None] = None
    # whether the model can answer a task it never trained on (eval_only probes); False for methods
    # that answer with a task's own trained parts (plugins, per-task copies)
    answers_unseen_tasks: ClassVar[bool] = True

    def __init__(self, learner: Learner, config: MethodConfig, ctx: RunContext):
        check(config, "method_args.")  # ranges hold for a config built in Python too
        self.learner = learner
        self.config = config
        self.ctx = ctx
        self.tasks: list[Task] = []  # tasks seen so far, in order

    # ---- structure -------------------------------------------------------------------------
    def grow(self, task: Task) -> None:
        """Add what a new task needs to the model. Must depend only on the task's spec, not its data,
        so that a saved learner can be rebuilt by replaying ``grow`` over its task list."""
        self.learner.grow(task)
        self.tasks.append(task)

    # ---- training hooks --------------------------------------------------------------------
    def trains_stage(self, last: bool) -> bool:
        """False: the session skips this stage (no training, no scores: its row stays NaN). ``last``
        says whether it is the stream's final stage."""
        return True

    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        """Return the rows to train on for this task (default: the task's own rows)."""
        return rows

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        return iter(self.learner.default_trainable())

    def learning_rates(self) -> dict[int, float]:
        """Own learning rates for some trainable parameters, by ``id``; the rest use training.lr.
        (HAT's task embeddings need a larger one: Adam normalises away its gradient compensation.)"""
        return {}

    def undecayed(self) -> frozenset[int]:
        """Trainable parameters, by ``id``, that weight decay must not touch (a table trained only in
        some rows: decay would shrink the others, which get no gradient)."""
        return frozenset()

    def clipped(self, params: list[nn.Parameter]) -> list[nn.Parameter]:
        """The parameters whose gradient norm ``training.max_grad_norm`` clips (HAT keeps its task
        embeddings out: their gradients are compensated on purpose)."""
        return params

    def before_forward(self, step: StepInfo) -> None:
        pass

    def loss(self, batch: dict[str, Any], output: Any, step: StepInfo) -> torch.Tensor:
        return output.loss

    def after_backward(self, step: StepInfo) -> None:
        pass

    def before_step(self, step: StepInfo) -> None:
        pass

    def after_step(self, step: StepInfo) -> None:
        pass

    def after_task(self, task: Task, rows: list[Row]) -> None:
        pass

    # ---- evaluation ------------------------------------------------------------------------
    def eval_context(self, task: Task) -> contextlib.AbstractContextManager:
        """Put the model in the state that answers ``task`` (a task mask, a per-task copy ...)."""
        return contextlib.nullcontext()

    def predict(self, task: Task, examples: list[Example]) -> list[str]:
        with self.eval_context(task):
            return self.learner.predict(task, examples)

    def label_scores(self, task: Task, examples: list[Example]) -> list[dict[str, float]]:
        with self.eval_context(task):
            return self.learner.label_scores(task, examples)

    def evaluate(self, task: Task, examples: list[Example]) -> dict[str, float]:
        with self.eval_context(task):
            return self.learner.evaluate(task, examples)

    def report_tables(self) -> list[dict[str, Any]]:
        """Tables a method adds to the run's report and metrics.json (e.g. LAMOL's pseudo-samples per
        stage): ``{"title", "columns", "rows", "note"?, "plot"?: {"x", "y", "ylabel"}}``, ``x`` and ``y``
        naming columns of a line plot drawn beside the report."""
        return []

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Method state beyond the learner's weights (memories, Fisher, masks); tensors and plain data."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ---- helpers ---------------------------------------------------------------------------
    @classmethod
    def check_compatible(cls, scenario: Scenario, learner_kind: str) -> None:
        if scenario not in cls.scenarios:
            raise ConfigError(
                f"method {cls.name!r} does not support the {scenario}-incremental scenario "
                f"(it supports: {', '.join(sorted(cls.scenarios))})"
            )
        if learner_kind not in cls.learner_kinds:
            raise ConfigError(
                f"method {cls.name!r} does not work with a {learner_kind} model "
                f"(it needs: {', '.join(sorted(cls.learner_kinds))})"
            )


def register_method(name: str):
    """Class decorator: register a method under ``name`` (and set its ``name``)."""

    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        return METHODS.register(name)(cls)

    return deco


def build_method_config(cls: type[Method], args: dict[str, Any]) -> MethodConfig:
    """``args`` checked against the method's config dataclass by the same rules as every other config
    key: an unknown key or a wrong type is a ConfigError naming ``method_args.<key>``."""
    try:
        return build_dataclass(cls.config_class, args, prefix="method_args.")
    except ConfigError as e:
        raise ConfigError(f"method {cls.name!r}: {e}") from None
