"""Assembly (stage 3): target tokenizer + target embeddings + task-adapted body and head, scored
zero-shot on the target language's test set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from lifelong.pretraining.classify import evaluate_classifier, read_labelled
from lifelong.pretraining.models import (
    body_fingerprint,
    check_same_body,
    install_embeddings,
    load_classifier,
    load_mlm,
    load_tokenizer,
    read_meta,
)


def assemble(body_dir: str | os.PathLike[str], language_dir: str | os.PathLike[str]) -> tuple[nn.Module, Any]:
    """A classifier ready for the target language, and the target tokenizer it reads with."""
    body_dir, language_dir = Path(body_dir), Path(language_dir)
    classifier = load_classifier(body_dir)
    language = load_mlm(language_dir)
    check_same_body(read_meta(body_dir), body_fingerprint(language), body_dir, language_dir)
    install_embeddings(classifier, language.get_input_embeddings().weight)
    return classifier, load_tokenizer(language_dir)


def assemble_and_evaluate(
    body_dir: str | os.PathLike[str],
    language_dir: str | os.PathLike[str],
    test: str | os.PathLike[str],
    bf16: bool = True,
) -> dict[str, float]:
    """Accuracy, macro-F1 and row count of the assembled model on ``test`` (row range allowed)."""
    classifier, tokenizer = assemble(body_dir, language_dir)
    return evaluate_classifier(classifier, tokenizer, read_labelled(test), bf16=bf16)
