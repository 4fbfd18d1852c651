"""CLI wiring for active forgetting: ``pretrain``, ``adapt-language``, ``adapt-task``, ``assemble-eval``
and ``forgetting-pipeline``.

``register(subparsers)`` adds the subcommands. Each handler turns its typed flags into a mapping,
applies ``--set key=value`` (dotted for the pipeline's sections, e.g. ``--set pretrain.layers=2``;
values are YAML: ``--set languages=[de,sw]``, ``--set pretrain.reset_every=null``) and builds the
config once with :func:`lifelong.schema.load`, so an unknown key or a wrong type is a ConfigError
naming it. The argparse namespace stops at the handler.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from lifelong import schema
from lifelong.pretraining.targets import LANGUAGES, ZERO_SHOT_TASKS

if TYPE_CHECKING:
    from lifelong.pretraining.language import LanguageAdaptConfig
    from lifelong.pretraining.mlm import PretrainConfig
    from lifelong.pretraining.pipeline import PipelineConfig
    from lifelong.pretraining.task import TaskAdaptConfig
    from lifelong.pretraining.warm_head import WarmHeadConfig

# The stages import torch and transformers: each command imports its own when it runs, so that
# ``lifelong --help`` and the other commands' start-up do not pay for them.

# ---------------------------------------------------------------- commands (configs in, JSON out)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_pretrain(cfg: PretrainConfig) -> int:
    from lifelong.pretraining.mlm import pretrain

    result = pretrain(cfg)
    _print(
        {
            "out": result.out,
            "steps": result.steps,
            "resets": len(result.resets),
            "final_loss": result.losses[-1][1] if result.losses else None,
            "tokens_per_second": round(result.tokens_per_second, 1),
        }
    )
    return 0


def cmd_adapt_language(cfg: LanguageAdaptConfig) -> int:
    from lifelong.pretraining.language import adapt_language

    result = adapt_language(cfg)
    _print(
        {
            "out": result.out,
            "steps": result.steps,
            "final_mlm_loss": result.curve.mlm_loss[-1],
            "final": result.final,
        }
    )
    return 0


def cmd_adapt_task(cfg: TaskAdaptConfig) -> int:
    from lifelong.pretraining.task import adapt_task

    result = adapt_task(cfg)
    _print({"out": result.out, "steps": result.steps, "final_loss": result.losses[-1][1], "dev": result.dev})
    return 0


def cmd_assemble_eval(body: str, language: str, test: str, bf16: bool = True) -> int:
    from lifelong.pretraining.assembly import assemble_and_evaluate

    _print(assemble_and_evaluate(body, language, test, bf16=bf16))
    return 0


def cmd_warm_head(cfg: WarmHeadConfig) -> int:
    from lifelong.pretraining.warm_head import warm_head

    _print(warm_head(cfg))
    return 0


def cmd_pipeline(cfg: PipelineConfig) -> int:
    from lifelong.pretraining.pipeline import run_pipeline

    results = run_pipeline(cfg)
    _print({"out": cfg.out, "scores": results["scores"]})
    return 0


# ---------------------------------------------------------------- argparse boundary


def _given(**values: Any) -> dict[str, Any]:
    """The flags the user gave (None = not given, so the config's default stays)."""
    return {key: value for key, value in values.items() if value is not None}


def _names(raw: str | None) -> list[str] | None:
    return None if raw is None else [x.strip() for x in raw.split(",") if x.strip()]


def _reset_every(raw: str) -> int | None:
    """``--reset-every K``; ``0`` means no resets, i.e. the config's ``reset_every=None``: the one
    place where 0 stands for "off" (the config itself accepts only None or a positive K)."""
    try:
        k = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of updates, got {raw!r}") from None
    if k < 0:
        raise argparse.ArgumentTypeError(f"K must be positive (or 0 for no resets), got {k}")
    return k or None


def _pretrain_from_args(ns: argparse.Namespace) -> int:
    from lifelong.pretraining.mlm import PretrainConfig

    base = _given(corpus=ns.corpus, out=ns.out, resume=ns.resume, steps=ns.steps, reset_every=ns.reset_every)
    return cmd_pretrain(schema.load(PretrainConfig, overrides=ns.set, base=base))


def _language_from_args(ns: argparse.Namespace) -> int:
    from lifelong.pretraining.language import LanguageAdaptConfig

    base = _given(
        model=ns.model,
        corpus=ns.corpus,
        out=ns.out,
        budget_steps=ns.budget_steps,
        budget_tokens=ns.budget_tokens,
        eval_body=ns.eval_body,
        eval_test=ns.eval_test,
        eval_every=ns.eval_every,
    )
    return cmd_adapt_language(schema.load(LanguageAdaptConfig, overrides=ns.set, base=base))


def _task_from_args(ns: argparse.Namespace) -> int:
    from lifelong.pretraining.task import TaskAdaptConfig

    base = _given(model=ns.model, train=ns.train, out=ns.out, dev=ns.dev)
    return cmd_adapt_task(schema.load(TaskAdaptConfig, overrides=ns.set, base=base))


def _assemble_from_args(ns: argparse.Namespace) -> int:
    return cmd_assemble_eval(ns.body, ns.language, ns.test, bf16=not ns.no_bf16)


def _warm_head_from_args(ns: argparse.Namespace) -> int:
    from lifelong.pretraining.warm_head import WarmHeadConfig

    base = _given(model=ns.model, corpus=ns.corpus, out=ns.out, steps=ns.steps)
    return cmd_warm_head(schema.load(WarmHeadConfig, overrides=ns.set, base=base))


def _pipeline_from_args(ns: argparse.Namespace) -> int:
    from lifelong.pretraining.pipeline import PipelineConfig

    base = _given(
        out=ns.out,
        data=ns.data,
        languages=_names(ns.languages),
        model=ns.model,
        extra_tasks=_names(ns.extra_tasks),
        pretrain=_given(steps=ns.steps, reset_every=ns.reset_every),
        language=_given(budget_steps=ns.budget_steps),
    )
    return cmd_pipeline(schema.load(PipelineConfig, overrides=ns.set, base=base))


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (YAML value)"
    )


