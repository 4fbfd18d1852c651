"""Pretraining checkpoints: all-or-nothing folders that ``resume`` continues from bit for bit.

A checkpoint holds the weights (safetensors), optimizer, scheduler and every process's RNG state
(Accelerate's ``save_state``) plus ``trainer_state.json`` (step, resets, losses, config).
``checkpoints/latest`` names the newest complete one.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from lifelong.errors import ConfigError
from lifelong.io import read_json, read_text, remove, write_json, write_text

STATE_FILE = "trainer_state.json"

# config keys that may change between a run and its resumption without changing what is computed
RESUMABLE_KEYS = frozenset(
    {"corpus", "out", "checkpoint_every", "keep_checkpoints", "log_every", "resume", "stop_at_step"}
)


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:08d}"


def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / read_text(pointer).strip()
    return path if path.is_dir() else None


def save_checkpoint(accelerator: Any, out: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Every process writes its part into one temporary folder; the main process then moves it into place.

    ``lifelong.io.atomic_path`` cannot serve here: its temporary name is unique to each process,
    while Accelerate needs all of them to write into the same folder.
    """
    final = checkpoint_dir(out, step)
    tmp = final.with_name(f".{final.name}.tmp")  # the same name on every process
    if accelerator.is_main_process:
        remove(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(tmp / STATE_FILE, state)
        remove(final)
        os.replace(tmp, final)
        write_text(out / "checkpoints" / "latest", final.name + "\n")
        for old in sorted(final.parent.glob("step-*"))[: -max(1, keep)]:
            remove(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: Path, config: Any) -> dict[str, Any]:
    """Restore every state saved at ``path``; refuse when ``config`` (a dataclass) computes something else."""
    state = read_json(path / STATE_FILE)
    saved = state.get("config", {})
    for key, value in dataclasses.asdict(config).items():
        if key not in RESUMABLE_KEYS and key in saved and saved[key] != value:
            raise ConfigError(
                f"cannot resume from {path}: config key {key} was {saved[key]!r}, now {value!r} "
                "(start a new output folder, or set it back)"
            )
    accelerator.load_state(str(path))
    return state
