"""Shared by the LoRA-family methods (seq_lora, inc_lora, o_lora, inf_lora): LoRA adapters from stock
PEFT in a frozen body, with the settings of ``model.lora`` (PEFT's defaults where it is not set).

``IncrementalLora`` is the family's common structure: a new adapter per task, earlier ones frozen, all
of them active and summed, in training as at inference, so no task id is needed to answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import nn

from lifelong.data.task import Task
from lifelong.methods.base import Method
from lifelong.models.lora import (
    SHARED,
    LoraSettings,
    activate,
    adapter_names,
    adapter_parameters,
    add_adapter,
    remove_adapter,
    set_trainable,
)


class LoraMethod(Method):
    """A method that trains LoRA adapters only (and the task heads of a classifier)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.learner.lora = self.learner.lora or LoraSettings()  # model.lora, or PEFT's defaults

    @property
    def body(self) -> nn.Module:
        return self.learner.body


def task_adapter(index: int) -> str:
    """The adapter of the ``index``-th task: named by position, so a rebuilt learner gets the same names."""
    return f"task{index}"


class IncrementalLora(LoraMethod):
    """A new LoRA per task; the earlier ones are frozen; all are summed (no task id at inference)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        remove_adapter(self.body, SHARED)  # a LoRA learner's one shared adapter: this family has its own

    def grow(self, task: Task) -> None:
        known = any(t.name == task.name for t in self.tasks)
        super().grow(task)
        if known:
            return
        index = len(self.tasks) - 1
        add_adapter(self.body, task_adapter(index), self.learner.lora)
        activate(self.body, [task_adapter(i) for i in range(index + 1)])

    @property
    def current(self) -> str:
        return task_adapter(len(self.tasks) - 1)

    def earlier(self) -> list[str]:
        return [name for name in adapter_names(self.body) if name != self.current]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The current task's adapter and head; the body and every earlier adapter stay as they are."""
        chosen = adapter_parameters(self.body, self.current) + self.learner.head_parameters(self.tasks[-1])
        return iter(set_trainable(self.learner, chosen))
