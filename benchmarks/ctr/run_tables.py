"""The CTR tables: ctr, hat, adapter_one and separate (ONE), adapter_ncl and finetune (NCL), ewc and multitask
on the 19 ASC tasks and the 10 DSC domains with minilm-l6 (or --model), task-incremental, one run at a
time (``--jobs N``: N at a time, for a GPU that one small run leaves mostly idle).

    python benchmarks/ctr/run_tables.py --out runs/ctr-tables --data-dir /work/shared/data   # small subsets
    python benchmarks/ctr/run_tables.py --protocol paper --benchmarks asc --seeds 0 1 2 --out runs/ctr-paper
    python benchmarks/ctr/run_tables.py --smoke --out /tmp/ctr-smoke        # 3 ASC tasks, 64 examples

``--protocol paper`` is the paper's: all training and test data; ASC 10 epochs for the two SemEval tasks
and 30 for the small Bing tasks (the official scripts' setting), batch 32; DSC all data with ``--epochs``
(default 1: the paper's 20 epochs of 200 examples would be ~19× more updates than this machine allows at
full data). Multitask trains once, at the last stage (``final_only``: the same final row as an every-stage
run for a tenth of the cost).

A finished run is skipped and a killed one resumed, so the script can be restarted at any time.
Outputs in --out: one run folder per benchmark/seed/method, ``tables.md`` (mean ± std over seeds of ACC,
MF1, forgetting, transfer vs ONE and wall time; per-task transfer vs ONE; per seed ACC, MF1,
forgetting, BWT, transfer, wall time and ``lifelong report``) and ``timings.json``. Paper (BERT-base,
full data): CTR ACC 89.5 ASC / 89.3 DSC, HAT 86.1/88.0, ONE 85.8/87.8, NCL 49.6/73.1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import (  # noqa: E402
    RunGrid,
    grid_arguments,
    grid_from_flags,
    load_run,
    markdown_table,
    matrix,
    mean_std,
    names_in,
    pct,
    report_table,
    seeds_in,
    write_tables_file,
)

CONFIGS = HERE.parents[1] / "configs" / "ctr"
METHODS = ["ctr", "hat", "adapter_one", "separate", "adapter_ncl", "finetune", "ewc", "multitask"]
FULL_FINETUNING = {"finetune", "multitask", "separate", "ewc"}  # the whole backbone trains: a small lr
METHOD_ARGS = {"multitask": {"final_only": True}}  # the upper bound's final row only (see the docstring)
LR = {"plugins": 1e-3, "full": 5e-5}
# per-task subsets estimated to fit about 1.5 hours for both benchmarks and the six methods on 2 quiet CPU
# cores (multitask, which retrains on every earlier task at each stage, takes about half of it); see the
# README in this folder for the measurements behind the estimate
SIZES = {
    "asc": {"max_train": 150, "max_eval": 100, "epochs": 3},
    "dsc": {"max_train": 150, "max_eval": 100, "epochs": 3},
}
SMOKE = {"max_train": 64, "max_eval": 100, "epochs": 3, "tasks": 3}
# the paper's protocol: all data (no caps), its batch size and epochs (DSC: see the docstring)
SEMEVAL = ("semeval14_laptop", "semeval14_restaurant")
PAPER_PROTOCOL = {
    "asc": {"max_train": None, "max_eval": None, "epochs": 30, "epochs_by_task": dict.fromkeys(SEMEVAL, 10)},
    "dsc": {"max_train": None, "max_eval": None, "epochs": 1},
}
PAPER_BATCH = 32
PAPER = {"ctr": (89.5, 89.3), "hat": (86.1, 88.0), "adapter_one": (85.8, 87.8), "adapter_ncl": (49.6, 73.1)}


def run_config(bench: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    config = yaml.safe_load((CONFIGS / f"{bench}.yaml").read_text())
    sizes = SMOKE if args.smoke else PAPER_PROTOCOL[bench] if args.protocol == "paper" else SIZES[bench]
    config["model"]["name"] = args.model
    config["method"] = method
    config["method_args"] = dict(METHOD_ARGS.get(method, {}))
    config["seed"] = seed
    config["stream"]["max_train"] = args.max_train or sizes["max_train"]
    config["stream"]["max_eval"] = args.max_eval or sizes["max_eval"]
    config["training"]["epochs"] = args.epochs or sizes["epochs"]
    if sizes.get("epochs_by_task") and not args.epochs:
        config["training"]["epochs_by_task"] = dict(sizes["epochs_by_task"])
    if args.protocol == "paper":
        config["training"]["batch_size"] = PAPER_BATCH
    if args.group_by_length:  # about 2x fewer padded tokens on ASC (docs/results.md §4e); changes the batches
        config["training"]["group_by_length"] = True
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


def run_seconds(run: dict[str, Any], grid: RunGrid, key: str) -> float:
    """A run's wall time: its own ``wall_time_s`` (summed over every session that resumed it; a task cut
    off midway is not counted), else the grid's timing of its last invocation, else NaN. ``timings.json``
    alone would show only the last session of a resumed run."""
    seconds = run.get("wall_time_s") or grid.timings.get(key, {}).get("seconds")
    return float(seconds) if seconds else math.nan


def method_table(bench: str, seed: int, methods: list[str], args: argparse.Namespace, grid: RunGrid) -> str:
    from lifelong.evaluation.metrics import backward_transfer, final_average, forgetting, transfer_against

    runs = {m: load_run(args.out / f"{bench}-seed{seed}" / m) for m in methods}
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
    rows = []
    for m, r in runs.items():
        acc, f1 = matrix(r, "accuracy"), matrix(r, "macro_f1")
        cells = [
            m,
            pct(final_average(acc)),
            pct(final_average(f1)),
            pct(forgetting(acc)),
            pct(backward_transfer(acc)),
        ]
        for ref in ("adapter_one", "separate"):
            if ref in runs and ref != m:
                cells.append(pct(float(np.nanmean(transfer_against(acc, matrix(runs[ref], "accuracy"))))))
            else:
                cells.append("n/a")
        wall = run_seconds(r, grid, f"{bench}-seed{seed}/{m}")
        cells.append(f"{wall:.0f}" if not math.isnan(wall) else "n/a")
        rows.append(cells)
    return markdown_table(header, rows)


def _finished(bench: str, seed: int, method: str, args: argparse.Namespace) -> dict[str, Any] | None:
    return load_run(args.out / f"{bench}-seed{seed}" / method)


def summary_table(
    bench: str, seeds: list[int], methods: list[str], args: argparse.Namespace, grid: RunGrid
) -> str:
    """The issue's table: per method the mean ± std over the seeds that finished."""
    from lifelong.evaluation.metrics import final_average, forgetting, transfer_against

    header = ["Method", "seeds", "ACC", "MF1", "Forgetting", "transfer vs ONE", "wall min"]
    rows = []
    for m in methods:
        runs = {s: r for s in seeds if (r := _finished(bench, s, m, args))}
        if not runs:
            continue
        acc = [final_average(matrix(r, "accuracy")) for r in runs.values()]
        f1 = [final_average(matrix(r, "macro_f1")) for r in runs.values()]
        forg = [f for r in runs.values() if not math.isnan(f := forgetting(matrix(r, "accuracy")))]
        transfer = [
            float(np.mean(transfer_against(matrix(r, "accuracy"), matrix(one, "accuracy"))))
            for s, r in runs.items()
            if (one := _finished(bench, s, "adapter_one", args)) is not None
        ]
        wall = [run_seconds(r, grid, f"{bench}-seed{s}/{m}") for s, r in runs.items()]
        cells = [
            m,
            str(len(runs)),
            mean_std(acc, scale=100),
            mean_std(f1, scale=100),
            mean_std(forg, scale=100),
            mean_std(transfer, scale=100),
        ]
        cells.append(mean_std(wall, scale=1 / 60, digits=0))
        rows.append(cells)
    return markdown_table(header, rows) if rows else "(no finished runs)\n"


