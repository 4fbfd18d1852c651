"""A session: a method bound to its learner, the run context and the score matrices so far; one task
at a time learned, scored and checkpointed. Runs, resumes, ``learn`` and the benchmark scripts all
start from :func:`open_session`."""

from __future__ import annotations

import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import accelerate
import numpy as np
import torch
import transformers
from accelerate.utils import is_tensorboard_available, is_wandb_available, set_seed

from lifelong.config import RunConfig
from lifelong.context import RunContext, make_accelerator
from lifelong.data.task import Task
from lifelong.errors import ConfigError, LifelongError
from lifelong.evaluation.matrices import ScoreMatrices
from lifelong.evaluation.report import write_run_results
from lifelong.methods import METHODS
from lifelong.methods.base import Method, build_method_config
from lifelong.models.build import build_learner
from lifelong.precision import flush_denormals, native_bf16
from lifelong.run_folder import write_status
from lifelong.schema import check
from lifelong.training.checkpoint import save_checkpoint
from lifelong.training.evaluate import evaluate_task
from lifelong.training.trainer import task_seed, train_task

log = logging.getLogger("lifelong")


@dataclass
class Session:
    """A method bound to its learner, the run context and the score matrices so far."""

    config: RunConfig
    method: Method
    ctx: RunContext
    scores: ScoreMatrices
    scenario: str
    # eval_only tasks, scored at every stage and never trained; their scores: name -> one entry per stage
    probes: list[Task] = field(default_factory=list)
    probe_scores: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # one entry per trained stage: updates, tokens, seconds and tokens/s of the training alone (no scoring)
    training: list[dict[str, Any]] = field(default_factory=list)
    # wall time: seconds spent by earlier invocations (a resumed run, a learner given one more task),
    # and when this one started; checkpoints keep the sum, so a resumed run reports all its time
    wall_before: float = 0.0
    started: float = field(default_factory=time.time)

    def wall_time(self) -> float:
        return self.wall_before + time.time() - self.started

    def add_probes(self, probes: list[Task]) -> None:
        """Give the learner the probes' structure (they are answered, never trained)."""
        if probes and not self.method.answers_unseen_tasks:
            raise ConfigError(
                f"method {self.method.name!r} answers a task with that task's own trained parts, so it cannot "
                f"score eval_only tasks ({', '.join(p.name for p in probes)})"
            )
        if probes and self.method.learner.kind == "classifier" and self.scenario != "domain":
            raise ConfigError(
                "eval_only tasks need a model that can answer a task it never trained on: a text2text model, "
                "or one shared classification head (the domain-incremental scenario)"
            )
        for probe in probes:
            self.method.learner.grow(probe)
        self.probes = probes

    def score_probes(self, stage: int, skipped: bool = False) -> None:
        """Row ``stage`` of every probe's scores (0 = before any training); empty for a skipped stage."""
        for probe in self.probes:
            rows = self.probe_scores.setdefault(probe.name, [])
            del rows[stage:]  # a resumed stage is scored again, not appended twice
            rows.append({} if skipped else evaluate_task(self.method, probe, self.ctx))

    # ---- one task --------------------------------------------------------------------------
    def learn_task(self, task: Task, last: bool = True) -> None:
        """Train one task and score every task seen so far; ``last``: it ends the stream."""
        t = len(self.method.tasks)  # 0-based index of the new task = number of stages done
        set_seed(task_seed(self.config.seed, t) + 1)  # new heads/tokens start the same after a resume
        self.method.grow(task)
        self.scores.add_task(task.name)
        if not self.method.trains_stage(last):
            self._skip_stage(task, t)
            return
        if t > 0 and self.config.training.score_before:  # the new task before its training (forward transfer)
            self.scores.set(t, task.name, evaluate_task(self.method, task, self.ctx))
        start = time.time()
        rows = self.method.learner.encode(task, task.split("train"))
        rows = self.method.before_task(task, rows)
        stats = train_task(self.method, task, t, rows, self.ctx)
        del self.training[t:]  # a resumed stage is recorded again, not appended twice
        self.training.append(training_record(task.name, stats))
        self.method.after_task(task, rows)
        for seen in self.method.tasks:
            self.scores.set(t + 1, seen.name, evaluate_task(self.method, seen, self.ctx))
        self.score_probes(t + 1)
        if not self.ctx.is_main:
            return
        own = [  # each task by its own metric: a stream may mix accuracy, F1 and EM
            f"{seen.name} {metric} {self.scores.array(metric)[t + 1, self.scores.tasks.index(seen.name)]:.3f}"
            for seen in self.method.tasks
            if (metric := scored_metric(seen, self.scores))
        ]
        trained = f"loss {stats['loss']:.4f}" if stats["updates"] else "no training"
        log.info(
            "stage %d/%s done in %.0fs (%s); %s",
            t + 1,
            task.name,
            time.time() - start,
            trained,
            ", ".join(own),
        )

    def _skip_stage(self, task: Task, t: int) -> None:
        """A stage the method leaves out: its score row stays NaN (not evaluated), its probes' too."""
        del self.training[t:]
        self.training.append(
            training_record(task.name, {"loss": math.nan, "updates": 0, "tokens": 0, "seconds": 0.0})
        )
        self.score_probes(t + 1, skipped=True)
        if self.ctx.is_main:
            log.info(
                "stage %d/%s skipped: %s does not train at this stage", t + 1, task.name, self.method.name
            )

    # ---- persistence -----------------------------------------------------------------------
    def progress(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "tasks": [t.spec() for t in self.method.tasks],
            "scores": self.scores.to_json(),
            "scenario": self.scenario,
            "probes": self.probe_scores,
            "probe_tasks": [p.spec() for p in self.probes],
            "training": self.training,
            "wall_time_s": round(self.wall_time(), 1),
            **(extra or {}),
        }

    def _probe_table(self) -> dict[str, dict[str, Any]]:
        return {
            p.name: {
                "metric": p.metric,
                "scores": [row.get(p.metric) for row in self.probe_scores.get(p.name, [])],
            }
            for p in self.probes
        }

    def checkpoint(self, run_dir: Path) -> None:
        if self.ctx.is_main:
            save_checkpoint(run_dir, self.method, self.progress())
        self.ctx.accelerator.wait_for_everyone()

    def write_results(self, run_dir: Path, status: str) -> dict[str, Any] | None:
        if not self.ctx.is_main:
            return None
        primary, matrices = primary_matrices(self.scores, self.method.tasks)
        metrics = write_run_results(
            run_dir,
            tasks=self.scores.tasks,
            matrices=matrices,
            primary=primary,
            method=self.config.method,
            model=self.config.model.name,
            seed=self.config.seed,
            reference=self.method.reference,
            extra={
                "name": self.config.name or run_dir.name,
                "scenario": self.scenario,
                "status": status,
                "wall_time_s": round(self.wall_time(), 1),
                "training": self.training,
                **({"probes": self._probe_table()} if self.probes else {}),
                **({"method_tables": tables} if (tables := self.method.report_tables()) else {}),
            },
        )
        write_status(run_dir, status)
        return metrics


