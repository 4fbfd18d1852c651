"""Runs and saved learners: ``run`` a stream, ``resume`` it, ``learn`` one more task later,
``evaluate`` everything learned, ``predict`` for new inputs.

A run folder *is* a saved learner: its config rebuilds the model, the task list in the checkpoint
replays every method's ``grow``, and the weights and method state are loaded on top.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accelerate
import numpy as np
import torch
import transformers
from accelerate import PartialState
from accelerate.utils import is_tensorboard_available, is_wandb_available, set_seed

from lifelong.config import RunConfig, load_config
from lifelong.context import RunContext, cpu_only, make_accelerator
from lifelong.data.files import resolve_data_dir
from lifelong.data.loaders import load_inputs
from lifelong.data.stream import Stream, StreamConfig, load_stream, load_task_from_source
from lifelong.data.task import Example, Task
from lifelong.errors import LifelongError, RunFolderExistsError
from lifelong.evaluation.matrices import ScoreMatrices
from lifelong.evaluation.metrics import summarize
from lifelong.evaluation.report import write_run_results
from lifelong.io import write_json, write_yaml
from lifelong.methods import METHODS
from lifelong.methods.base import Method, build_method_config
from lifelong.models.build import build_learner
from lifelong.schema import read_mapping
from lifelong.training.checkpoint import load_weights, read_progress, save_checkpoint
from lifelong.training.evaluate import evaluate_task
from lifelong.training.trainer import task_seed, train_task

log = logging.getLogger("lifelong")
STATUS = "status.json"


@dataclass
class Session:
    """A method bound to its learner, the run context and the score matrices so far."""

    config: RunConfig
    method: Method
    ctx: RunContext
    scores: ScoreMatrices
    scenario: str

    # ---- one task --------------------------------------------------------------------------
    def learn_task(self, task: Task) -> None:
        t = len(self.method.tasks)  # 0-based index of the new task = number of stages done
        set_seed(task_seed(self.config.seed, t) + 1)  # new heads/tokens start the same after a resume
        self.method.grow(task)
        self.scores.add_task(task.name)
        if t > 0:  # the current model on the new task before training on it (for forward transfer)
            self.scores.set(t, task.name, evaluate_task(self.method, task, self.ctx))
        start = time.time()
        rows = self.method.learner.encode(task, task.split("train"))
        rows = self.method.before_task(task, rows)
        stats = train_task(self.method, task, t, rows, self.ctx)
        self.method.after_task(task, rows)
        for seen in self.method.tasks:
            self.scores.set(t + 1, seen.name, evaluate_task(self.method, seen, self.ctx))
        primary = self.scores.array(task.metric)[t + 1, : t + 1]
        log.info(
            "stage %d/%s done in %.0fs (loss %.4f); %s per task: %s",
            t + 1,
            task.name,
            time.time() - start,
            stats["loss"],
            task.metric,
            " ".join(f"{v:.3f}" for v in primary),
        )

    # ---- persistence -----------------------------------------------------------------------
    def progress(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "tasks": [t.spec() for t in self.method.tasks],
            "scores": self.scores.to_json(),
            "scenario": self.scenario,
            **(extra or {}),
        }

    def checkpoint(self, run_dir: Path) -> None:
        if self.ctx.is_main:
            save_checkpoint(run_dir, self.method, self.progress())
        self.ctx.accelerator.wait_for_everyone()

    def write_results(self, run_dir: Path, status: str, wall_time: float) -> dict[str, Any] | None:
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
            extra={"scenario": self.scenario, "status": status, "wall_time_s": round(wall_time, 1)},
        )
        write_status(run_dir, status)
        return metrics


# ---------------------------------------------------------------------------------------------
def write_status(run_dir: Path, status: str, **info: Any) -> None:
    write_json(run_dir / STATUS, {"status": status, "time": time.strftime("%Y-%m-%d %H:%M:%S"), **info})


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
    }


def open_session(
    config: RunConfig, stream_tasks: list[Task], scenario: str, run_dir: Path | None = None
) -> Session:
    """The method named by ``config``, built on its learner, with a run context: what `run`, `learn`,
    the Python API and the benchmark scripts all start from."""
    method_cls = METHODS.get(config.method)
    method_cfg = build_method_config(method_cls, config.method_args)
    set_seed(config.seed)  # random-initialised weights (tiny presets, new heads) depend on the seed
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


def _before_any_training(session: Session, tasks: list[Task]) -> None:
    """Row 0: each task on the untrained model (a throw-away copy grown for that task)."""
    probe = copy.deepcopy(session.method)
    for task in tasks:
        session.scores.add_task(task.name)
        probe.grow(task)
        session.scores.set(0, task.name, evaluate_task(probe, task, session.ctx))


def _prepare_run_dir(run_dir: Path, resume: bool) -> None:
    state = PartialState(
        cpu=cpu_only()
    )  # under torchrun, only the main process checks and creates the folder
    if state.is_main_process:
        _check_run_dir(run_dir, resume)
    state.wait_for_everyone()


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise RunFolderExistsError(
            f"run folder {run_dir} already exists; pass --resume to continue it or choose another --out"
        )
    if resume and not (run_dir / "config.yaml").exists():
        raise LifelongError(f"--resume: {run_dir} is not a run folder (no config.yaml)")
    run_dir.mkdir(parents=True, exist_ok=True)


def run(config: RunConfig, out: str | Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Train ``config.method`` on the stream, evaluate after every task, write the run folder."""
    start = time.time()
    data_dir = resolve_data_dir(config.data_dir) if config.stream.benchmark not in (None, "builtin") else None
    stream: Stream = load_stream(config.stream, data_dir)
    run_dir = Path(out) if out else None
    if run_dir:
        _prepare_run_dir(run_dir, resume)
    session = open_session(config, stream.tasks, stream.scenario, run_dir)
    done = 0
    if resume and run_dir and (progress := read_progress(run_dir)):
        saved = [t["name"] for t in progress["tasks"]]
        expected = [t.name for t in stream.tasks[: len(saved)]]
        if saved != expected:
            raise LifelongError(
                f"--resume: {run_dir} was trained on {saved}, but the config's stream starts with {expected}"
            )
        for task in stream.tasks[: len(saved)]:
            session.method.grow(task)
        load_weights(run_dir, session.method)
        session.scores = ScoreMatrices.from_json(progress["scores"])
        done = len(saved)
        log.info("resuming %s after %d of %d tasks", run_dir, done, len(stream.tasks))
    if run_dir and session.ctx.is_main and not resume:
        write_yaml(run_dir / "config.yaml", config.to_dict())
        write_json(
            run_dir / "environment.json",
            {**environment(), "seed": config.seed, "processes": session.ctx.accelerator.num_processes},
        )
    if run_dir and session.ctx.is_main:
        write_status(run_dir, "running", completed_tasks=done, total_tasks=len(stream.tasks))
    if done == 0:
        _before_any_training(session, stream.tasks)
    for task in stream.tasks[done:]:
        session.learn_task(task)
        if run_dir:
            session.checkpoint(run_dir)
            if session.ctx.is_main:
                write_status(
                    run_dir,
                    "running",
                    completed_tasks=len(session.method.tasks),
                    total_tasks=len(stream.tasks),
                )
    session.ctx.accelerator.end_training()
    if run_dir:
        return session.write_results(run_dir, "complete", time.time() - start) or {}
    primary, matrices = primary_matrices(session.scores, stream.tasks)
    return {
        "tasks": session.scores.tasks,
        "primary_metric": primary,
        "matrix": matrices[primary].tolist(),
        **summarize(matrices[primary]),
    }


