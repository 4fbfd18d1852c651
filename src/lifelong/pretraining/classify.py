"""Labelled classification data in, accuracy out: what task adaptation trains on and assembly is scored by.

Rows are read by the core loaders (``text``, ``label`` and, for pair tasks such as XNLI,
``text_pair``); ``file.jsonl[a:b]`` takes rows a..b-1 (``lifelong.data.loaders.split_row_range``).
Scores come from the core scorer, so they mean the same as everywhere else in the library.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from lifelong.data.loaders import load_examples, split_row_range
from lifelong.data.task import Example, Task
from lifelong.errors import DataError
from lifelong.evaluation.scoring import score_task
from lifelong.io import read_text
from lifelong.pretraining.loop import autocast
from lifelong.pretraining.models import max_length


def read_labelled(path: str | os.PathLike[str]) -> list[Example]:
    """Classification examples of a file; ``path`` may end in a row range, ``file.jsonl[a:b]``.

    All rows are single texts or all are pairs: a tokenizer batch cannot mix the two.
    """
    file, wanted = split_row_range(path)
    try:
        examples = load_examples(file, "classification")
    except UnicodeDecodeError:
        read_text(file)  # raises the DataError that names the line of the first bad byte
        raise
    for ex in examples:
        if (ex.text_pair is None) != (examples[0].text_pair is None):
            raise DataError(f"{file}:{ex.meta.get('line')}: some rows have a 'text_pair' and some do not")
    examples = examples[wanted]
    if not examples:
        raise DataError(f"{path} has no rows")
    return examples


def encode(tokenizer: Any, examples: list[Example], max_len: int) -> Any:
    """Tokenize single texts or (text, text_pair) pairs, padded to the longest in the batch."""
    pairs = [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None
    return tokenizer(
        [ex.text for ex in examples],
        pairs,
        padding=True,
        truncation=True,
        max_length=max_len,
        return_tensors="pt",
    )


@torch.no_grad()
def predict_labels(
    model: nn.Module, tokenizer: Any, examples: list[Example], batch_size: int = 64, bf16: bool = True
) -> list[str]:
    """The model's label for each example, in order."""
    id2label = {i: label for label, i in model.config.label2id.items()}
    was_training = model.training
    model.eval()
    predictions: list[str] = []
    for i in range(0, len(examples), batch_size):
        enc = encode(tokenizer, examples[i : i + batch_size], max_length(model))
        with autocast(bf16):
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        predictions.extend(id2label[j] for j in logits.argmax(-1).tolist())
    model.train(was_training)
    return predictions


def evaluate_classifier(
    model: nn.Module, tokenizer: Any, examples: list[Example], batch_size: int = 64, bf16: bool = True
) -> dict[str, float]:
    """Accuracy and macro-F1 over the model's label set (the core scorer), plus the number of rows."""
    label2id = model.config.label2id
    unknown = sorted({ex.label for ex in examples} - set(label2id))
    if unknown:
        raise DataError(f"test labels {unknown} are not among the model's labels {sorted(label2id)}")
    predictions = predict_labels(model, tokenizer, examples, batch_size, bf16)
    task = Task(name="zero-shot", kind="classification", labels=tuple(label2id))
    return {**score_task(task, examples, predictions), "n": len(examples)}
