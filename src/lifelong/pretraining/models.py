"""The models every stage hands on: loading saved masked LMs and classifiers, the sparse masked-LM
loss, vocabulary surgery and the body fingerprint that ties adapted parts to their pretrained body.

Stages 1 (language) and 2 (task) both start from the same pretrained model and never see each
other's data; the fingerprint stored with each adapted model (``adaptation.json``) lets assembly
refuse parts of different bodies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from lifelong.errors import ConfigError, DataError
from lifelong.io import atomic_path, read_json, write_json
from lifelong.models.fast import speed_up_on_cpu
from lifelong.models.masked_lm import sparse_mlm_loss
from lifelong.pretraining.forgetting import init_token_embeddings, token_embedding_parameters

PRETRAIN_LOG = "pretrain_log.json"  # written by pretraining with its final weights
META_FILE = "adaptation.json"  # written last by each adaptation stage: its presence means "done"


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading an MLM checkpoint into a classifier (and back) rightly drops/creates heads; don't warn."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def model_dir(path: str | os.PathLike[str], what: str = "model") -> Path:
    """A folder holding a saved model, or a DataError saying which one is missing."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise DataError(f"{what} folder {path} does not exist or holds no model (no config.json)")
    return path


def load_mlm(path: str | os.PathLike[str]) -> nn.Module:
    with _quiet_transformers():
        return speed_up_on_cpu(AutoModelForMaskedLM.from_pretrained(model_dir(path)))


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    return AutoTokenizer.from_pretrained(model_dir(path))


def load_classifier(path: str | os.PathLike[str], labels: list[str] | None = None) -> nn.Module:
    """A sequence classifier; with ``labels``, a fresh head on a pretrained (MLM) body."""
    kwargs: dict[str, Any] = {}
    if labels is not None:
        kwargs = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    with _quiet_transformers():
        return speed_up_on_cpu(AutoModelForSequenceClassification.from_pretrained(model_dir(path), **kwargs))


def max_length(model: nn.Module) -> int:
    """The longest input in tokens (RoBERTa's positions start after the pad id)."""
    return model.config.max_position_embeddings - model.config.pad_token_id - 1


def save_stage(out: str | os.PathLike[str], model: nn.Module, tokenizer: Any, meta: dict[str, Any]) -> Path:
    """An adaptation stage's folder, written whole (weights, tokenizer, then ``adaptation.json``): a
    killed stage leaves the previous folder, or none, never one that looks finished."""
    for p in model.parameters():
        p.requires_grad_(True)  # saved models load fully trainable, whatever the stage froze
    with atomic_path(out) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / META_FILE, meta)
    return Path(out)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An adapted model's ``adaptation.json`` (empty when the stage has not finished)."""
    file = Path(path) / META_FILE
    return read_json(file) if file.is_file() else {}


class SparseMaskedLM(nn.Module):
    """Masked-LM loss with vocabulary logits only at the masked positions.

    The same loss as ``model(input_ids, labels=labels).loss``, but the LM head (a large share of a
    small model's compute) runs on the ~15% of positions that carry a label instead of all of
    them. A module of its own, so Accelerate/DDP wrap its forward and gradients still sync.
    """

    def __init__(self, mlm: nn.Module):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return sparse_mlm_loss(self.mlm, input_ids, labels)[0]


def body_fingerprint(model: nn.Module) -> str:
    """Hash of every parameter except the vocabulary matrices: ties adapted parts to their pretrained body.

    Target embeddings only fit the body they were learned against, so assembly checks that the
    language adaptation and the task adaptation started from the same pretrained body.
    """
    base = getattr(model, "base_model", model)
    skip = {id(p) for p in token_embedding_parameters(model)}
    h = hashlib.sha256()
    for name, p in base.named_parameters():
        if id(p) not in skip:
            h.update(name.encode())
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def pretrained_body_fingerprint(path: str | os.PathLike[str]) -> str:
    """The body fingerprint of a saved masked LM, read from the log that pretraining here wrote with
    the final weights, so task adaptation need not load the model a second time just to hash it;
    computed from the weights for any other model (a preset, a hub checkpoint)."""
    log = model_dir(path) / PRETRAIN_LOG
    meta = read_json(log) if log.is_file() else {}
    if meta.get("finished") and meta.get("body_fingerprint"):
        return str(meta["body_fingerprint"])
    return body_fingerprint(load_mlm(path))


def check_same_body(body_meta: dict[str, Any], fingerprint: str, body_dir: Path, other: Path) -> None:
    """Target embeddings only fit the body they were learned against: refuse to mix pretrained models."""
    expected = body_meta.get("pretrained_fingerprint")
    if expected and expected != fingerprint:
        raise ConfigError(
            f"{other} and the task-adapted model {body_dir} come from different pretrained bodies "
            f"(fingerprints {fingerprint} vs {expected}); adapt both from the same pretrained model"
        )


def replace_vocabulary(model: nn.Module, vocab_size: int, generator: torch.Generator | None = None) -> None:
    """Fresh N(0, 0.02) embeddings of a new size (pad row 0), tied LM head re-tied, LM-head bias zeroed."""
    model.resize_token_embeddings(vocab_size, mean_resizing=False)
    init_token_embeddings(model, generator)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and getattr(output, "bias", None) is not None:
        with torch.no_grad():
            output.bias.zero_()


def install_embeddings(classifier: nn.Module, weight: torch.Tensor) -> None:
    """Swap a (frozen copy of a) vocabulary matrix into a classifier: the assembly step."""
    old = classifier.get_input_embeddings()
    if weight.shape[1] != old.embedding_dim:
        raise ConfigError(
            f"embeddings of width {weight.shape[1]} do not fit a body of hidden size {old.embedding_dim}"
        )
    new = nn.Embedding(weight.shape[0], weight.shape[1], padding_idx=old.padding_idx)
    with torch.no_grad():
        new.weight.copy_(weight.detach())
    new.weight.requires_grad_(False)
    classifier.set_input_embeddings(new)
    classifier.config.vocab_size = weight.shape[0]
