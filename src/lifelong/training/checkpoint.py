"""Checkpoints at task boundaries: learner weights (safetensors), method state, run progress.

Written to a temporary folder and swapped in with renames, so a killed run never leaves a
half-written checkpoint behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from lifelong.errors import LifelongError
from lifelong.methods.base import Method

CHECKPOINT = "checkpoint"


def save_checkpoint(run_dir: Path, method: Method, progress: dict[str, Any]) -> Path:
    final = run_dir / CHECKPOINT
    tmp = run_dir / (CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(method.learner, str(tmp / "learner.safetensors"))
    torch.save(method.state_dict(), tmp / "method.pt")
    (tmp / "progress.json").write_text(json.dumps(progress, indent=1))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    old = run_dir / (CHECKPOINT + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_progress(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CHECKPOINT / "progress.json"
    if not path.exists():
        old = run_dir / (CHECKPOINT + ".old") / "progress.json"  # killed between the two renames
        if old.exists():
            os.replace(old.parent, run_dir / CHECKPOINT)
            path = run_dir / CHECKPOINT / "progress.json"
        else:
            return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise LifelongError(f"{path}: corrupt checkpoint progress file ({e})") from e


def load_weights(run_dir: Path, method: Method) -> None:
    """Load into a learner whose structure was already rebuilt by replaying ``grow``."""
    folder = run_dir / CHECKPOINT
    missing, unexpected = load_model(method.learner, str(folder / "learner.safetensors"), strict=False)
    if missing or unexpected:
        raise LifelongError(
            f"{folder}: checkpoint does not match the rebuilt model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    method.load_state_dict(torch.load(folder / "method.pt", weights_only=True))
