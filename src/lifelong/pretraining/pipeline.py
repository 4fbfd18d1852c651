"""Every stage for one pretrained model: pretrain (unless given) -> task adaptation on English ->
the English control -> per language: language adaptation + zero-shot test; then results.json,
results.md and curves.png.

The English control relearns *English* embeddings on the frozen body under the same budget and tests
the assembled model on the English test set (row ``en (relearned)``). It separates "no cross-lingual
transfer" from "relearned embeddings do not fit the task model at all": if the control is near the
majority class, no target language can be expected above it.

Data paths follow the shared layout under the data folder (``--data``/``$LIFELONG_DATA``):
``corpora/english.txt``, ``multilingual/<task>/<lang>/*.jsonl`` and ``multilingual/corpora/<lang>.txt``.
A stage whose output already exists with the same config and pretrained body is skipped, so an
interrupted run is restarted by running the same command again.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from lifelong.data.files import resolve_data_dir
from lifelong.data.loaders import split_row_range
from lifelong.errors import ConfigError, DataError
from lifelong.io import write_json, write_text
from lifelong.pretraining.assembly import assemble_and_evaluate
from lifelong.pretraining.classify import evaluate_classifier, read_labelled
from lifelong.pretraining.language import LanguageAdaptConfig, adapt_language
from lifelong.pretraining.mlm import PretrainConfig, pretrain
from lifelong.pretraining.models import (
    body_fingerprint,
    load_classifier,
    load_mlm,
    load_tokenizer,
    max_length,
    model_dir,
    read_meta,
)
from lifelong.pretraining.report import ENGLISH_CONTROL, plot_curves, results_table
from lifelong.pretraining.targets import LANGUAGES, ZERO_SHOT_TASKS, ZeroShotTask
from lifelong.pretraining.task import TaskAdaptConfig, adapt_task
from lifelong.schema import NON_NEGATIVE

CONTROL_FOLDER = "en-control"  # languages/<this> holds the English control's adaptation


def adaptation_folder(language: str) -> str:
    """The folder under ``languages/`` holding a language's adaptation; ``en`` means the English control."""
    return CONTROL_FOLDER if language == "en" else language


@dataclass
class PipelineConfig:
    """All stages for one pretrained model (``model``: skip pretraining and use this folder).

    ``task_name`` (default SIB-200) is also scored along each language adaptation; every
    ``extra_tasks`` entry (e.g. ``xnli``) gets its own task adaptation and is scored with the final
    target embeddings. ``pretrain.corpus``/``pretrain.out`` default to the data folder's English
    corpus and ``out/pretrained``.
    """

    out: str = ""
    data: str = ""  # default: $LIFELONG_DATA
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    model: str | None = None
    name: str = ""  # variant name in tables and plots; default: the output folder's name
    eval_points: Annotated[int, NON_NEGATIVE] = (
        4  # zero-shot evaluations along each language adaptation (plus step 0)
    )
    task_name: str = "sib200"
    extra_tasks: list[str] = field(default_factory=list)
    english_control: bool = True
    # English corpus lines the control relearns from (about the size of a target-language corpus)
    control_lines: Annotated[int, NON_NEGATIVE] = 8000
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    task: TaskAdaptConfig = field(default_factory=TaskAdaptConfig)
    language: LanguageAdaptConfig = field(default_factory=LanguageAdaptConfig)


def _done(out: Path, cfg: Any, fingerprint: str) -> bool:
    """An adapted model already in ``out``, made with this very config from this very pretrained body."""
    meta = read_meta(out)
    return meta.get("config") == dataclasses.asdict(cfg) and meta.get("pretrained_fingerprint") == fingerprint


def zero_shot_task(name: str) -> ZeroShotTask:
    if name not in ZERO_SHOT_TASKS:
        raise ConfigError(f"unknown zero-shot task {name!r}; known: {', '.join(ZERO_SHOT_TASKS)}")
    return ZERO_SHOT_TASKS[name]


def _adapt_english(
    task_cfg: TaskAdaptConfig,
    task: ZeroShotTask,
    english: Path,
    out: Path,
    model: Path,
    fingerprint: str,
    targets: dict[str, Path] | None = None,
) -> tuple[TaskAdaptConfig, dict[str, dict[str, float]]]:
    """Task adaptation on the English rows (skipped if already done); its config and its scores: ``en`` on
    the English test, and each of ``targets`` (language -> test file) read through the model's own English
    vocabulary, nothing relearned -- the reference every relearning must beat (a pretrained English
    WordPiece reads related languages well above the majority class this way, docs/results.md §7a)."""
    task_cfg = dataclasses.replace(
        task_cfg, model=str(model), train=task_cfg.train or str(english / task.train), out=str(out)
    )
    if task_cfg.dev is None and task.dev and split_row_range(english / task.dev)[0].is_file():
        task_cfg.dev = str(english / task.dev)
    if not _done(out, task_cfg, fingerprint):
        adapt_task(task_cfg)
    classifier, tokenizer = load_classifier(out), load_tokenizer(out)
    tests = {"en": english / task.test, **(targets or {})}
    scores = {
        lang: evaluate_classifier(classifier, tokenizer, read_labelled(test), bf16=task_cfg.bf16)
        for lang, test in tests.items()
    }
    return task_cfg, scores


