"""What every table script under benchmarks/ shares: run a grid of `lifelong run` configs one at a time,
resumably, and read the finished runs back for the tables.

A run is named by a key such as ``asc-seed0/ctr``: its config is written to ``<out>/<key>.yaml``, its log
to ``<out>/<key>.log``, its run folder is ``<out>/<key>``. A complete run is skipped, a killed one resumed
with ``--resume``; wall times go to ``<out>/timings.json``. The scripts import this file by path
(``sys.path``), since benchmarks/ is a folder of scripts, not a package.

A table can take more machine time than one session has, and ``<out>`` is scratch space. So each finished
run's small files (config, status, metrics, report, matrix, per-stage statistics such as LAMOL's kept
samples, and its log as ``run.log``; no checkpoint, no plots) are also copied to ``<records>/<key>`` --
by default ``benchmarks/records/<name of --out>``, kept in git -- and a run found there is restored into
``<out>`` instead of being run again -- only if it was made from the same config (``input.yaml`` in the
record; the data folder may differ). A table is finished across sessions by
committing the records after each one.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lifelong.io import write_json


def status(run_dir: Path) -> str | None:
    """The run's status.json status, or None when there is none (never started, or unreadable)."""
    try:
        return json.loads((run_dir / "status.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return None


def load_run(run_dir: Path) -> dict[str, Any] | None:
    """The run's metrics.json, or None when the run has not finished."""
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def matrix(metrics: dict[str, Any], name: str) -> np.ndarray:
    """One of the run's score matrices, with NaN for cells never evaluated."""
    rows = metrics["matrices"][name]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; short rows are padded with empty cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r + [""] * (len(header) - len(r))) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def sample_std(values: list[float]) -> float:
    """The sample standard deviation (ddof 1) that every table reports; 0 for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """``mean ± std`` (sample std, ddof 1) of ``values`` times ``scale``; one value alone; n/a for none."""
    if not values:
        return "n/a"
    mean = scale * float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {scale * sample_std(values):.{digits}f}"


def seeds_in(out: Path, prefix: str, given: list[int]) -> list[int]:
    """The seeds asked for plus every seed with a ``<prefix>-seed<N>`` folder in ``out``: one invocation's
    tables cover the whole folder, not only the seeds that invocation ran."""
    suffixes = (d.name.removeprefix(f"{prefix}-seed") for d in out.glob(f"{prefix}-seed*") if d.is_dir())
    found = {int(s) for s in suffixes if s.isdigit()}
    return sorted(set(given) | found)


def names_in(folders: list[Path], known: list[str], given: list[str]) -> list[str]:
    """The ``known`` names, in their order, asked for or finished (``metrics.json``) in one of ``folders``."""
    return [n for n in known if n in given or any((f / n / "metrics.json").is_file() for f in folders)]


def pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


RECORDS = Path(__file__).resolve().parent / "records"
RECORD_SUFFIXES = (".json", ".yaml", ".md", ".csv")  # what a table needs from a finished run
# per-stage statistics a method writes (LAMOL's replay_stats) and LAMOL's kept pseudo-samples (~30 KB a
# stage): the diagnostics of sample_tasks.py need the samples after the scratch folder is gone
RECORD_STAGE_FILES = ("stages/*/*_stats.json", "stages/*/pseudo_samples.jsonl")
RECORD_LOG = "run.log"  # the run's log (``<out>/<key>.log``) in its record: tables read stage times from it


def is_complete(run_dir: Path) -> bool:
    return status(run_dir) == "complete" and (run_dir / "metrics.json").is_file()


def log_of(run_dir: Path) -> Path:
    """Where the grid writes the log of the run in ``run_dir``: ``<out>/<key>.log`` beside it."""
    return run_dir.with_name(run_dir.name + ".log")


def copy_record(source: Path, target: Path) -> None:
    """Copy a run folder's top-level small files, per-stage statistics and kept pseudo-samples (no
    checkpoint, no plots) from ``source`` to ``target``; status.json last, so an interrupted copy never
    looks complete."""
    target.mkdir(parents=True, exist_ok=True)
    files = [f for f in source.iterdir() if f.is_file() and f.suffix in RECORD_SUFFIXES]
    files += sorted(f for pattern in RECORD_STAGE_FILES for f in source.glob(pattern))
    for f in sorted(files, key=lambda f: f.name == "status.json"):
        (target / f.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target / f.relative_to(source))


def first_task_groups(configs: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The names of ``configs`` that agree on everything their first task reads, in groups of two or
    more: they can share it (``RunGrid.shared_start``). What a method's first task never reads is marked
    in its config dataclass (:class:`lifelong.schema.UnusedBefore`)."""
    from lifelong.methods import METHODS
    from lifelong.schema import unused_before

    groups: dict[str, list[str]] = {}
    for name, config in configs.items():
        marks = unused_before(METHODS.get(config["method"]).config_class)
        args = {k: v for k, v in (config.get("method_args") or {}).items() if marks.get(k, 1) <= 1}
        groups.setdefault(json.dumps({**config, "method_args": args}, sort_keys=True), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def portable(config: dict[str, Any]) -> dict[str, Any]:
    """The config without the machine's data folder, for comparing records made elsewhere."""
    return {k: v for k, v in config.items() if k != "data_dir"}


def same_input(record: Path, config: dict[str, Any]) -> bool:
    path = record / "input.yaml"
    return path.is_file() and yaml.safe_load(path.read_text()) == portable(config)


class RunGrid:
    """The runs of one table script, executed one at a time (the machine is shared)."""

    def __init__(
        self,
        out: Path,
        threads: int,
        dry_run: bool = False,
        records: Path | None = None,
        keep: bool = True,
        launch: bool = True,
    ):
        """``records``: where finished runs are kept across sessions (see the module docstring), by
        default named after ``out`` so two protocols in two folders never share records; ``keep=False``
        keeps none (smoke runs). ``launch=False`` (``--tables-only``) starts nothing: ``run`` only restores
        recorded runs into ``out``, so tables can be rebuilt in a session whose ``out`` is empty."""
        self.out = out
        self.launch = launch
        self.threads = threads
        self.dry_run = dry_run
        self.records = (records or RECORDS / out.name) if keep else None
        out.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, dict[str, Any]] = self._read_timings()
        self.failed: list[str] = []

    def _read_timings(self) -> dict[str, dict[str, Any]]:
        path = self.out / "timings.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def run(self, key: str, config: dict[str, Any], fork: Path | None = None) -> bool:
        """Run ``config`` into ``<out>/<key>`` unless it is complete; True when it ended well.
        ``fork``: a started run to begin from (``lifelong run --fork``) when this one has not begun."""
        run_dir = self.out / key
        record = self.records / key if self.records else None
        if record and not is_complete(run_dir) and is_complete(record) and same_input(record, config):
            if (record / RECORD_LOG).is_file() and not log_of(run_dir).is_file():  # before the status
                log_of(run_dir).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(record / RECORD_LOG, log_of(run_dir))
            copy_record(record, run_dir)
            print(f"[skip] {key}: restored from {record}", flush=True)
            return True
        if is_complete(run_dir):
            print(f"[skip] {key}: complete", flush=True)
            self._keep(run_dir, record, config)
            return True
        if not self.launch:
            return False
        ok = self._launch(key, config, begin=["--fork", str(fork)] if fork is not None else [])
        if ok and not self.dry_run:
            self._keep(run_dir, record, config)
        return ok

    def pending(self, key: str, config: dict[str, Any]) -> bool:
        """Whether ``run`` would start ``key`` from nothing (not complete, no record, not begun)."""
        run_dir, record = self.out / key, self.records / key if self.records else None
        restorable = record is not None and is_complete(record) and same_input(record, config)
        return not (is_complete(run_dir) or restorable or (run_dir / "config.yaml").is_file())

    def started(self, key: str) -> bool:
        """Whether a shared start ``key`` has run and stopped, ready to be forked."""
        return status(self.out / key) == "stopped"

    def shared_start(self, key: str, config: dict[str, Any], tasks: int) -> Path | None:
        """``config``'s first ``tasks`` tasks alone (``lifelong run --stop-after``) into ``<out>/<key>``:
        the start that runs differing only in settings those tasks never read fork from. Its folder, or
        None when it failed (the runs then start from nothing). Never recorded: it is not a result."""
        run_dir = self.out / key
        if self.started(key):
            print(f"[skip] {key}: started", flush=True)
            return run_dir
        if not self.launch:
            return None
        ok = self._launch(key, config, always=["--stop-after", str(tasks)])
        return run_dir if ok and (self.dry_run or status(run_dir) == "stopped") else None

    def _launch(
        self, key: str, config: dict[str, Any], begin: Sequence[str] = (), always: Sequence[str] = ()
    ) -> bool:
        """``lifelong run`` of ``config`` into ``<out>/<key>`` with ``always``, and with ``begin`` when
        the run has not begun (else ``--resume``)."""
        run_dir = self.out / key
        config_path = self.out / f"{key}.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [sys.executable, "-m", "lifelong", "run", str(config_path), "--out", str(run_dir), *always]
        cmd += ["--resume"] if (run_dir / "config.yaml").is_file() else list(begin)
        return self._execute(key, cmd, config_path.with_suffix(".log"))

    def run_all(self, runs: list[tuple[str, dict[str, Any]]], jobs: int = 1) -> list[bool]:
        """``run`` each (key, config), ``jobs`` at a time: one at a time on a shared CPU, several on a GPU
        that a small model leaves mostly idle. Each run is its own process; the timings file is locked."""
        if jobs <= 1:
            return [self.run(key, config) for key, config in runs]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(lambda item: self.run(*item), runs))

    def rescore(self, key: str, settings: list[str], tag: str, run: bool = True) -> dict[str, Any] | None:
        """The finished run ``key`` re-scored with ``lifelong evaluate --set`` (end-task settings, no
        post-training), kept as ``rescore-<tag>.json`` beside its metrics and in its record; None when the
        run has not finished here (its checkpoint is needed) and no record holds the scores, or when
        ``run`` is False (tables only) and nothing holds them yet."""
        run_dir, name = self.out / key, f"rescore-{tag}.json"
        record = self.records / key if self.records else None
        for source in (run_dir / name, *([record / name] if record else [])):
            if source.is_file():
                print(f"[skip] {key} {tag}: {source}", flush=True)
                return json.loads(source.read_text())
        if not run:
            return None
        if not is_complete(run_dir) or not (run_dir / "checkpoint").is_dir():
            print(f"[wait] {key} {tag}: needs the finished run's checkpoint in {run_dir}", flush=True)
            return None
        cmd = [sys.executable, "-m", "lifelong", "evaluate", str(run_dir), "--output", str(run_dir / name)]
        cmd += [arg for setting in settings for arg in ("--set", setting)]
        if not self._execute(f"{key}/{tag}", cmd, self.out / f"{key}.{tag}.log") or self.dry_run:
            return None
        if record is not None:
            record.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / name, record / name)
        return json.loads((run_dir / name).read_text())

    def _execute(self, key: str, cmd: list[str], log_path: Path) -> bool:
        """Run ``cmd`` with this grid's threads, appending to ``log_path``; its wall time goes to
        ``timings.json``. True when it ended well (or on a dry run)."""
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(self.threads),
            "TQDM_DISABLE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        print(f"[run] {key}: {' '.join(cmd)}", flush=True)
        if self.dry_run:
            return True
        start = time.time()
        with open(log_path, "a") as log:
            done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.time() - start
        self._record_timing(key, {"seconds": round(seconds, 1), "returncode": done.returncode})
        print(f"[{'ok' if done.returncode == 0 else 'FAILED'}] {key} in {seconds:.0f}s", flush=True)
        if done.returncode != 0:
            self.failed.append(key)
        return done.returncode == 0

    def _record_timing(self, key: str, timing: dict[str, Any]) -> None:
        """Merge one wall time into ``timings.json`` under a lock: two invocations may share --out (one
        per core), and an unlocked read-modify-write could drop the other's entry."""
        with open(self.out / "timings.json.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.timings = self._read_timings()
            self.timings[key] = timing
            write_json(self.out / "timings.json", self.timings)

    def _keep(self, run_dir: Path, record: Path | None, config: dict[str, Any]) -> None:
        """Copy a finished run to its record, with the config it was made from."""
        if record is None or not is_complete(run_dir) or self.dry_run:
            return
        (record / "input.yaml").parent.mkdir(parents=True, exist_ok=True)
        (record / "input.yaml").write_text(yaml.safe_dump(portable(config), sort_keys=False))
        if log_of(run_dir).is_file():  # before the status, like every file of the record
            shutil.copyfile(log_of(run_dir), record / RECORD_LOG)
        copy_record(run_dir, record)

    def exit_if_failed(self) -> None:
        """Exit non-zero, naming the failed runs, so a scripted benchmark never looks finished."""
        if self.failed:
            print(f"failed runs (see their .log): {', '.join(self.failed)}")
            sys.exit(1)

    def wall_time_lines(self) -> list[str]:
        """A Markdown section with each run's wall time, empty when nothing ran."""
        if not self.timings:
            return []
        total = sum(t["seconds"] for t in self.timings.values())
        return ["", f"## Wall time: {total / 60:.1f} min", ""] + [
            f"- {k}: {t['seconds']:.0f}s" + (" (failed)" if t["returncode"] else "")
            for k, t in self.timings.items()
        ]


def grid_arguments(ap: argparse.ArgumentParser, default_out: str) -> None:
    """The flags every table script has: where the runs go, the data, threads, dry run, tables only."""
    ap.add_argument("--out", type=Path, default=Path(default_out))
    ap.add_argument("--data-dir", type=Path, default=os.environ.get("LIFELONG_DATA", "/work/shared/data"))
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of each run (2 only with the machine to itself)",
    )
    ap.add_argument("--dry-run", action="store_true", help="write the configs and print the commands only")
    ap.add_argument("--tables-only", action="store_true", help="rebuild tables.md from finished runs")
    ap.add_argument(
        "--records",
        type=Path,
        default=None,
        help="where finished runs are kept across sessions (in git) and restored from instead of rerun "
        "(default: benchmarks/records/<name of --out>)",
    )
    ap.add_argument("--no-records", action="store_true", help="keep no records")


