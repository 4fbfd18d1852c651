"""bf16 autocast only on hardware with native bf16 (emulated bf16 is ~50x slower than float32 on CPU)."""

from __future__ import annotations

import logging

import pytest
import torch

from lifelong import precision
from lifelong.precision import bf16_autocast, native_bf16


@pytest.fixture
def fake_cpu(monkeypatch: pytest.MonkeyPatch):
    def pretend(caps: dict[str, bool]) -> None:
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
        native_bf16.cache_clear()
        precision._say_float32.cache_clear()

    yield pretend
    native_bf16.cache_clear()  # the next test sees the real machine again
    precision._say_float32.cache_clear()


@pytest.mark.parametrize(
    ("caps", "native"),
    [({"amx_bf16": True}, True), ({"avx512_bf16": True}, True), ({"avx2": True, "avx512_f": True}, False)],
)
def test_bf16_runs_only_where_the_cpu_computes_it(fake_cpu, caplog, caps, native) -> None:
    fake_cpu(caps)
    a = torch.randn(4, 4)
    with caplog.at_level(logging.WARNING, logger="lifelong"):
        with bf16_autocast("cpu", True):
            product = a @ a
        with bf16_autocast("cpu", True):  # the fallback is announced once, not per call
            a @ a
    assert product.dtype == (torch.bfloat16 if native else torch.float32)
    warnings = [r for r in caplog.records if "no native bf16" in r.getMessage()]
    assert len(warnings) == (0 if native else 1)


def test_bf16_off_stays_off_everywhere(fake_cpu) -> None:
    fake_cpu({"amx_bf16": True})
    a = torch.randn(4, 4)
    with bf16_autocast("cpu", False):
        assert (a @ a).dtype == torch.float32


def _denormal_survives() -> bool:
    """Whether a float32 denormal (1e-39) comes out of a multiplication as itself rather than zero."""
    return bool((torch.tensor([1e-39]) * 1.0).item() != 0.0)


@pytest.mark.parametrize("flush", [True, False])
def test_a_session_flushes_denormals_unless_told_not_to(flush: bool) -> None:
    """HAT's soft masks make denormal numbers that x86 CPUs compute many times slower: every session
    flushes them to zero by default (``training.flush_denormal``), and leaves them be when it is off."""
    from lifelong.config import load_config
    from lifelong.data import load_stream
    from lifelong.session import open_session

    if not precision.flush_denormals(True):
        pytest.skip("this CPU cannot flush denormals")
    precision.flush_denormals(not flush)  # the opposite state first, so the session has to change it
    try:
        config = load_config(None, ["model.name=tiny-bert", f"training.flush_denormal={str(flush).lower()}"])
        open_session(config, load_stream(config.stream, config.data_dir).tasks, "task")
        assert _denormal_survives() is not flush
    finally:
        precision.flush_denormals(True)  # the library's default, which the other tests run under
