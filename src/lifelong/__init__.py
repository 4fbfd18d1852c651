"""lifelong: continual (lifelong) learning of language models."""

from __future__ import annotations

__version__ = "0.1.0"


def run(config, out=None, resume: bool = False):
    """Run a config (a RunConfig, a YAML path, or a dict) and return its metrics."""
    from lifelong.config import RunConfig, build_dataclass, load_config
    from lifelong.runs import run as _run

    if isinstance(config, dict):
        config = build_dataclass(RunConfig, config)
    elif not isinstance(config, RunConfig):
        config = load_config(config)
    return _run(config, out=out, resume=resume)
