"""bf16 autocast only where the hardware computes in bf16; denormal float32 numbers flushed to zero.

On a CPU with AMX or AVX-512 BF16 a bf16 matmul is several times faster than float32 (about 7x on the
machine of docs/results.md §2); on one without them (e.g. an AVX2-only CPU) PyTorch emulates it, about
50x *slower* than float32. ``bf16: true`` therefore means "bf16 where it pays": every autocast of the
library comes from here, and on hardware without native bf16 it runs float32 and says so once.
"""

from __future__ import annotations

import functools
import logging

import torch

log = logging.getLogger("lifelong")


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` computes bf16 matmuls in hardware (a fixed fact of the machine: cached)."""
    if device_type == "cpu":
        caps = torch.cpu.get_capabilities()
        return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    return True  # other accelerators: the user's setting decides


@functools.cache
def _say_float32(device_type: str) -> None:
    log.warning(
        "bf16 is on, but this %s has no native bf16 (emulated bf16 is far slower than float32): "
        "computing in float32",
        device_type,
    )


def use_bf16(device_type: str, wanted: bool) -> bool:
    """``wanted`` and the hardware supports it; warns once when it does not."""
    if wanted and not native_bf16(device_type):
        _say_float32(device_type)
        return False
    return wanted


def bf16_autocast(device_type: str, wanted: bool) -> torch.autocast:
    """Autocast to bf16 when ``wanted`` and native on ``device_type``; otherwise a disabled autocast."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16(device_type, wanted))


def flush_denormals(enabled: bool) -> bool:
    """Compute float32 numbers below 1.2e-38 as zero on this process's CPU (``training.flush_denormal``).

    x86 CPUs handle such numbers in microcode, many times slower than normal ones; HAT's soft masks
    sigmoid(s·e) at s = 400 make them in every masked layer (measured: 1.7-1.9x the training speed of hat
    and ctr with them flushed, the same losses). Numbers that small add nothing to a sum of normal ones.
    Returns whether the CPU supports the setting (x86 with SSE3 does)."""
    return torch.set_flush_denormal(enabled)
