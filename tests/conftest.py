"""Shared fixtures: small, fast settings on the built-in offline stream with tiny models."""

from __future__ import annotations

import pytest

FAST = [
    "model.name=tiny-bert",
    "training.epochs=3",
    "training.lr=2e-3",
    "training.batch_size=16",
    "stream.max_train=240",
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
