"""Shared fixtures: small, fast settings on the built-in offline stream with tiny models."""

from __future__ import annotations

import pytest
import torch

# One thread per test process: tiny models gain nothing from more, and it keeps a loaded machine usable.
torch.set_num_threads(1)

FAST = [
    "model.name=tiny-bert",
    "training.epochs=5",
    "training.lr=1e-3",
    "training.batch_size=16",
    "model.max_length=64",
    "stream.max_train=600",
    "stream.max_eval=80",
    "stream.max_dev=40",
]


@pytest.fixture
def fast_overrides() -> list[str]:
    return list(FAST)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("LIFELONG_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