TASK_METRIC = "task_metric"  # the primary matrix of a stream whose tasks use different metrics


def primary_matrices(scores: ScoreMatrices, tasks: list[Task]) -> tuple[str, dict[str, np.ndarray]]:
    """The metric to summarise a run with, and every matrix. One metric when all tasks share it;
    otherwise an extra matrix holding each task's own metric (SST EM, SQuAD nF1, WOZ dsEM)."""
    matrices = scores.arrays()
    metrics = {t.name: t.metric for t in tasks if t.name in scores.tasks}
    kinds = set(metrics.values())
    if len(kinds) <= 1:
        return (kinds.pop() if kinds else "accuracy"), matrices
    matrices[TASK_METRIC] = scores.per_task_metric(metrics)
    return TASK_METRIC, matrices


# ---------------------------------------------------------------------------------------------
# saved learners
# ---------------------------------------------------------------------------------------------
def open_learner(learner_dir: str | Path) -> tuple[Session, list[Task]]:
    """Rebuild a saved learner: config -> model, task specs -> grow, then weights and method state."""
    learner_dir = Path(learner_dir)
    cfg_path = learner_dir / "config.yaml"
    if not cfg_path.exists():
        raise LifelongError(
            f"{learner_dir} is not a saved learner (no config.yaml); create one with `lifelong run`"
        )
    progress = read_progress(learner_dir)
    if progress is None:
        raise LifelongError(f"{learner_dir} has no checkpoint yet (no task finished)")
    config = load_config(cfg_path)
    data_dir = (
        resolve_data_dir(config.data_dir)
        if any(t["source"].get("benchmark") not in (None, "builtin") for t in progress["tasks"])
        else None
    )
    tasks = [
        load_task_from_source(spec["source"], data_dir) if spec.get("source") else Task.from_spec(spec)
        for spec in progress["tasks"]
    ]
    session = open_session(config, tasks, progress["scenario"], learner_dir)
    for task in tasks:
        session.method.grow(task)
    load_weights(learner_dir, session.method)
    session.scores = ScoreMatrices.from_json(progress["scores"])
    return session, tasks