def per_task_transfer_table(
    bench: str, seeds: list[int], methods: list[str], args: argparse.Namespace
) -> str:
    """Knowledge transfer as the paper reports it: each task's final accuracy minus ONE's."""
    from lifelong.evaluation.metrics import transfer_against

    rows, tasks = [], None
    for m in methods:
        if m == "adapter_one":
            continue
        gains = []
        for s in seeds:
            run, one = _finished(bench, s, m, args), _finished(bench, s, "adapter_one", args)
            if run and one:
                gains.append(transfer_against(matrix(run, "accuracy"), matrix(one, "accuracy")))
                tasks = run["tasks"]
        if gains:
            rows.append([m, str(len(gains)), *(f"{100 * g:+.1f}" for g in np.mean(gains, axis=0))])
    if not rows or tasks is None:
        return "(needs adapter_one and another method finished on the same seed)\n"
    header = ["Method", "seeds", *tasks]
    return markdown_table(header, rows)


def verdict(bench: str, seeds: list[int], args: argparse.Namespace) -> str:
    """Plain statements: CTR >= HAT, CTR >= ONE, HAT >= ONE, each on the seeds where both finished
    (paired), and whether the mask-based methods forgot anything."""
    from lifelong.evaluation.metrics import final_average, forgetting

    def per_seed(method: str, fn) -> dict[int, float]:
        return {
            s: fn(matrix(r, "accuracy"))
            for s in seeds
            if (r := load_run(args.out / f"{bench}-seed{s}" / method))
        }

    acc = {m: per_seed(m, final_average) for m in ("ctr", "hat", "adapter_one")}
    out = []
    for a, b in (("ctr", "hat"), ("ctr", "adapter_one"), ("hat", "adapter_one")):
        paired = sorted(set(acc[a]) & set(acc[b]))
        if paired:
            mean_a = float(np.mean([acc[a][s] for s in paired]))
            mean_b = float(np.mean([acc[b][s] for s in paired]))
            name = {"adapter_one": "ONE"}.get
            out.append(
                f"- {name(a, a).upper()} {'>=' if mean_a >= mean_b else '<'} {name(b, b).upper()}: "
                f"{pct(mean_a)} vs {pct(mean_b)} (seeds {', '.join(map(str, paired))})"
            )
    for m in ("ctr", "hat"):
        if forg := list(per_seed(m, forgetting).values()):
            f = float(np.mean(forg))
            out.append(f"- {m} forgetting: {pct(f)} ({'nothing forgotten' if f == 0 else 'FORGOT'})")
    return "\n".join(out) + "\n" if out else "(not enough finished runs)\n"