class _Clock:
    """Seconds per stage, for the results' cost line."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage], self._t = now - self._t, now


def english_corpus(cfg: PipelineConfig, data: Path) -> Path:
    return Path(cfg.pretrain.corpus or data / "corpora" / "english.txt")


def _pretrained(cfg: PipelineConfig, data: Path, out: Path) -> Path:
    if cfg.model:
        return model_dir(cfg.model, "pretrained model")
    pre = dataclasses.replace(
        cfg.pretrain,
        corpus=str(english_corpus(cfg, data)),
        out=cfg.pretrain.out or str(out / "pretrained"),
        resume=True,
    )
    pretrain(pre)
    return Path(pre.out)


def _write_report(out: Path, name: str, cfg: PipelineConfig, results: dict[str, Any]) -> None:
    write_json(out / "results.json", results)
    scores, extra_scores = results["scores"], results["extra_tasks"]
    sections = [f"# {name}: zero-shot {cfg.task_name} accuracy (%)\n"]
    columns = {name: scores, f"{name}, no relearning": results["no_relearning"]}
    sections += [results_table(columns), "**macro-F1**\n", results_table(columns, "macro_f1")]
    if ENGLISH_CONTROL in scores:
        sections.append(
            f"`{ENGLISH_CONTROL}`: the English test with English embeddings relearned on the frozen body "
            "(the control; not in the mean).\n"
        )
    sections.append(
        f"`{name}, no relearning`: the English task model reading each target language through its own "
        "English vocabulary (the reference a relearned vocabulary has to beat).\n"
    )
    for task_name, task_scores in extra_scores.items():
        sections += [f"## {task_name} accuracy (%)\n", results_table({name: task_scores})]
    write_text(out / "results.md", "\n".join(sections))
    plot_curves(results["curves"], out / "curves.png")


def run_pipeline(cfg: PipelineConfig) -> dict[str, Any]:
    """All stages for one pretrained model; writes results.json, results.md and curves.png into ``out``."""
    if not cfg.out:
        raise ConfigError("the pipeline needs an output folder (out)")
    out, data = Path(cfg.out), resolve_data_dir(cfg.data or None, flag="--data")
    name = cfg.name or out.name
    multi = data / "multilingual"
    main_task = zero_shot_task(cfg.task_name)
    extra = {task: zero_shot_task(task) for task in cfg.extra_tasks if task != cfg.task_name}
    for lang in cfg.languages:
        if not (multi / "corpora" / f"{lang}.txt").is_file():
            raise DataError(f"no corpus for language {lang!r}: {multi / 'corpora' / f'{lang}.txt'} not found")
    if cfg.english_control and not english_corpus(cfg, data).is_file():
        raise DataError(f"the English control needs {english_corpus(cfg, data)} (or english_control: false)")
    clock = _Clock()
    model = _pretrained(cfg, data, out)
    pretrained = load_mlm(model)
    fingerprint = body_fingerprint(pretrained)
    max_seq = max_length(pretrained)
    del pretrained
    clock.lap("pretraining")

    english = multi / main_task.folder / "en"
    tests = {lang: multi / main_task.folder / lang / main_task.test for lang in cfg.languages}
    task_cfg, no_relearning = _adapt_english(
        cfg.task, main_task, english, out / "task", model, fingerprint, targets=tests
    )
    clock.lap("task adaptation")
    scores: dict[str, dict[str, float]] = {"en": no_relearning.pop("en")}
    curves: dict[str, dict[str, Any]] = {}
    # (row name, folder under languages/, corpus, test file, corpus lines)
    adaptations = [
        (lang, lang, multi / "corpora" / f"{lang}.txt", tests[lang], cfg.language.max_lines)
        for lang in cfg.languages
    ]  # fmt: skip
    if cfg.english_control:
        control_lines = cfg.control_lines or cfg.language.max_lines
        control = (
            ENGLISH_CONTROL,
            CONTROL_FOLDER,
            english_corpus(cfg, data),
            english / main_task.test,
            control_lines,
        )
        adaptations.insert(0, control)
    for lang, folder, corpus, test, max_lines in adaptations:
        lang_cfg = dataclasses.replace(
            cfg.language,
            model=str(model),
            corpus=str(corpus),
            out=str(out / "languages" / folder),
            eval_body=task_cfg.out,
            eval_test=str(test),
            max_lines=max_lines,
        )
        if lang_cfg.eval_every is None and cfg.eval_points > 0:
            seq = min(cfg.language.seq_len or max_seq, max_seq)
            lang_cfg.eval_every = max(1, lang_cfg.steps(seq) // cfg.eval_points)
        if not _done(Path(lang_cfg.out), lang_cfg, fingerprint):
            adapt_language(lang_cfg)
        meta = read_meta(lang_cfg.out)
        scores[lang] = dict(meta["final"], mlm_loss=meta["curve"]["mlm_loss"][-1], steps=meta["steps"])
        curves[f"{name}/{lang}"] = meta["curve"]
        clock.lap(f"language adaptation {lang}")

    extra_scores: dict[str, dict[str, dict[str, float]]] = {}
    for task_name, task in extra.items():
        body = out / f"task-{task_name}"
        own_files = dataclasses.replace(cfg.task, train="", dev=None)
        english = multi / task.folder / "en"
        extra_scores[task_name] = _adapt_english(own_files, task, english, body, model, fingerprint)[1]
        for lang in cfg.languages:
            extra_scores[task_name][lang] = assemble_and_evaluate(
                body, out / "languages" / lang, multi / task.folder / lang / task.test, bf16=task_cfg.bf16
            )
        clock.lap(f"{task_name} (task adaptation + tests)")

    results = {
        "name": name,
        "model": str(model),
        "task": cfg.task_name,
        "scores": scores,
        "no_relearning": no_relearning,
        "extra_tasks": extra_scores,
        "curves": curves,
        "seconds": clock.seconds,
    }
    _write_report(out, name, cfg, results)
    return results