def grid_from_flags(args: argparse.Namespace, smoke: bool = False) -> RunGrid:
    """The grid that ``grid_arguments``' flags describe. A smoke run keeps no records (it is not a result);
    ``--tables-only`` starts nothing and only restores recorded runs."""
    keep = not (args.no_records or smoke)
    return RunGrid(args.out, args.threads, args.dry_run, args.records, keep, launch=not args.tables_only)


def starting_weights_lines(out: Path) -> list[str]:
    """A Markdown section naming the pretrained weights every finished run under ``out`` started from
    (``weights_digest`` in environment.json). Records are matched by config only, so a run restored from a
    record made with other weights -- a head warmed elsewhere -- would otherwise sit unnoticed in a table
    beside runs that started from different weights."""
    runs: dict[str, list[str]] = {}
    unrecorded: list[str] = []  # runs made before environment.json held the digest
    for env in sorted(out.rglob("environment.json")):
        try:
            digest = json.loads(env.read_text()).get("weights_digest")
        except (OSError, json.JSONDecodeError):
            continue
        key = str(env.parent.relative_to(out))
        if digest is None:
            unrecorded.append(key)
        else:
            runs.setdefault(digest, []).append(key)
    lines = []
    if len(runs) == 1:
        ((digest, keys),) = runs.items()
        lines = ["", f"Starting weights: `{digest}` (weights_digest) for {len(keys)} runs."]
    elif runs:
        lines = ["", "## WARNING: runs started from different weights", ""]
        lines += [f"- `{digest}`: {', '.join(keys)}" for digest, keys in runs.items()]
    if unrecorded:
        lines += [
            "",
            f"Starting weights not recorded (runs made before the digest was): {', '.join(unrecorded)}.",
        ]
    return lines


