"""Continual-learning methods, one file each, registered by name in ``METHODS``."""

from lifelong.methods import (  # noqa: F401  (registration)
    adapters,
    cpt,
    ctr,
    demix,
    ewc,
    finetune,
    hat,
    inc_lora,
    inf_lora,
    lamol,
    multitask,
    ncl,
    none,
    o_lora,
    replay,
    separate,
    seq_lora,
)
from lifelong.methods.base import METHODS, Method, MethodConfig, StepInfo, register_method

__all__ = ["METHODS", "Method", "MethodConfig", "StepInfo", "register_method"]
