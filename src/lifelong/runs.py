"""Runs and saved learners: ``run`` a stream, ``resume`` it, ``learn`` one more task later,
``evaluate`` everything learned, ``predict`` for new inputs.

A run folder *is* a saved learner: its config rebuilds the model, the task list in the checkpoint
replays every method's ``grow``, and the weights and method state are loaded on top. Commands that
read a learner never write to it; ``learn`` works on a copy and swaps it in only when it completes.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from lifelong.config import RunConfig, load_config
from lifelong.data.benchmarks import GENERATED
from lifelong.data.files import resolve_data_dir
from lifelong.data.loaders import load_inputs
from lifelong.data.stream import Stream, StreamConfig, load_stream, load_task_from_source
from lifelong.data.task import Example, Task
from lifelong.errors import ConfigError, LifelongError
from lifelong.evaluation.matrices import ScoreMatrices
from lifelong.evaluation.metrics import summarize
from lifelong.io import write_json, write_yaml
from lifelong.methods.base import METHODS
from lifelong.run_folder import (
    CONFIG,
    check_resume_config,
    check_run_dir,
    commit,
    config_changes,
    copy_run_folder,
    create_run_dir,
    discard,
    work_copy,
    write_status,
)
from lifelong.schema import check, read_mapping, unused_before
from lifelong.session import Session, environment, open_session, primary_matrices
from lifelong.training.checkpoint import load_weights, read_progress
from lifelong.training.evaluate import evaluate_task

log = logging.getLogger("lifelong")


def _before_any_training(session: Session, tasks: list[Task]) -> None:
    """Row 0: each task on the untrained model (a throw-away copy grown for that task)."""
    for task in tasks:
        session.scores.add_task(task.name)
    if not session.config.training.score_before:
        return  # row 0 stays NaN: not evaluated
    probe = copy.deepcopy(session.method)
    for task in tasks:
        probe.grow(task)
        session.scores.set(0, task.name, evaluate_task(probe, task, session.ctx))


def _data_dir(config: RunConfig, benchmark: str | None) -> Path | None:
    """The data directory a benchmark's files live in; generated benchmarks and custom specs need none
    up front (a custom task's relative path is resolved when it is read)."""
    return resolve_data_dir(config.data_dir) if benchmark is not None and benchmark not in GENERATED else None


def _check_task_keys(config: RunConfig, stream: Stream) -> None:
    """Config keys that name tasks must name tasks of this stream (a typo would silently do nothing)."""
    names = [t.name for t in stream.tasks]
    for name in config.training.epochs_by_task:
        if name not in names:
            raise ConfigError(
                f"config key training.epochs_by_task.{name}: the stream has no task named {name!r} "
                f"(its tasks: {', '.join(names)})"
            )


def check_fork(source: Path, run_dir: Path, config: RunConfig) -> tuple[frozenset[str], dict[str, Any], bool]:
    """Whether ``config`` may continue from ``source``'s checkpoint in the new folder ``run_dir``: the
    same config except for method settings that the tasks ``source`` has learned never read
    (:class:`lifelong.schema.UnusedBefore`), and more tasks at the end of the stream. Returns those
    settings' keys, what the fork records (``fork.json``) and whether the stream is extended."""
    check_run_dir(run_dir, resume=False)
    progress = read_progress(source) if (source / CONFIG).is_file() else None
    if progress is None:
        raise LifelongError(
            f"--fork: {source} is not a run folder with a checkpoint (run it, or --stop-after K)"
        )
    learned = len(progress["tasks"])
    marks = unused_before(METHODS.get(config.method).config_class)
    allowed = frozenset(f"method_args.{k}" for k, task in marks.items() if task > learned)
    saved = load_config(source / CONFIG).to_dict()
    extended = check_resume_config(source, saved, config.to_dict(), allowed, flag="--fork")
    changed = {k: list(v) for k, v in config_changes(saved, config.to_dict()).items()}
    return allowed, {"from": str(source), "after_tasks": learned, "changed": changed}, extended


def run(
    config: RunConfig,
    out: str | Path | None = None,
    resume: bool = False,
    allow_changes: frozenset[str] = frozenset(),
    fork: str | Path | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train ``config.method`` on the stream, evaluate after every task, write the run folder.

    The folder is created only after the config, the data and the model have all been checked; a
    resume refuses a config that differs from the run's own (``allow_changes``: result-neutral keys).
    ``fork``: start the new folder ``out`` from another run's checkpoint -- its tasks so far, scores and
    stage files -- when the configs differ only in settings those tasks never read (e.g. LAMOL's replay
    settings after the first task); the result is what an unforked run gives, since every task's
    randomness is seeded by its index. ``stop_after``: stop, resumably, after that many tasks (status
    ``stopped``), e.g. to make the shared start of several runs."""
    start = time.time()
    check(config)
    run_dir = Path(out) if out else None
    extended = False
    forked = None
    if (fork or stop_after) and not run_dir:
        raise LifelongError("--fork and --stop-after need a run folder (--out)")
    if fork and resume:
        raise LifelongError("--fork starts a new run folder from another run; it does not go with --resume")
    if run_dir and fork:
        fork_allowed, forked, extended = check_fork(Path(fork), run_dir, config)
        allow_changes = allow_changes | fork_allowed
        resume = True  # once copied, the fork is resumed like any stopped run
    elif run_dir:
        check_run_dir(run_dir, resume)
        if resume:
            saved = load_config(run_dir / CONFIG).to_dict()
            extended = check_resume_config(run_dir, saved, config.to_dict(), allow_changes)
    stream: Stream = load_stream(config.stream, _data_dir(config, config.stream.benchmark))
    _check_task_keys(config, stream)
    session = open_session(config, stream.tasks, stream.scenario, run_dir)
    session.started = start  # loading the data and the model counts too
    trained = [t for t in stream.tasks if not t.eval_only]
    session.add_probes([t for t in stream.tasks if t.eval_only])
    done = 0
    if run_dir:
        create_run_dir(run_dir)
    if run_dir and forked:
        copy_run_folder(Path(fork), run_dir)
        if session.ctx.is_main:
            write_json(run_dir / "fork.json", forked)
    if resume and run_dir and (progress := read_progress(run_dir)):
        saved = [t["name"] for t in progress["tasks"]]
        expected = [t.name for t in trained[: len(saved)]]
        if saved != expected:
            raise LifelongError(
                f"--resume: {run_dir} was trained on {saved}, but the config's stream starts with {expected}"
            )
        for task in trained[: len(saved)]:
            session.method.grow(task)
        load_weights(run_dir, session.method)
        session.scores = ScoreMatrices.from_json(progress["scores"])
        session.probe_scores = progress.get("probes", {})
        session.training = progress.get("training", [])
        session.wall_before = progress.get("wall_time_s", 0.0)
        done = len(saved)
        log.info("resuming %s after %d of %d tasks", run_dir, done, len(trained))
    if run_dir and session.ctx.is_main:
        if not resume or extended or allow_changes:  # config.yaml always shows what the run trains with
            write_yaml(run_dir / CONFIG, config.to_dict())
            write_json(
                run_dir / "environment.json",
                {
                    **environment(),
                    "seed": config.seed,
                    "processes": session.ctx.accelerator.num_processes,
                    "weights_digest": session.method.learner.weights_digest,
                    # every method setting, defaults included: config.yaml holds only those given, and a
                    # default that changes between versions would otherwise leave no trace in the run
                    "method_config": dataclasses.asdict(session.method.config),
                },
            )
        write_status(run_dir, "running", completed_tasks=done, total_tasks=len(trained))
    if done == 0:
        _before_any_training(session, trained)
        session.score_probes(0)
    end = len(trained) if stop_after is None else min(stop_after, len(trained))
    for i, task in enumerate(trained[done:end], start=done):
        session.learn_task(task, last=i == len(trained) - 1)
        if run_dir:
            session.checkpoint(run_dir)
            if session.ctx.is_main:
                write_status(
                    run_dir,
                    "running",
                    completed_tasks=len(session.method.tasks),
                    total_tasks=len(trained),
                )
    session.ctx.accelerator.end_training()
    if run_dir and end < len(trained):
        if session.ctx.is_main:
            write_status(run_dir, "stopped", completed_tasks=end, total_tasks=len(trained))
        return {"stopped_after": end}
    if run_dir:
        return session.write_results(run_dir, "complete") or {}
    primary, matrices = primary_matrices(session.scores, trained)
    return {
        "tasks": session.scores.tasks,
        "primary_metric": primary,
        "matrix": matrices[primary].tolist(),
        **summarize(matrices[primary]),
    }


# ---------------------------------------------------------------------------------------------
# saved learners
# ---------------------------------------------------------------------------------------------
SCORING_KEYS = ("end_task.",)  # what may change when a saved learner is scored: how, never what was learned


def _saved(learner_dir: Path, scoring: list[str] | None = None) -> tuple[RunConfig, dict[str, Any]]:
    if not (learner_dir / CONFIG).exists():
        raise LifelongError(
            f"{learner_dir} is not a saved learner (no {CONFIG}); create one with `lifelong run`"
        )
    for assignment in scoring or []:
        if not assignment.startswith(SCORING_KEYS):
            raise ConfigError(
                f"--set {assignment}: only how end tasks are scored ({', '.join(k + '*' for k in SCORING_KEYS)}) "
                "can change when a saved learner is evaluated"
            )
    progress = read_progress(learner_dir)
    if progress is None:
        raise LifelongError(f"{learner_dir} has no checkpoint yet (no task finished)")
    return load_config(learner_dir / CONFIG, scoring), progress


def open_learner(
    learner_dir: str | Path,
    data_dir: str | Path | None = None,
    with_data: bool = True,
    scoring: list[str] | None = None,
) -> tuple[Session, list[Task]]:
    """Rebuild a saved learner: config -> model, task specs -> grow, then weights and method state.
    Without data the tasks are rebuilt from their saved specs (labels, question): enough to predict.
    ``scoring``: ``end_task.KEY=VALUE`` overrides (how end tasks are scored; nothing else may change)."""
    learner_dir = Path(learner_dir)
    config, progress = _saved(learner_dir, scoring)
    if data_dir is not None:
        config.data_dir = str(data_dir)
    if with_data:
        benchmarks = [
            t["source"].get("benchmark") for t in progress["tasks"] if not t["source"].get("generator")
        ]
        root = _data_dir(config, next((b for b in benchmarks if b is not None), None))

        def rebuild(spec: dict[str, Any]) -> Task:
            return load_task_from_source(spec["source"], root) if spec.get("source") else Task.from_spec(spec)

    else:
        rebuild = Task.from_spec
    tasks = [rebuild(spec) for spec in progress["tasks"]]
    probes = [rebuild(spec) for spec in progress.get("probe_tasks", [])]
    session = open_session(config, tasks, progress["scenario"], learner_dir)
    session.add_probes(probes)  # before the tasks grow, as in the run that made the learner
    session.probe_scores = progress.get("probes", {})
    for task in tasks:
        session.method.grow(task)
    load_weights(learner_dir, session.method)
    session.scores = ScoreMatrices.from_json(progress["scores"])
    return session, tasks


def learn(learner_dir: str | Path, task: Task, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Add one more task to a saved learner (open-ended learning). The learner changes only if this
    completes: the work happens on a copy that replaces it at the end."""
    start = time.time()
    learner_dir = Path(learner_dir)
    _, progress = _saved(learner_dir)
    if any(t["name"] == task.name for t in progress["tasks"]):
        raise LifelongError(f"the learner in {learner_dir} has already learned a task named {task.name!r}")
    work = work_copy(learner_dir)
    try:
        session, _ = open_learner(work, data_dir)
        session.started, session.wall_before = start, progress.get("wall_time_s", 0.0)
        write_status(work, "running", adding_task=task.name)
        session.learn_task(task)
        session.checkpoint(work)
        metrics = session.write_results(work, "complete") or {}
    except BaseException:
        discard(work)
        raise
    commit(work, learner_dir)
    return metrics


def evaluate_learner(
    learner_dir: str | Path, data_dir: str | Path | None = None, scoring: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """Every learned task's scores now; ``scoring`` re-scores end tasks under another protocol (for
    example ``end_task.shots=256``) without post-training again."""
    session, tasks = open_learner(learner_dir, data_dir, scoring=scoring)
    return {task.name: evaluate_task(session.method, task, session.ctx) for task in tasks}


def find_task(tasks: list[Task], ref: str) -> Task:
    """A learned task by name, or by BENCHMARK/NAME (the form ``learn`` takes)."""
    for name in (ref, ref.rpartition("/")[2]):
        task = next((t for t in tasks if t.name == name), None)
        if task is not None:
            return task
    raise LifelongError(
        f"the learner has not learned a task named {ref!r}; it knows {[t.name for t in tasks]}"
    )


def predict(
    learner_dir: str | Path, task_ref: str, examples: list[Example] | str | Path, scores: bool = False
) -> list[str] | tuple[list[str], list[dict[str, float]]]:
    """A saved learner's answers for ``examples`` (or a JSONL file of inputs) of one learned task; with
    ``scores`` also each label's probability (classification). Needs only the learner, not its data."""
    if not isinstance(examples, list):
        examples = load_inputs(Path(examples))
    session, tasks = open_learner(learner_dir, with_data=False)
    task = find_task(tasks, task_ref)
    answers = session.method.predict(task, examples)
    return (answers, session.method.label_scores(task, examples)) if scores else answers


def resolve_task(ref: str, learner_dir: str | Path, data_dir: str | Path | None = None) -> Task:
    """A task for ``learn``: a YAML/JSON task-spec file, BENCHMARK/TASK, or a task of the learner's benchmark."""
    config = load_config(Path(learner_dir) / CONFIG)
    if data_dir is not None:
        config.data_dir = str(data_dir)
    if Path(ref).is_file():
        stream_cfg = StreamConfig(tasks=[read_mapping(ref)], seed=config.stream.seed)
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
    return load_stream(stream_cfg, _data_dir(config, stream_cfg.benchmark)).tasks[0]