def _reset_every_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reset-every",
        type=_reset_every,
        default=None,
        metavar="K",
        help="reset token embeddings every K updates (0 = never)",
    )


def register(subparsers: Any) -> None:
    """Add the active-forgetting subcommands to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "pretrain", help="masked-LM pretraining of a small RoBERTa (optionally with forgetting)"
    )
    p.add_argument("--corpus", required=True, help="plain-text corpus, one document per line")
    p.add_argument("--out", required=True, help="output folder (model, tokenizer, checkpoints, log)")
    _reset_every_arg(p)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    _set_arg(p)
    p.set_defaults(func=_pretrain_from_args)

    p = subparsers.add_parser(
        "warm-head", help="train an encoder's masked-LM head on English, body frozen (the <model>-mlm preset)"
    )
    p.add_argument("--model", default=None, help="encoder preset or folder (default minilm-l6)")
    p.add_argument("--corpus", default=None, help="plain-text English corpus, one document per line")
    p.add_argument("--out", default=None, help="default: the preset cache, as the <model>-mlm preset")
    p.add_argument("--steps", type=int, default=None)
    _set_arg(p)
    p.set_defaults(func=_warm_head_from_args)

    p = subparsers.add_parser("adapt-language", help="new tokenizer + embeddings for a language, body frozen")
    p.add_argument("--model", required=True, help="pretrained model folder")
    p.add_argument("--corpus", required=True, help="target-language text, one document per line")
    p.add_argument("--out", required=True)
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-steps", type=int)
    budget.add_argument("--budget-tokens", type=int)
    p.add_argument(
        "--eval-body", default=None, help="task-adapted model to assemble and evaluate along the way"
    )
    p.add_argument("--eval-test", default=None, help="target-language test JSONL for that evaluation")
    p.add_argument("--eval-every", type=int, default=None)
    _set_arg(p)
    p.set_defaults(func=_language_from_args)

    p = subparsers.add_parser(
        "adapt-task", help="fine-tune body + head on task data, token embeddings frozen"
    )
    p.add_argument("--model", required=True, help="pretrained model folder")
    p.add_argument(
        "--train",
        required=True,
        help="JSONL with text, label (and text_pair for pair tasks); file.jsonl[a:b] takes rows a..b-1",
    )
    p.add_argument("--dev", default=None)
    p.add_argument("--out", required=True)
    _set_arg(p)
    p.set_defaults(func=_task_from_args)

    p = subparsers.add_parser("assemble-eval", help="target embeddings + task-adapted body, zero-shot test")
    p.add_argument("--body", required=True, help="task-adapted model folder (adapt-task --out)")
    p.add_argument("--language", required=True, help="language-adapted model folder (adapt-language --out)")
    p.add_argument("--test", required=True, help="target-language test JSONL (row range allowed)")
    p.add_argument("--no-bf16", action="store_true")
    p.set_defaults(func=_assemble_from_args)

    p = subparsers.add_parser(
        "forgetting-pipeline", help="pretrain, adapt to the task and to each language, test"
    )
    p.add_argument("--out", required=True)
    p.add_argument(
        "--data", "--data-dir", dest="data", default=None, help="data root (default: $LIFELONG_DATA)"
    )
    p.add_argument("--languages", default=None, help=f"comma-separated (default: {','.join(LANGUAGES)})")
    p.add_argument("--model", default=None, help="skip pretraining: use this pretrained model folder")
    _reset_every_arg(p)
    p.add_argument("--steps", type=int, default=None, help="pretraining steps")
    p.add_argument("--budget-steps", type=int, default=None, help="language-adaptation steps per language")
    p.add_argument(
        "--extra-tasks",
        default=None,
        help=f"comma-separated tasks scored with the final embeddings too ({', '.join(ZERO_SHOT_TASKS)})",
    )
    _set_arg(p)
    p.set_defaults(func=_pipeline_from_args)