def write_tables_file(out: Path, text: str, grid: RunGrid) -> Path:
    """``<out>/tables.md``: the script's tables, the starting weights, then every run's wall time."""
    path = out / "tables.md"
    lines = starting_weights_lines(out) + grid.wall_time_lines()
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    return path


def report_table(run_dirs: list[Path], names: list[str] | None = None) -> str:
    """``lifelong report`` over the finished runs among ``run_dirs``; rows renamed by ``names`` if given."""
    finished = [(d, n) for d, n in zip(run_dirs, names or [d.name for d in run_dirs], strict=True)
                if (d / "metrics.json").is_file()]  # fmt: skip
    if not finished:
        return "(no finished runs)\n"
    done = subprocess.run(
        [sys.executable, "-m", "lifelong", "report", *(str(d) for d, _ in finished)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"(lifelong report failed: {done.stderr.strip()[-300:]})\n"
    first = done.stdout.strip().split("\n\n")[0]  # the main table (a per-task transfer table may follow)
    if names is None:
        return "\n".join(line for line in first.splitlines() if line.startswith("|")) + "\n"
    lines = [line for line in first.splitlines() if line.startswith("|")]  # the table, not the legend
    body = [f"| {n} |" + line.split("|", 2)[2] for (_, n), line in zip(finished, lines[2:], strict=True)]
    return "\n".join([*lines[:2], *body]) + "\n"
