"""Masked-LM learner: post-trains a pretrained masked LM on unlabeled domain corpora (corpus tasks).

A corpus task is scored twice: the masked-LM loss on its held-out text (with a fixed masking seed, so
every stage sees the same masks), and -- when it has an ``end_task`` -- the accuracy of a *copy* of the
current encoder fine-tuned on that end task (:mod:`lifelong.models.end_task`). The copy is taken
inside the method's ``eval_context``, so a CL-plugin model answers with that domain's task mask.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.data.task import Example, Task
from lifelong.errors import ConfigError
from lifelong.models.base import Learner, LearnerOutput, Row, pad_right
from lifelong.models.end_task import EndTaskConfig, end_task_scores

EVAL_MASK_SEED = 1234  # held-out masks are the same at every stage and for every method
ROW_MULTIPLE = 64  # the masked-LM head sees a multiple of this many rows (see ``labelled_rows``)


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose ``probability`` of the maskable tokens; of those 80 % become ``mask_id``,
    10 % a random token, 10 % stay. Returns (inputs, labels) with labels -100 where nothing is predicted."""
    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & maskable
    labels[~chosen] = -100
    inputs = input_ids.clone()
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (draw < 0.8)
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[to_mask] = mask_id
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


def mlm_head(model: nn.Module) -> nn.Module | None:
    """A masked LM's head: the one child of the model that is not its body (BERT's ``cls``, RoBERTa's
    ``lm_head`` ...); None when the model is not built that way."""
    others = [m for m in model.children() if m is not model.base_model]
    return others[0] if len(others) == 1 else None


