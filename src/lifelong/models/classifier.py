"""Encoder + classification heads: one head per task (task-incremental), one shared head
(domain-incremental), or one head that grows with every new class (class-incremental)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.data.task import Example, Scenario, Task
from lifelong.errors import ConfigError
from lifelong.models.base import Learner, LearnerOutput, Row, pad_right


class EncoderClassifier(Learner):
    kind = "classifier"

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer,
        scenario: Scenario,
        max_length: int,
        pooling: str = "mean",
        **settings: Any,
    ):
        super().__init__(tokenizer, max_length, **settings)
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"model.pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.scenario = scenario
        self.pooling = pooling
        self.hidden = encoder.config.hidden_size
        self.heads = nn.ModuleList()
        self.head_labels: list[list[str]] = []  # label names of each head, in output order
        self.head_of_task: dict[str, int] = {}

    # ---- structure ---------------------------------------------------------------------------
    @property
    def body(self) -> nn.Module:
        return self.encoder  # the encoder

    def grow(self, task: Task) -> None:
        if task.name in self.head_of_task:
            return
        if task.kind != "classification":
            raise ConfigError(
                f"task {task.name!r} is {task.kind}; an encoder classifier learns classification tasks only"
            )
        if not task.labels:
            raise ConfigError(f"task {task.name!r} has no label set")
        super().grow(task)
        if self.scenario == "task" or not self.heads:
            self.heads.append(self._new_linear(len(task.labels)))
            self.head_labels.append(list(task.labels))
        elif self.scenario == "domain":
            if list(task.labels) != self.head_labels[0]:
                raise ConfigError(
                    f"domain-incremental stream: task {task.name!r} labels {list(task.labels)} differ from "
                    f"the shared label set {self.head_labels[0]}"
                )
        else:  # class-incremental: extend the one head with the task's new classes
            new = [label for label in task.labels if label not in self.head_labels[0]]
            if new:
                old = self.heads[0]
                grown = self._new_linear(old.out_features + len(new))
                with torch.no_grad():
                    grown.weight[: old.out_features] = old.weight
                    grown.bias[: old.out_features] = old.bias
                self.heads[0] = grown
                self.head_labels[0] += new
        self.head_of_task[task.name] = len(self.heads) - 1

    def head_parameters(self, task: Task) -> list[nn.Parameter]:
        index = self.head_of_task.get(task.name)
        return [] if index is None else list(self.heads[index].parameters())

    def _new_linear(self, n_out: int) -> nn.Linear:
        layer = nn.Linear(self.hidden, n_out)
        nn.init.normal_(layer.weight, std=0.02)
        nn.init.zeros_(layer.bias)
        return layer.to(next(self.encoder.parameters()).device)

    # ---- data --------------------------------------------------------------------------------
    def encode(self, task: Task, examples: list[Example]) -> list[Row]:
        head = self.head_of_task[task.name]
        labels = {name: i for i, name in enumerate(self.head_labels[head])}
        enc = self.tokenizer(
            [ex.text for ex in examples],
            [ex.text_pair or "" for ex in examples] if any(ex.text_pair for ex in examples) else None,
            truncation=True,
            max_length=self.max_length,
            return_overflowing_tokens=False,
            return_length=True,
        )
        full = self.tokenizer([ex.text for ex in examples[:200]], truncation=False)["input_ids"]
        if any(len(ids) > self.max_length for ids in full):
            self.warn_truncation(max(len(ids) for ids in full))
        rows = []
        for i, ex in enumerate(examples):
            row: Row = {"input_ids": enc["input_ids"][i], "task_index": head}
            if "token_type_ids" in enc:
                row["token_type_ids"] = enc["token_type_ids"][i]
            if ex.label is not None:
                task.check_label(ex.label, f"task {task.name!r} example {i}")
                row["labels"] = labels[ex.label]
            rows.append(row)
        return rows

    def collate(self, rows: list[Row], generator: torch.Generator | None = None) -> dict[str, Any]:
        ids, mask = pad_right([r["input_ids"] for r in rows], self.tokenizer.pad_token_id or 0)
        batch = {
            "input_ids": ids,
            "attention_mask": mask,
            "task_index": torch.tensor([r["task_index"] for r in rows]),
            # the heads in the batch as a host list: reading them off the device tensor would make the
            # host wait for the GPU in every forward
            "heads": sorted({r["task_index"] for r in rows}),
        }
        if "token_type_ids" in rows[0]:
            types = [r.get("token_type_ids", [0] * len(r["input_ids"])) for r in rows]
            batch["token_type_ids"] = pad_right(types, 0)[0]
        if "labels" in rows[0]:
            batch["labels"] = torch.tensor([r["labels"] for r in rows])
        return batch

    # ---- model -------------------------------------------------------------------------------
    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        hidden = self.encoder(**inputs).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, batch: dict[str, Any]) -> LearnerOutput:
        feats = self.features(batch)
        heads = batch["task_index"]
        labels = batch.get("labels")
        unique = batch["heads"] if "heads" in batch else heads.unique().tolist()
        if len(unique) == 1:
            logits = self.heads[unique[0]](feats)
            loss = F.cross_entropy(logits.float(), labels) if labels is not None else feats.new_zeros(())
            return LearnerOutput(loss=loss, logits=logits, features=feats)
        # a mixed batch (replay, multitask): each row through its own task's head
        total = feats.new_zeros((), dtype=torch.float32)
        for h in unique:
            rows = heads == h
            logits = self.heads[h](feats[rows])
            total = total + F.cross_entropy(logits.float(), labels[rows], reduction="sum")
        return LearnerOutput(loss=total / len(heads), logits=None, features=feats)

    def _logits(self, task: Task, examples: list[Example]) -> torch.Tensor:
        head = self.head_of_task[task.name]
        stripped = [Example(text=ex.text, text_pair=ex.text_pair) for ex in examples]
        rows = self.encode(task, stripped)
        out = []
        with self.eval_mode():
            for start in range(0, len(rows), self.eval_batch_size):
                batch = self.collate(rows[start : start + self.eval_batch_size])
                batch = self.to_device(batch)
                with self.autocast():
                    out.append(self.heads[head](self.features(batch)).float().cpu())
        return torch.cat(out)

    def _labels(self, task: Task) -> list[str]:
        return self.head_labels[self.head_of_task[task.name]]

    def predict(self, task: Task, examples: list[Example]) -> list[str]:
        labels = self._labels(task)
        return [labels[i] for i in self._logits(task, examples).argmax(-1).tolist()]

    def label_scores(self, task: Task, examples: list[Example]) -> list[dict[str, float]]:
        labels = self._labels(task)
        probs = self._logits(task, examples).softmax(-1).tolist()
        return [dict(zip(labels, row, strict=True)) for row in probs]
