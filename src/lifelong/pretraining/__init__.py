"""Pretraining with active forgetting and the zero-shot cross-lingual transfer it is meant for.

One module per stage:

- :mod:`corpus` -- corpus lines, tokenizer training, block packing, step-indexed batches, masking;
- :mod:`forgetting` -- the reset of the token embeddings, its schedule and per-episode LR shape;
- :mod:`mlm` -- masked-LM pretraining (Accelerate), with :mod:`checkpoints` for resuming;
- :mod:`models` -- loading saved models, the sparse MLM loss, vocabulary surgery, body fingerprints;
- :mod:`classify` -- labelled rows in, accuracy out (core loaders and scorer);
- :mod:`language` / :mod:`task` / :mod:`assembly` -- the three stages of zero-shot transfer;
- :mod:`pipeline` + :mod:`report` -- all stages for one model, and their table and plot;
- :mod:`commands` -- the CLI subcommands.
"""

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
from lifelong.pretraining.pipeline import ZERO_SHOT_TASKS, PipelineConfig, run_pipeline
from lifelong.pretraining.report import plot_curves, results_table
from lifelong.pretraining.task import TaskAdaptConfig, adapt_task

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
