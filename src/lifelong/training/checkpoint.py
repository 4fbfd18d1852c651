"""Checkpoints at task boundaries: learner weights (safetensors), method state, run progress.

The folder is written whole or not at all (:func:`lifelong.io.atomic_path`), so a killed run never
leaves a half-written checkpoint behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from lifelong.errors import LifelongError
from lifelong.io import atomic_path, read_json, recover
from lifelong.methods.base import Method

CHECKPOINT = "checkpoint"


def save_checkpoint(run_dir: Path, method: Method, progress: dict[str, Any]) -> Path:
    final = run_dir / CHECKPOINT
    with atomic_path(final) as tmp:
        tmp.mkdir()
        save_model(method.learner, str(tmp / "learner.safetensors"))
        torch.save(method.state_dict(), tmp / "method.pt")
        (tmp / "progress.json").write_text(json.dumps(progress, indent=1), encoding="utf-8")
    return final


def read_progress(run_dir: Path) -> dict[str, Any] | None:
    path = recover(run_dir / CHECKPOINT) / "progress.json"
    if not path.exists():
        return None
    try:
        return read_json(path)
    except LifelongError as e:
        raise LifelongError(f"corrupt checkpoint progress file: {e}") from e


def load_weights(run_dir: Path, method: Method) -> None:
    """Load into a learner whose structure was already rebuilt by replaying ``grow``."""
    folder = run_dir / CHECKPOINT
    missing, unexpected = load_model(method.learner, str(folder / "learner.safetensors"), strict=False)
    if missing or unexpected:
        raise LifelongError(
            f"{folder}: checkpoint does not match the rebuilt model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    method.load_state_dict(torch.load(folder / "method.pt", weights_only=True))
