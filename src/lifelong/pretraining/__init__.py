"""Pretraining with active forgetting and the zero-shot cross-lingual transfer it is meant for.

- :mod:`forgetting` -- the reset of the token embeddings and its schedule;
- :mod:`mlm` -- masked-LM pretraining (Accelerate), checkpoints, tokenizer and data packing;
- :mod:`adaptation` -- language adaptation, task adaptation, assembly, evaluation, the pipeline;
- :mod:`commands` -- the CLI subcommands.
"""

from lifelong.pretraining.adaptation import (
    ZERO_SHOT_TASKS,
    AdaptationCurve,
    LabelledRow,
    LanguageAdaptConfig,
    PipelineConfig,
    TaskAdaptConfig,
    adapt_language,
    adapt_task,
    assemble,
    assemble_and_evaluate,
    evaluate_classifier,
    plot_curves,
    read_labelled,
    results_table,
    run_pipeline,
)
from lifelong.pretraining.forgetting import (
    ForgettingSchedule,
    WarmupDecay,
    reset_token_embeddings,
    token_embedding_parameters,
)
from lifelong.pretraining.mlm import PretrainConfig, PretrainResult, pretrain, train_tokenizer

__all__ = [
    "ZERO_SHOT_TASKS",
    "AdaptationCurve",
    "LabelledRow",
    "read_labelled",
    "ForgettingSchedule",
    "LanguageAdaptConfig",
    "PipelineConfig",
    "PretrainConfig",
    "PretrainResult",
    "TaskAdaptConfig",
    "WarmupDecay",
    "adapt_language",
    "adapt_task",
    "assemble",
    "assemble_and_evaluate",
    "evaluate_classifier",
    "plot_curves",
    "pretrain",
    "reset_token_embeddings",
    "results_table",
    "run_pipeline",
    "token_embedding_parameters",
    "train_tokenizer",
]
