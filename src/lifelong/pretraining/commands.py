"""CLI wiring for active forgetting: ``pretrain``, ``adapt-language``, ``adapt-task``, ``assemble-eval``
and ``forgetting-pipeline``.

``register(subparsers)`` adds the subcommands; each sets ``func`` to a handler that turns the
argparse namespace into a config dataclass right here at the boundary and calls the library.
``--set key=value`` overrides any config field (dotted for the pipeline's sections, e.g.
``--set pretrain.layers=2``); an unknown key is a ConfigError naming it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import types
import typing
from typing import Any

from lifelong.errors import ConfigError
from lifelong.pretraining.adaptation import (
    LANGUAGES,
    ZERO_SHOT_TASKS,
    LanguageAdaptConfig,
    PipelineConfig,
    TaskAdaptConfig,
    adapt_language,
    adapt_task,
    assemble_and_evaluate,
    default_data_root,
    run_pipeline,
)
from lifelong.pretraining.mlm import PretrainConfig, pretrain

# ---------------------------------------------------------------- --set key=value


def _parse_value(raw: str, hint: Any, key: str) -> Any:
    """A command-line string as the field's type (int, float, bool, str, list[str], optional)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw.strip().lower() in ("none", "null", ""):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _parse_value(raw, inner[0], key)
    if origin is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if hint is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--set {key}: expected true/false, got {raw!r}")
    if hint in (int, float):
        try:
            return hint(float(raw)) if hint is int and "e" in raw.lower() else hint(raw)
        except ValueError:
            raise ConfigError(f"--set {key}: expected {hint.__name__}, got {raw!r}") from None
    if hint is str:
        return raw
    raise ConfigError(f"--set {key}: cannot be set from the command line")


def apply_overrides(cfg: Any, assignments: list[str] | None, prefix: str = "") -> Any:
    """Set ``key=value`` (dotted keys reach nested config dataclasses) on ``cfg`` in place."""
    for assignment in assignments or []:
        if "=" not in assignment:
            raise ConfigError(f"--set expects key=value, got {assignment!r}")
        key, raw = assignment.split("=", 1)
        key = key.strip()
        target, parts = cfg, key.split(".")
        for depth, part in enumerate(parts):
            hints = typing.get_type_hints(type(target))
            known = [f.name for f in dataclasses.fields(target)]
            if part not in known:
                where = ".".join(parts[:depth])
                close = difflib.get_close_matches(part, known, n=1)
                hint = f" Did you mean {'.'.join([*parts[:depth], close[0]])!r}?" if close else ""
                raise ConfigError(
                    f"unknown config key {prefix}{key!r}{f' (in section {where})' if where else ''}.{hint} "
                    f"Known keys: {', '.join(known)}"
                )
            if depth < len(parts) - 1:
                target = getattr(target, part)
                if not dataclasses.is_dataclass(target):
                    raise ConfigError(f"--set {key}: {part!r} is not a section")
            else:
                if dataclasses.is_dataclass(getattr(target, part)):
                    raise ConfigError(f"--set {key}: is a section; set one of its keys, e.g. {key}.<key>=...")
                setattr(target, part, _parse_value(raw, hints[part], key))
    return cfg


# ---------------------------------------------------------------- handlers (typed arguments only)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_pretrain(cfg: PretrainConfig) -> int:
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
    result = adapt_task(cfg)
    _print({"out": result.out, "steps": result.steps, "final_loss": result.losses[-1][1], "dev": result.dev})
    return 0


def cmd_assemble_eval(body: str, language: str, test: str, bf16: bool = True) -> int:
    _print(assemble_and_evaluate(body, language, test, bf16=bf16))
    return 0


def cmd_pipeline(cfg: PipelineConfig) -> int:
    results = run_pipeline(cfg)
    _print({"out": cfg.out, "scores": results["scores"]})
    return 0


# ---------------------------------------------------------------- argparse boundary


def _set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")


def _languages(raw: str) -> list[str]:
    return [x.strip() for x in raw.split(",") if x.strip()]


def _pretrain_from_args(ns: argparse.Namespace) -> int:
    cfg = PretrainConfig(corpus=ns.corpus, out=ns.out, resume=ns.resume)
    if ns.steps is not None:
        cfg.steps = ns.steps
    if ns.reset_every is not None:
        cfg.reset_every = ns.reset_every or None
    return cmd_pretrain(apply_overrides(cfg, ns.set))


def _language_from_args(ns: argparse.Namespace) -> int:
    cfg = LanguageAdaptConfig(
        model=ns.model,
        corpus=ns.corpus,
        out=ns.out,
        budget_steps=ns.budget_steps,
        budget_tokens=ns.budget_tokens,
        eval_body=ns.eval_body,
        eval_test=ns.eval_test,
        eval_every=ns.eval_every,
    )
    return cmd_adapt_language(apply_overrides(cfg, ns.set))


def _task_from_args(ns: argparse.Namespace) -> int:
    cfg = TaskAdaptConfig(model=ns.model, train=ns.train, out=ns.out, dev=ns.dev)
    return cmd_adapt_task(apply_overrides(cfg, ns.set))


def _assemble_from_args(ns: argparse.Namespace) -> int:
    return cmd_assemble_eval(ns.body, ns.language, ns.test, bf16=not ns.no_bf16)


def _pipeline_from_args(ns: argparse.Namespace) -> int:
    cfg = PipelineConfig(out=ns.out, data=ns.data, languages=_languages(ns.languages), model=ns.model)
    if ns.extra_tasks:
        cfg.extra_tasks = [t.strip() for t in ns.extra_tasks.split(",") if t.strip()]
    if ns.steps is not None:
        cfg.pretrain.steps = ns.steps
    if ns.reset_every is not None:
        cfg.pretrain.reset_every = ns.reset_every or None
    if ns.budget_steps is not None:
        cfg.language.budget_steps = ns.budget_steps
    return cmd_pipeline(apply_overrides(cfg, ns.set))


def register(subparsers: Any) -> None:
    """Add the active-forgetting subcommands to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "pretrain", help="masked-LM pretraining of a small RoBERTa (optionally with forgetting)"
    )
    p.add_argument("--corpus", required=True, help="plain-text corpus, one document per line")
    p.add_argument("--out", required=True, help="output folder (model, tokenizer, checkpoints, log)")
    p.add_argument(
        "--reset-every",
        type=int,
        default=None,
        metavar="K",
        help="reset token embeddings every K updates (0 = never)",
    )
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    _set_arg(p)
    p.set_defaults(func=_pretrain_from_args)

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
        "--data", default=default_data_root(), help="data root (default: $LIFELONG_DATA or /work/shared/data)"
    )
    p.add_argument("--languages", default=",".join(LANGUAGES))
    p.add_argument("--model", default=None, help="skip pretraining: use this pretrained model folder")
    p.add_argument("--reset-every", type=int, default=None, metavar="K")
    p.add_argument("--steps", type=int, default=None, help="pretraining steps")
    p.add_argument("--budget-steps", type=int, default=None, help="language-adaptation steps per language")
    p.add_argument(
        "--extra-tasks",
        default="",
        help=f"comma-separated tasks scored with the final embeddings too ({', '.join(ZERO_SHOT_TASKS)})",
    )
    _set_arg(p)
    p.set_defaults(func=_pipeline_from_args)
