"""Pretraining with active forgetting and the zero-shot cross-lingual transfer it is meant for.

One module per stage:

- :mod:`corpus` -- corpus lines, tokenizer training, block packing, step-indexed batches, masking;
- :mod:`forgetting` -- the reset of the token embeddings, its schedule and per-episode LR shape;
- :mod:`mlm` -- masked-LM pretraining (Accelerate), with :mod:`checkpoints` for resuming;
- :mod:`models` -- loading saved models, the sparse MLM loss, vocabulary surgery, body fingerprints;
- :mod:`classify` -- labelled rows in, accuracy out (core loaders and scorer);
- :mod:`language` / :mod:`task` / :mod:`assembly` -- the three stages of zero-shot transfer;
- :mod:`pipeline` + :mod:`report` -- all stages for one model, and their table and plot;
- :mod:`targets` -- the languages and zero-shot tasks, by name;
- :mod:`commands` -- the CLI subcommands.
"""

from importlib import import_module
from typing import TYPE_CHECKING

# where each public name lives; imported on first use (PEP 562), so that importing one light module of
# this package -- the CLI's ``commands`` -- does not import torch through all the others
_HOME = {
    "assemble": "assembly",
    "assemble_and_evaluate": "assembly",
    "evaluate_classifier": "classify",
    "read_labelled": "classify",
    "train_tokenizer": "corpus",
    "ForgettingSchedule": "forgetting",
    "reset_token_embeddings": "forgetting",
    "token_embedding_parameters": "forgetting",
    "AdaptationCurve": "language",
    "LanguageAdaptConfig": "language",
    "adapt_language": "language",
    "PretrainConfig": "mlm",
    "PretrainResult": "mlm",
    "pretrain": "mlm",
    "PipelineConfig": "pipeline",
    "run_pipeline": "pipeline",
    "ZERO_SHOT_TASKS": "targets",
    "plot_curves": "report",
    "results_table": "report",
    "TaskAdaptConfig": "task",
    "adapt_task": "task",
}

if TYPE_CHECKING:
    from lifelong.pretraining.assembly import assemble, assemble_and_evaluate
    from lifelong.pretraining.classify import evaluate_classifier, read_labelled
    from lifelong.pretraining.corpus import train_tokenizer
    from lifelong.pretraining.forgetting import (
        ForgettingSchedule,
        reset_token_embeddings,
        token_embedding_parameters,
    )
    from lifelong.pretraining.language import AdaptationCurve, LanguageAdaptConfig, adapt_language
    from lifelong.pretraining.mlm import PretrainConfig, PretrainResult, pretrain
    from lifelong.pretraining.pipeline import PipelineConfig, run_pipeline
    from lifelong.pretraining.report import plot_curves, results_table
    from lifelong.pretraining.targets import ZERO_SHOT_TASKS
    from lifelong.pretraining.task import TaskAdaptConfig, adapt_task


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "ZERO_SHOT_TASKS",
    "AdaptationCurve",
    "ForgettingSchedule",
    "LanguageAdaptConfig",
    "PipelineConfig",
    "PretrainConfig",
    "PretrainResult",
    "TaskAdaptConfig",
    "adapt_language",
    "adapt_task",
    "assemble",
    "assemble_and_evaluate",
    "evaluate_classifier",
    "plot_curves",
    "pretrain",
    "read_labelled",
    "reset_token_embeddings",
    "results_table",
    "run_pipeline",
    "token_embedding_parameters",
    "train_tokenizer",
]
