"""What every table script under benchmarks/ shares: run a grid of `lifelong run` configs one at a time,
resumably, and read the finished runs back for the tables.

A run is named by a key such as ``asc-seed0/ctr``: its config is written to ``<out>/<key>.yaml``, its log
to ``<out>/<key>.log``, its run folder is ``<out>/<key>``. A complete run is skipped, a killed one resumed
with ``--resume``; wall times go to ``<out>/timings.json``. The scripts import this file by path
(``sys.path``), since benchmarks/ is a folder of scripts, not a package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml


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


def pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


class RunGrid:
    """The runs of one table script, executed one at a time (the machine is shared)."""

    def __init__(self, out: Path, threads: int, dry_run: bool = False):
        self.out = out
        self.threads = threads
        self.dry_run = dry_run
        out.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, dict[str, Any]] = self._read_timings()
        self.failed: list[str] = []

    def _read_timings(self) -> dict[str, dict[str, Any]]:
        path = self.out / "timings.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def run(self, key: str, config: dict[str, Any]) -> bool:
        """Run ``config`` into ``<out>/<key>`` unless it is complete; True when it ended well."""
        run_dir = self.out / key
        if status(run_dir) == "complete" and (run_dir / "metrics.json").is_file():
            print(f"[skip] {key}: complete", flush=True)
            return True
        config_path = self.out / f"{key}.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [sys.executable, "-m", "lifelong", "run", str(config_path), "--out", str(run_dir)]
        if (run_dir / "config.yaml").is_file():
            cmd.append("--resume")
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
        with open(config_path.with_suffix(".log"), "a") as log:
            done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.time() - start
        self.timings = self._read_timings()  # another invocation may share --out: merge, never drop
        self.timings[key] = {"seconds": round(seconds, 1), "returncode": done.returncode}
        (self.out / "timings.json").write_text(json.dumps(self.timings, indent=1))
        print(f"[{'ok' if done.returncode == 0 else 'FAILED'}] {key} in {seconds:.0f}s", flush=True)
        if done.returncode != 0:
            self.failed.append(key)
        return done.returncode == 0

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


def write_tables_file(out: Path, text: str, grid: RunGrid) -> Path:
    """``<out>/tables.md``: the script's tables followed by every run's wall time."""
    path = out / "tables.md"
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(grid.wall_time_lines()) + "\n")
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