def learn(learner_dir: str | Path, task: Task) -> dict[str, Any]:
    """Add one more task to a saved learner (open-ended learning)."""
    start = time.time()
    learner_dir = Path(learner_dir)
    session, tasks = open_learner(learner_dir)
    if any(t.name == task.name for t in tasks):
        raise LifelongError(f"the learner in {learner_dir} has already learned a task named {task.name!r}")
    write_status(learner_dir, "running", adding_task=task.name)
    session.learn_task(task)
    session.checkpoint(learner_dir)
    return session.write_results(learner_dir, "complete", time.time() - start) or {}


def evaluate_learner(learner_dir: str | Path) -> dict[str, dict[str, float]]:
    session, tasks = open_learner(learner_dir)
    return {task.name: evaluate_task(session.method, task, session.ctx) for task in tasks}


def find_task(tasks: list[Task], name: str) -> Task:
    task = next((t for t in tasks if t.name == name), None)
    if task is None:
        raise LifelongError(
            f"the learner has not learned a task named {name!r}; it knows {[t.name for t in tasks]}"
        )
    return task


def predict(learner_dir: str | Path, task_name: str, examples: list[Example] | str | Path) -> list[str]:
    """A saved learner's answers for ``examples`` (or a JSONL file of inputs) of one learned task."""
    session, tasks = open_learner(learner_dir)
    task = find_task(tasks, task_name)
    if not isinstance(examples, list):
        examples = load_inputs(Path(examples))
    return session.method.predict(task, examples)


def resolve_task(ref: str, learner_dir: str | Path) -> Task:
    """A task for ``learn``: a YAML/JSON task-spec file, BENCHMARK/TASK, or a task of the learner's benchmark."""
    config = load_config(Path(learner_dir) / "config.yaml")
    if Path(ref).is_file():
        spec = read_mapping(ref)
        stream_cfg = StreamConfig(tasks=[spec], seed=config.stream.seed)
    else:
        bench, _, name = ref.rpartition("/")
        stream_cfg = StreamConfig(
            benchmark=bench or config.stream.benchmark or "builtin",
            tasks=[name],
            max_train=config.stream.max_train,
            max_dev=config.stream.max_dev,
            max_eval=config.stream.max_eval,
            seed=config.stream.seed,
        )
    data_dir = resolve_data_dir(config.data_dir) if stream_cfg.benchmark not in (None, "builtin") else None
    return load_stream(stream_cfg, data_dir).tasks[0]