def sparse_mlm_loss(
    model: nn.Module,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The masked-LM loss with vocabulary logits only where a label is (BERT masks ~15 %): the vocabulary
    projection is most of a small model's compute. Returns (loss, those logits); a model whose head is
    not found is run whole (logits None)."""
    head = mlm_head(model)
    if head is None:
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss, None
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
    rows, targets, count = labelled_rows(hidden, labels)
    logits = head(rows)
    if count == 0:
        return hidden.sum() * 0.0, logits
    return F.cross_entropy(logits.float(), targets), logits[:count]


def labelled_rows(
    hidden: torch.Tensor, labels: torch.Tensor, multiple: int = ROW_MULTIPLE
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The hidden states where a label is, those labels, and how many there are; rows and labels are
    padded with ignored rows (label -100) to a multiple of ``multiple``. Why the padding: the number of masked tokens changes every step, and glibc
    keeps the freed blocks of every size it has seen -- measured on minilm-l6 (batch 16, 150 steps),
    resident memory grew 0.77 -> 2.18 GB with exact row counts and stayed at 1.04 GB padded to 64; a
    2,000-update pretraining held 9.2 GB. A few fixed sizes reuse the same blocks, for < 64 extra rows."""
    chosen = labels != -100
    rows, targets = hidden[chosen], labels[chosen]
    count = rows.shape[0]
    extra = -count % multiple
    if extra:
        rows = F.pad(rows, (0, 0, 0, extra))
        targets = F.pad(targets, (0, extra), value=-100)
    return rows, targets, count


def mlm_head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """A masked LM's head's own parameters: everything outside its body (``base_model``); a tied decoder
    weight is the body's word embeddings, so it is excluded."""
    body = {id(p) for p in model.base_model.parameters()}
    return [p for p in model.parameters() if id(p) not in body]


class MaskedLMLearner(Learner):
    """An ``AutoModelForMaskedLM`` model learning corpus tasks with the masked-LM objective."""

    kind = "mlm"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        max_length: int,
        mlm_probability: float = 0.15,
        end_task: EndTaskConfig | None = None,
        **settings: Any,
    ):
        super().__init__(tokenizer, max_length, **settings)
        if tokenizer.mask_token_id is None:
            raise ConfigError("the tokenizer has no mask token; masked-LM post-training needs one")
        self.model = model
        self.mlm_probability = mlm_probability
        self.end_task_config = end_task or EndTaskConfig(bf16=self.bf16)  # how end tasks are scored

    # ---- structure ---------------------------------------------------------------------------
    @property
    def body(self) -> nn.Module:
        return self.encoder  # the encoder under the masked-LM head

    def grow(self, task: Task) -> None:
        if task.kind != "corpus":
            raise ConfigError(
                f"task {task.name!r} is {task.kind}; a masked-LM learner post-trains on corpus tasks"
            )
        super().grow(task)

    @property
    def encoder(self) -> nn.Module:
        """The transformer without the MLM head: what end tasks fine-tune."""
        return self.model.base_model

    def lm_head_parameters(self) -> list[nn.Parameter]:
        return mlm_head_parameters(self.model)

    def head_parameters(self, task: Task) -> list[nn.Parameter]:
        """What a plugin method trains besides its plugins for ``task``: the MLM head's transform, during
        the first domain only (a sentence-encoder checkpoint such as minilm-l6 has no pretrained MLM head);
        frozen afterwards, so later domains cannot change what earlier domains' masks produce."""
        first = self.task_specs[0].name if self.task_specs else None
        return self.lm_head_parameters() if task.name == first else []

    # ---- data --------------------------------------------------------------------------------
    def encode(self, task: Task, examples: list[Example]) -> list[Row]:
        index = self.task_index(task.name) if any(t.name == task.name for t in self.task_specs) else 0
        enc = self.tokenizer(
            [ex.text for ex in examples],
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
        )
        full = self.tokenizer([ex.text for ex in examples[:200]], truncation=False)["input_ids"]
        if any(len(ids) > self.max_length for ids in full):
            self.warn_truncation(max(len(ids) for ids in full))
        rows = []
        for i in range(len(examples)):
            row: Row = {
                "input_ids": enc["input_ids"][i],
                "special": enc["special_tokens_mask"][i],
                "task_index": index,
            }
            rows.append(row)
        return rows

    def collate(self, rows: list[Row], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        ids, attention = pad_right([r["input_ids"] for r in rows], self.tokenizer.pad_token_id or 0)
        special, _ = pad_right([r["special"] for r in rows], 1)  # padding is never masked
        maskable = special == 0
        inputs, labels = mask_tokens(
            ids,
            maskable,
            self.tokenizer.mask_token_id,
            len(self.tokenizer),
            self.mlm_probability,
            generator,  # None: torch's global RNG, which the trainer seeds per task
        )
        return {
            "input_ids": inputs,
            "attention_mask": attention,
            "labels": labels,
            "task_index": torch.tensor([r["task_index"] for r in rows]),
        }

    # ---- model -------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> LearnerOutput:
        """Loss over the masked tokens; the head runs only at those positions (a 15 % of the vocabulary
        projection), which is most of the saving over the stock ``*ForMaskedLM`` forward."""
        loss, logits = sparse_mlm_loss(
            self.model, batch["input_ids"], batch["labels"], batch["attention_mask"]
        )
        return LearnerOutput(loss=loss, logits=logits)

    def predict(self, task: Task, examples: list[Example]) -> list[str]:
        raise ConfigError(
            f"task {task.name!r} is a corpus task: it has no answers to predict (its end task is scored by "
            "fine-tuning a copy of the model)"
        )

    def mlm_loss(self, task: Task, examples: list[Example], seed: int = EVAL_MASK_SEED) -> float:
        """Token-weighted masked-LM loss on ``examples`` with masks drawn from a fixed seed."""
        gen = torch.Generator().manual_seed(seed)
        rows = self.encode(task, examples)
        total, count = 0.0, 0
        with self.eval_mode():
            for start in range(0, len(rows), self.eval_batch_size):
                batch = self.collate(rows[start : start + self.eval_batch_size], generator=gen)
                n = int((batch["labels"] != -100).sum())
                if n == 0:
                    continue
                batch = self.to_device(batch)
                with self.autocast():
                    out = self.forward(batch)
                total += float(out.loss) * n
                count += n
        return total / max(count, 1)

    def evaluate(self, task: Task, examples: list[Example]) -> dict[str, float]:
        """Held-out masked-LM loss (and perplexity); plus the end task's scores when the task has one."""
        loss = self.mlm_loss(task, examples)
        scores = {"mlm_loss": loss, "perplexity": math.exp(min(loss, 50.0))}
        if task.end_task is not None and self.end_task_config.enabled:
            scores.update(
                end_task_scores(
                    self.encoder,
                    self.tokenizer,
                    self.max_length,
                    task.end_task,
                    self.end_task_config,
                    self.warn_once,
                )
            )
        return scores
