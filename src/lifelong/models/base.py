"""The learner: a model plus everything needed to turn a task's examples into a loss and into answers.

Three kinds share this interface, so methods and the trainer never ask which one they hold:
``classifier`` (encoder + heads), ``text2text`` (causal LM answering in QA format) and ``mlm``
(masked LM trained on corpus tasks).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lifelong.data.task import Example, Task

Row = dict[str, Any]
"""One encoded training example: python lists of token ids plus ``task_index`` (see each learner)."""


def pad_right(seqs: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists as one right-padded ``[n, longest]`` tensor, and the attention mask (1 = real)."""
    width = max(len(s) for s in seqs)
    padded = torch.full((len(seqs), width), value, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        attention[i, : len(s)] = 1
    return padded, attention


@dataclass
class LearnerOutput:
    loss: torch.Tensor
    logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


class Learner(nn.Module, ABC):
    kind: str = "base"

    def __init__(self, tokenizer: Any, max_length: int):
        super().__init__()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.task_specs: list[Task] = []
        self._warned_truncation = False
        self.eval_batch_size = 64
        self.bf16 = True  # autocast for evaluation and generation; the trainer sets it from the config

    # structure
    def grow(self, task: Task) -> None:
        """Make room for a new task (heads, label space). Default: just remember it."""
        if any(t.name == task.name for t in self.task_specs):
            return
        self.task_specs.append(task)

    def task_index(self, name: str) -> int:
        for i, t in enumerate(self.task_specs):
            if t.name == name:
                return i
        raise KeyError(f"the learner has not seen task {name!r}")

    # data
    @abstractmethod
    def encode(self, task: Task, examples: list[Example]) -> list[Row]:
        """Examples -> training rows (token ids, labels, task_index)."""

    @abstractmethod
    def collate(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """Rows -> a padded batch of tensors."""

    @abstractmethod
    def forward(self, batch: dict[str, torch.Tensor]) -> LearnerOutput: ...

    # answers
    @abstractmethod
    def predict(self, task: Task, examples: list[Example]) -> list[str]:
        """The model's answer (a label name or answer text) for each example."""

    def evaluate(self, task: Task, examples: list[Example]) -> dict[str, float]:
        from lifelong.evaluation.scoring import score_task

        return score_task(task, examples, self.predict(task, examples))

    # helpers
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def warn_truncation(self, n_tokens: int) -> None:
        if not self._warned_truncation:
            import logging

            logging.getLogger("lifelong").warning(
                "a text of %d tokens is longer than max_length=%d; truncating (warned once)",
                n_tokens,
                self.max_length,
            )
            self._warned_truncation = True
