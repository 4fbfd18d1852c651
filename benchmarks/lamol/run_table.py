"""The LAMOL table: every method variant on the same streams, one run at a time, then Markdown tables.

Streams: text classification (MbPA++ orders i and iv) and the decaNLP-style SST/SQuAD/WOZ stream in
two orders, all with smollm2-135m. Variants: finetune, multitask, EWC, LAMOL with the shared GEN token,
LAMOL with task tokens (γ = 0.2 and 0.05), LAMOL with γ = 0 (LM loss, no replay) and LAMOL_real (real
old examples).

    python benchmarks/lamol/run_table.py --out runs/lamol-table --data-dir /work/shared/data
    python benchmarks/lamol/run_table.py --smoke --out /tmp/lamol-smoke   # a few examples per task

A finished run is skipped and a killed one resumed, so the script can be restarted at any time.
Outputs in --out: one run folder per stream/variant, ``tables.md`` (``lifelong report`` per stream with
the variants named, the decaNLP per-task metrics, the replay statistics) and ``timings.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import RunGrid, grid_arguments, report_table, write_tables_file  # noqa: E402

CONFIGS = HERE.parents[1] / "configs" / "lamol"

STREAMS: dict[str, dict[str, Any]] = {
    "tc-i": {"config": "tc.yaml", "order": "i"},
    "tc-iv": {"config": "tc.yaml", "order": "iv"},
    "decanlp-sst-squad-woz": {"config": "decanlp.yaml", "order": "sst-squad-woz"},
    "decanlp-woz-squad-sst": {"config": "decanlp.yaml", "order": "woz-squad-sst"},
}
LAMOL = {"lm_weight": 0.25, "gamma": 0.2, "task_tokens": True}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "finetune": ("finetune", {}),
    "multitask": ("multitask", {}),
    "ewc": ("ewc", {}),
    "lamol-gen": ("lamol", {**LAMOL, "task_tokens": False}),
    "lamol-task": ("lamol", LAMOL),
    "lamol-task-g0.05": ("lamol", {**LAMOL, "gamma": 0.05}),  # the paper's smaller replay budget
    "lamol-gamma0": ("lamol", {**LAMOL, "gamma": 0.0}),
    "lamol-real": ("lamol", {**LAMOL, "real_samples": True}),
}
# per-task subsets: about 2 hours with the machine to itself and 2 threads, about 4 on the busy
# machine with 1 thread (README.md has the measurements and the cost model)
SIZES = {
    "tc": {"max_train": 32, "max_eval": 24, "epochs": 1},
    "decanlp": {"max_train": 32, "max_eval": 24, "epochs": 1},
}
SMOKE = {"max_train": 4, "max_eval": 4, "epochs": 1}
DECANLP_METRIC_NAMES = {"accuracy": "EM", "f1": "nF1", "ds_em": "dsEM"}


def run_config(stream: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = STREAMS[stream]
    config = yaml.safe_load((CONFIGS / spec["config"]).read_text())
    family = "tc" if spec["config"] == "tc.yaml" else "decanlp"
    sizes = SMOKE if args.smoke else SIZES[family]
    method, method_args = VARIANTS[variant]
    base_args = config.get("method_args") or {}  # LAMOL's generation settings for this stream
    config["method"] = method
    config["method_args"] = {**base_args, **method_args} if method == "lamol" else copy.deepcopy(method_args)
    config["stream"]["order"] = spec["order"]
    config["stream"]["max_train"] = args.max_train or sizes["max_train"]
    config["stream"]["max_eval"] = args.max_eval or sizes["max_eval"]
    config["training"]["epochs"] = args.epochs or sizes["epochs"]
    config["seed"] = args.seed
    if args.data_dir:
        config["data_dir"] = str(args.data_dir)
    return config


def _task_metrics(run_dir: Path) -> list[tuple[str, str]]:
    progress = json.loads((run_dir / "checkpoint" / "progress.json").read_text())
    return [(t["name"], t["metric"]) for t in progress["tasks"]]


def run_sizes(stream: str, variants: list[str], out: Path) -> str:
    """The sizes and seed the stream's runs really used (read from their configs, not from the flags)."""
    sizes = set()
    for v in variants:
        path = out / stream / v / "config.yaml"
        if path.is_file():
            c = yaml.safe_load(path.read_text())
            st = c["stream"]
            sizes.add((st["max_train"], st["max_eval"], c["training"]["epochs"], c["seed"]))
    return (
        "; ".join(
            f"{t} train / {e} test examples per task, {ep} epoch(s), seed {sd}"
            for t, e, ep, sd in sorted(sizes)
        )
        or "(no runs)"
    )


