"""Continual-learning methods, one file each, registered by name in ``METHODS``."""

from lifelong.methods import ewc, finetune, multitask, replay, separate  # noqa: F401  (registration)
from lifelong.methods.base import METHODS, Method, MethodConfig, StepInfo, register_method

__all__ = ["METHODS", "Method", "MethodConfig", "StepInfo", "register_method"]