def write_tables(
    benches: list[str], seeds: list[int], methods: list[str], args: argparse.Namespace, grid: RunGrid
) -> Path:
    sizes = SMOKE if args.smoke else PAPER_PROTOCOL if args.protocol == "paper" else SIZES
    parts = [
        "# CTR benchmark tables",
        "",
        f"Model {args.model}, task-incremental; sizes {json.dumps(sizes)} (overrides: max_train={args.max_train}, "
        f"max_eval={args.max_eval}, epochs={args.epochs}, tasks={args.tasks}); lr {LR['plugins']} for plugins, "
        f"{LR['full']} for full fine-tuning. Scores in %; transfer = mean final score minus the reference's.",
        "",
        "Paper (BERT-base, full data), ACC ASC / DSC: "
        + ", ".join(f"{m} {a}/{d}" for m, (a, d) in PAPER.items()),
    ]
    for bench in benches:  # every seed and method finished in --out, not only this invocation's
        every_seed = seeds_in(args.out, bench, seeds)
        every_method = names_in([args.out / f"{bench}-seed{s}" for s in every_seed], METHODS, methods)
        parts += [
            "",
            f"## {bench}",
            "",
            "### Verdict (mean over seeds)",
            "",
            verdict(bench, every_seed, args),
        ]
        parts += ["### Mean ± std over seeds", "", summary_table(bench, every_seed, every_method, args, grid)]
        parts += ["### Per task: final score minus ONE's (adapter_one), mean over seeds", ""]
        parts += [per_task_transfer_table(bench, every_seed, every_method, args)]
        for seed in every_seed:
            parts += [f"### seed {seed}", "", method_table(bench, seed, every_method, args, grid)]
            runs = [args.out / f"{bench}-seed{seed}" / m for m in every_method]
            parts += ["lifelong report:", "", report_table(runs)]
    return write_tables_file(args.out, "\n".join(parts), grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "runs/ctr-tables")
    ap.add_argument("--benchmarks", nargs="+", default=["asc", "dsc"], choices=["asc", "dsc"])
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument(
        "--protocol",
        choices=["small", "paper"],
        default="small",
        help="subset sizes, or the paper's (docstring)",
    )
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--smoke", action="store_true", help=f"the first tasks only, few examples: {SMOKE}")
    ap.add_argument("--max-train", type=int, help="training examples per task (overrides the sizes)")
    ap.add_argument("--max-eval", type=int, help="test examples per task (overrides the sizes)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--tasks", type=int, help="only the first N tasks of the standard order")
    ap.add_argument(
        "--model", default="minilm-l6", help="a preset or a local model folder (default minilm-l6)"
    )
    ap.add_argument(
        "--group-by-length",
        action="store_true",
        help="length-grouped batches (training.group_by_length): random ASC batches of 32 pad to 2.4x their "
        "tokens, grouped ones hardly at all; the batches differ from the paper's, so use another --out",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time (1 on a shared CPU; several on a GPU, which one small run leaves mostly idle)",
    )
    args = ap.parse_args()
    grid = grid_from_flags(args, smoke=args.smoke)
    benches = ["asc"] if args.smoke and args.benchmarks == ["asc", "dsc"] else args.benchmarks
    runs = [  # seed by seed, so an interrupted grid leaves whole seeds behind
        (f"{bench}-seed{seed}/{method}", run_config(bench, method, seed, args))
        for seed in args.seeds
        for bench in benches
        for method in args.methods
    ]
    grid.run_all(runs, args.jobs)
    if not args.dry_run:
        print(f"tables: {write_tables(benches, args.seeds, args.methods, args, grid)}")
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