def per_task_table(stream: str, variants: list[str], out: Path) -> str:
    """Final score of every task in its own metric (decaNLP: SST EM, SQuAD nF1, WOZ dsEM) and the mean."""
    rows, header = [], None
    for v in variants:
        run_dir = out / stream / v
        if not (run_dir / "metrics.json").is_file():
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        tasks = _task_metrics(run_dir)
        order = sorted(tasks)
        header = header or ["Variant", *(f"{n} {DECANLP_METRIC_NAMES.get(m, m)}" for n, m in order), "mean"]
        final = {}
        for j, (name, metric) in enumerate(tasks):
            value = metrics["matrices"][metric][-1][j]
            final[name] = None if value is None else 100 * value
        values = [final[n] for n, _ in order]
        mean = sum(x for x in values if x is not None) / max(1, sum(x is not None for x in values))
        rows.append([v, *("n/a" if x is None else f"{x:.1f}" for x in values), f"{mean:.1f}"])
    if header is None:
        return "(no finished runs)\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


STAGE_LINE = re.compile(r"stage (\d+)/\S+ done in (\d+)s")


def stage_seconds_table(stream: str, variants: list[str], out: Path) -> str:
    """Seconds per stage (train, generate, evaluate all seen tasks), read from each run's log: how the
    cost grows with the number of tasks."""
    rows, n = [], 0
    for v in variants:
        log = out / stream / f"{v}.log"
        if not (out / stream / v / "metrics.json").is_file() or not log.is_file():
            continue
        seconds = {int(k): int(t) for k, t in STAGE_LINE.findall(log.read_text())}  # a resumed stage: last
        n = max(n, len(seconds))
        rows.append([v, *(str(seconds.get(k, "")) for k in range(1, n + 1))])
    if not rows:
        return "(no finished runs)\n"
    header = ["Variant", *(f"stage {k}" for k in range(1, n + 1))]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return (
        "\n".join(lines + ["| " + " | ".join(r + [""] * (len(header) - len(r))) + " |" for r in rows]) + "\n"
    )


def replay_table(stream: str, variants: list[str], out: Path) -> str:
    """Per LAMOL stage: samples asked for and kept, the rejection rate, each old task's share, speed."""
    header = [
        "Variant",
        "stage",
        "mode",
        "requested",
        "kept",
        "rejected %",
        "share per task",
        "gen tokens/s",
        "cache",
    ]
    rows = []
    for v in variants:
        for path in sorted((out / stream / v / "stages").glob("*/replay_stats.json")):
            s = json.loads(path.read_text())
            share = ", ".join(f"{k} {100 * x:.0f}%" for k, x in s.get("share_per_task", {}).items()) or "-"
            speed = s.get("tokens_per_s")
            rows.append(
                [
                    v,
                    path.parent.name,
                    s["mode"],
                    str(s["requested"]),
                    str(s["kept"]),
                    f"{100 * s['rejection_rate']:.0f}",
                    share,
                    f"{speed:.0f}" if speed else "-",
                    s.get("cache", "-"),
                ]
            )
    if not rows:
        return "(no replay)\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def write_tables(streams: list[str], variants: list[str], args: argparse.Namespace, grid: RunGrid) -> Path:
    parts = ["# LAMOL benchmark table", "", "Model smollm2-135m. Scores in %."]
    for stream in streams:
        parts += ["", f"## {stream}", "", run_sizes(stream, variants, args.out)]
        parts += ["", "### lifelong report (ACC, BWT, forgetting, FWT, final per task, gap to multitask)", ""]
        parts += [report_table([args.out / stream / v for v in variants], variants)]
        parts += [
            "### Final score per task, each in its own metric",
            "",
            per_task_table(stream, variants, args.out),
        ]
        parts += ["### Replayed samples per stage", "", replay_table(stream, variants, args.out)]
        parts += ["### Seconds per stage", "", stage_seconds_table(stream, variants, args.out)]
    return write_tables_file(args.out, "\n".join(parts), grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "runs/lamol-table")
    ap.add_argument("--streams", nargs="+", default=list(STREAMS), choices=list(STREAMS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--smoke", action="store_true", help=f"a few examples per task: {SMOKE}")
    ap.add_argument("--max-train", type=int, help="examples per task (overrides the sizes)")
    ap.add_argument("--max-eval", type=int, help="test examples per task (overrides the sizes)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    grid = RunGrid(args.out, args.threads, args.dry_run, args.records, not (args.no_records or args.smoke))
    if not args.tables_only:
        for stream in args.streams:  # one run at a time: the machine is shared
            for variant in args.variants:
                grid.run(f"{stream}/{variant}", run_config(stream, variant, args))
    if not args.dry_run:
        print(f"tables: {write_tables(args.streams, args.variants, args, grid)}")
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
