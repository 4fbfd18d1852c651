"""Continual-learning methods, one file each, registered by name in ``METHODS``."""

from lifelong.methods import (  # noqa: F401  (registration)
    adapters,
    cpt,
    ctr,
    demix,
    ewc,
    finetune,
    hat,
    lamol,
    multitask,
    ncl,
    none,
    replay,
    separate,
)
from lifelong.methods.base import METHODS, Method, MethodConfig, StepInfo, register_method

__all__ = ["METHODS", "Method", "MethodConfig", "StepInfo", "register_method"]