def training_record(task: str, stats: dict[str, Any]) -> dict[str, Any]:
    """What one stage's training cost: the tokens/s of the training loop alone (scoring excluded)."""
    seconds = float(stats["seconds"])
    return {
        "task": task,
        "updates": stats["updates"],
        "tokens": stats["tokens"],
        "seconds": round(seconds, 2),
        "tokens_per_s": round(stats["tokens"] / seconds, 1) if seconds > 0 and stats["updates"] else None,
    }


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "cuda": torch.cuda.is_available(),
        "cpu": torch.cpu.get_capabilities().get("cpu_name", ""),
        "native_bf16": native_bf16("cuda" if torch.cuda.is_available() else "cpu"),  # else bf16 runs float32
    }


def open_session(
    config: RunConfig, stream_tasks: list[Task], scenario: str, run_dir: Path | None = None
) -> Session:
    """The method named by ``config``, built on its learner, with a run context: what `run`, `learn`,
    the Python API and the benchmark scripts all start from."""
    check(config)  # a config built in Python gets the checks a YAML file gets
    method_cls = METHODS.get(config.method)
    method_cfg = build_method_config(method_cls, config.method_args)
    set_seed(config.seed)  # random-initialised weights (tiny presets, new heads) depend on the seed
    flush_denormals(config.training.flush_denormal)
    learner = build_learner(
        config.model,
        scenario,
        stream_tasks,
        bf16=config.training.bf16,
        eval_batch_size=config.training.eval_batch_size,
        end_task=config.end_task,
    )
    method_cls.check_compatible(scenario, learner.kind)
    _check_trackers(config.training.trackers)
    accelerator = make_accelerator(config.training, run_dir)
    if config.training.trackers:
        _start_trackers(accelerator, config)
    learner.to(accelerator.device)
    ctx = RunContext(accelerator, config.training, config.seed, run_dir)
    method = method_cls(learner, method_cfg, ctx)
    return Session(config, method, ctx, ScoreMatrices(), scenario)


def _check_trackers(trackers: list[str]) -> None:
    """TensorBoard / Weights & Biases through Accelerate; an unknown or missing one is a clear error."""
    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    for name in trackers:
        if name not in available:
            raise LifelongError(f"training.trackers: unknown tracker {name!r} (use tensorboard or wandb)")
        if not available[name]():
            raise LifelongError(f"training.trackers: {name} is not installed (python -m pip install {name})")


def _start_trackers(accelerator, config: RunConfig) -> None:
    flat = {
        "method": config.method,
        "model": config.model.name,
        "seed": config.seed,
        "lr": config.training.lr,
        "epochs": config.training.epochs,
        "batch_size": config.training.batch_size,
    }
    accelerator.init_trackers("lifelong", config=flat)


TASK_METRIC = "task_metric"  # the primary matrix of a stream whose tasks use different metrics


def scored_metric(task: Task, scores: ScoreMatrices) -> str:
    """The metric ``task`` is reported by: its own, except for a corpus task whose end task was not
    scored (``end_task.enabled: false``), which has only its held-out masked-LM loss."""
    if task.kind == "corpus" and task.metric not in scores.data and "mlm_loss" in scores.data:
        return "mlm_loss"
    return task.metric


def primary_matrices(scores: ScoreMatrices, tasks: list[Task]) -> tuple[str, dict[str, np.ndarray]]:
    """The metric to summarise a run with, and every matrix. One metric when all tasks share it;
    otherwise an extra matrix holding each task's own metric (SST EM, SQuAD nF1, WOZ dsEM)."""
    matrices = scores.arrays()
    metrics = {t.name: scored_metric(t, scores) for t in tasks if t.name in scores.tasks}
    kinds = set(metrics.values())
    if len(kinds) <= 1:
        return (kinds.pop() if kinds else "accuracy"), matrices
    matrices[TASK_METRIC] = scores.per_task_metric(metrics)
    return TASK_METRIC, matrices
