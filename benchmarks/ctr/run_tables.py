"""The CTR tables: ctr, hat, adapter_ncl, adapter_one, finetune and multitask (optionally separate) on the
19 ASC tasks and the 10 DSC domains with minilm-l6, task-incremental, one run at a time.

    python benchmarks/ctr/run_tables.py --out runs/ctr-tables --data-dir /work/shared/data
    python benchmarks/ctr/run_tables.py --smoke --out /tmp/ctr-smoke        # 3 ASC tasks, 64 examples
    python benchmarks/ctr/run_tables.py --seeds 0 1 2 --benchmarks asc      # three seeds where time allows

A finished run is skipped and a killed one resumed, so the script can be restarted at any time.
Outputs in --out: one run folder per benchmark/seed/method, ``tables.md`` (ACC, MF1, forgetting, BWT,
knowledge transfer against adapter_one and separate, wall time; plus ``lifelong report``) and
``timings.json``. Paper (BERT-base, full data): CTR ACC 89.5 ASC / 89.3 DSC, HAT 86.1/88.0,
ONE 85.8/87.8, NCL 49.6/73.1.
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

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parents[1] / "configs" / "ctr"
METHODS = ["ctr", "hat", "adapter_ncl", "adapter_one", "finetune", "multitask"]
OPTIONAL = ["separate"]
FULL_FINETUNING = {"finetune", "multitask", "separate"}  # the whole backbone trains: a small lr
LR = {"plugins": 1e-3, "full": 5e-5}
# per-task subsets estimated to fit about 1.5 hours for both benchmarks and the six methods on 2 quiet CPU
# cores (multitask, which retrains on every earlier task at each stage, takes about half of it); see the
# README in this folder for the measurements behind the estimate
SIZES = {
    "asc": {"max_train": 150, "max_eval": 100, "epochs": 3},
    "dsc": {"max_train": 150, "max_eval": 100, "epochs": 3},
}
SMOKE = {"max_train": 64, "max_eval": 100, "epochs": 3, "tasks": 3}
PAPER = {"ctr": (89.5, 89.3), "hat": (86.1, 88.0), "adapter_one": (85.8, 87.8), "adapter_ncl": (49.6, 73.1)}


def run_config(bench: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    config = yaml.safe_load((CONFIGS / f"{bench}.yaml").read_text())
    sizes = SMOKE if args.smoke else SIZES[bench]
    config["method"] = method
    config["method_args"] = {}
    config["seed"] = seed
    config["stream"]["max_train"] = args.max_train or sizes["max_train"]
    config["stream"]["max_eval"] = args.max_eval or sizes["max_eval"]
    config["training"]["epochs"] = args.epochs or sizes["epochs"]
    config["training"]["lr"] = LR["full" if method in FULL_FINETUNING else "plugins"]
    n_tasks = args.tasks or sizes.get("tasks")
    if n_tasks:  # the first tasks of the benchmark's standard order
        from lifelong.data.benchmarks import load_benchmark_def

        order = load_benchmark_def(bench)["orders"][config["stream"]["order"]]
        config["stream"]["tasks"] = list(order[:n_tasks])
        config["stream"]["order"] = None
    if args.data_dir:
        config["data_dir"] = str(args.data_dir)
    return config


def status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "status.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return None


def run_one(bench: str, method: str, seed: int, args: argparse.Namespace, timings: dict[str, Any]) -> bool:
    key = f"{bench}-seed{seed}/{method}"
    run_dir = args.out / key
    if status(run_dir) == "complete" and (run_dir / "metrics.json").is_file():
        print(f"[skip] {key}: complete", flush=True)
        return True
    config_path = args.out / f"{bench}-seed{seed}" / f"{method}.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(run_config(bench, method, seed, args), sort_keys=False))
    cmd = [sys.executable, "-m", "lifelong", "run", str(config_path), "--out", str(run_dir)]
    if (run_dir / "config.yaml").is_file():
        cmd.append("--resume")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    print(f"[run] {key}: {' '.join(cmd)}", flush=True)
    if args.dry_run:
        return True
    start = time.time()
    with open(config_path.with_suffix(".log"), "a") as log:
        done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    timings[key] = {"seconds": round(seconds, 1), "returncode": done.returncode}
    (args.out / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"[{'ok' if done.returncode == 0 else 'FAILED'}] {key} in {seconds:.0f}s", flush=True)
    return done.returncode == 0


# ---- tables -----------------------------------------------------------------------------------------
def _load(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _matrix(metrics: dict[str, Any], name: str) -> np.ndarray:
    rows = metrics["matrices"][name]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def method_table(bench: str, seed: int, methods: list[str], args: argparse.Namespace, timings: dict) -> str:
    from lifelong.evaluation.metrics import backward_transfer, final_average, forgetting, transfer_against

    runs = {m: _load(args.out / f"{bench}-seed{seed}" / m) for m in methods}
    runs = {m: r for m, r in runs.items() if r}
    if not runs:
        return "(no finished runs)\n"
    header = [
        "Method",
        "ACC",
        "MF1",
        "Forgetting",
        "BWT",
        "transfer vs ONE",
        "transfer vs separate",
        "wall s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m, r in runs.items():
        acc, f1 = _matrix(r, "accuracy"), _matrix(r, "macro_f1")
        cells = [
            m,
            _pct(final_average(acc)),
            _pct(final_average(f1)),
            _pct(forgetting(acc)),
            _pct(backward_transfer(acc)),
        ]
        for ref in ("adapter_one", "separate"):
            if ref in runs and ref != m:
                cells.append(_pct(float(np.nanmean(transfer_against(acc, _matrix(runs[ref], "accuracy"))))))
            else:
                cells.append("n/a")
        wall = timings.get(f"{bench}-seed{seed}/{m}", {}).get("seconds", r.get("wall_time_s"))
        cells.append(f"{wall:.0f}" if wall else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_table(bench: str, seed: int, methods: list[str], out: Path) -> str:
    dirs = [
        out / f"{bench}-seed{seed}" / m
        for m in methods
        if (out / f"{bench}-seed{seed}" / m / "metrics.json").is_file()
    ]
    if not dirs:
        return "(no finished runs)\n"
    done = subprocess.run(
        [sys.executable, "-m", "lifelong", "report", *map(str, dirs)], capture_output=True, text=True
    )
    return (
        done.stdout if done.returncode == 0 else f"(lifelong report failed: {done.stderr.strip()[-300:]})\n"
    )


def verdict(bench: str, seeds: list[int], args: argparse.Namespace) -> str:
    """Plain statements: CTR >= HAT, CTR >= ONE, and whether the mask-based methods forgot anything."""
    from lifelong.evaluation.metrics import final_average, forgetting

    def mean_of(method: str, fn) -> float | None:
        values = [
            fn(_matrix(r, "accuracy")) for s in seeds if (r := _load(args.out / f"{bench}-seed{s}" / method))
        ]
        return float(np.mean(values)) if values else None

    acc = {m: mean_of(m, final_average) for m in ("ctr", "hat", "adapter_one")}
    forg = {m: mean_of(m, forgetting) for m in ("ctr", "hat")}
    out = []
    if acc["ctr"] is not None and acc["hat"] is not None:
        out.append(
            f"- CTR {'>=' if acc['ctr'] >= acc['hat'] else '<'} HAT: {_pct(acc['ctr'])} vs {_pct(acc['hat'])}"
        )
    if acc["ctr"] is not None and acc["adapter_one"] is not None:
        out.append(
            f"- CTR {'>=' if acc['ctr'] >= acc['adapter_one'] else '<'} ONE: {_pct(acc['ctr'])} vs {_pct(acc['adapter_one'])}"
        )
    for m, f in forg.items():
        if f is not None:
            out.append(f"- {m} forgetting: {_pct(f)} ({'nothing forgotten' if f == 0 else 'FORGOT'})")
    return "\n".join(out) + "\n" if out else "(not enough finished runs)\n"


def write_tables(
    benches: list[str], seeds: list[int], methods: list[str], args: argparse.Namespace, timings: dict
) -> Path:
    sizes = SMOKE if args.smoke else SIZES
    parts = [
        "# CTR benchmark tables",
        "",
        f"Model minilm-l6, task-incremental; sizes {json.dumps(sizes)} (overrides: max_train={args.max_train}, "
        f"max_eval={args.max_eval}, epochs={args.epochs}, tasks={args.tasks}); lr {LR['plugins']} for plugins, "
        f"{LR['full']} for full fine-tuning. Scores in %; transfer = mean final score minus the reference's.",
        "",
        "Paper (BERT-base, full data), ACC ASC / DSC: "
        + ", ".join(f"{m} {a}/{d}" for m, (a, d) in PAPER.items()),
    ]
    for bench in benches:
        parts += ["", f"## {bench}", "", "### Verdict (mean over seeds)", "", verdict(bench, seeds, args)]
        for seed in seeds:
            parts += [f"### seed {seed}", "", method_table(bench, seed, methods, args, timings)]
            parts += ["lifelong report:", "", report_table(bench, seed, methods, args.out)]
    if timings:
        total = sum(t["seconds"] for t in timings.values())
        parts += ["", f"## Wall time: {total / 60:.1f} min", ""]
        parts += [
            f"- {k}: {t['seconds']:.0f}s" + (" (failed)" if t["returncode"] else "")
            for k, t in timings.items()
        ]
    path = args.out / "tables.md"
    path.write_text("\n".join(parts) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/ctr-tables"))
    ap.add_argument("--data-dir", type=Path, default=os.environ.get("LIFELONG_DATA", "/work/shared/data"))
    ap.add_argument("--benchmarks", nargs="+", default=["asc", "dsc"], choices=["asc", "dsc"])
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS + OPTIONAL)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--smoke", action="store_true", help=f"the first tasks only, few examples: {SMOKE}")
    ap.add_argument("--max-train", type=int, help="training examples per task (overrides the sizes)")
    ap.add_argument("--max-eval", type=int, help="test examples per task (overrides the sizes)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--tasks", type=int, help="only the first N tasks of the standard order")
    ap.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of each run")
    ap.add_argument("--dry-run", action="store_true", help="write the configs and print the commands only")
    ap.add_argument("--tables-only", action="store_true", help="rebuild tables.md from finished runs")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    timings_path = args.out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    benches = ["asc"] if args.smoke and args.benchmarks == ["asc", "dsc"] else args.benchmarks
    failed = []
    if not args.tables_only:
        for seed in args.seeds:  # one run at a time: the machine is shared
            for bench in benches:
                for method in args.methods:
                    if not run_one(bench, method, seed, args, timings):
                        failed.append(f"{bench}-seed{seed}/{method}")
    if not args.dry_run:
        print(f"tables: {write_tables(benches, args.seeds, args.methods, args, timings)}")
    if failed:
        print(f"failed runs (see their .log): {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
