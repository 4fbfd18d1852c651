"""Domain- and class-incremental learning on real data, every method that declares the scenario, and
EWC's lambda chosen on dev data.

- ``dsc-domain``: the 10 DSC domains (order dsc-10) as one domain-incremental stream: one shared binary
  head, no task id at test time.
- ``tc-class``: the 5 TC tasks (MbPA++ order i) as one class-incremental stream: one head that grows
  with every new label (yelp and amazon share their five star labels: 33 classes in all), no task id.
- ``tc-class-t2t`` and ``dsc5-domain-t2t``: the same scenarios for a text-to-text learner (smollm2-135m,
  answers generated; class-incremental asks one question naming every label so far), smaller subsets
  (first 5 DSC domains), with the methods that declare them for text2text, LAMOL among them.
- ``ewc-sweep``: EWC's lambda on the first 5 DSC domains, domain-incremental, scored on dev
  (``stream.eval_split: dev``; test is dropped from those runs); the table runs use the best value.

    python benchmarks/scenarios/run.py --out benchmarks/out/scenarios --data-dir ../shared/data

A finished run is skipped and a killed one resumed; tables go to ``<out>/tables.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import RunGrid, grid_arguments, grid_from_flags, load_run, pct, report_table, write_tables_file  # noqa: E402

METHODS = ["finetune", "ewc", "replay", "multitask", "adapter_ncl", "none"]  # ncl = finetune for a classifier
LAMBDAS = [100.0, 1000.0, 10000.0, 100000.0]
# the sweep's domains: the first 5 of dsc-10 (dev splits)
DSC5 = ["tools_and_home_improvement", "pet_supplies", "office_products", "kindle_store", "movies_and_tv"]
LR = {"adapter_ncl": 1e-3}  # plugins train alone: a larger lr (as in the CTR tables); the rest 1e-4
STREAMS = {
    "dsc-domain": {
        "benchmark": "dsc",
        "order": "dsc-10",
        "scenario": "domain",
        "max_train": 200,
        "max_eval": 200,
    },
    "tc-class": {
        "benchmark": "tc",
        "order": "i",
        "scenario": "class",
        "merge_labels": True,  # yelp and amazon: the same five star ratings
        "max_train": 300,
        "max_eval": 300,
    },
    "tc-class-t2t": {
        "benchmark": "tc",
        "order": "i",
        "scenario": "class",
        "merge_labels": True,
        "max_train": 160,
        "max_eval": 48,
    },
    "dsc5-domain-t2t": {
        "benchmark": "dsc",
        "tasks": DSC5,
        "scenario": "domain",
        "max_train": 160,
        "max_eval": 48,
    },
}
# text-to-text streams: smollm2 with LAMOL's settings (configs/lamol/tc.yaml), 1 epoch
T2T_METHODS = ["finetune", "lamol", "replay", "multitask"]
T2T = {
    "model": {"name": "smollm2-135m", "max_length": 128, "max_answer_length": 8},
    "training": {"epochs": 1, "lr": 3e-4, "batch_size": 4, "eval_batch_size": 32, "warmup_ratio": 0.1},
}


def config(
    stream: dict[str, Any], method: str, args: argparse.Namespace, t2t: bool = False, **method_args: Any
) -> dict[str, Any]:
    classifier = {
        "model": {"name": "minilm-l6", "max_length": 128},
        "training": {"epochs": 2, "lr": LR.get(method, 1e-4), "batch_size": 16, "eval_batch_size": 64},
    }
    return {
        **(T2T if t2t else classifier),
        "method": method,
        "method_args": method_args,
        "stream": {**stream, "max_dev": 200, "seed": 0},
        "seed": 0,
        "data_dir": str(Path(args.data_dir).resolve()),
    }


def best_lambda(grid: RunGrid, args: argparse.Namespace) -> tuple[float, list[str]]:
    sweep = {**STREAMS["dsc-domain"], "order": None, "tasks": DSC5, "eval_split": "dev", "max_eval": None}
    del sweep["order"]
    rows, best, best_acc = [], LAMBDAS[0], -1.0
    for lam in LAMBDAS:
        key = f"ewc-sweep/lambda-{lam:g}"
        grid.run(key, config(sweep, "ewc", args, ewc_lambda=lam))
        metrics = load_run(grid.out / key)
        if metrics:
            rows.append(f"| {lam:g} | {pct(metrics['acc'])} | {pct(metrics['forgetting'])} |")
            if metrics["acc"] > best_acc:
                best, best_acc = lam, metrics["acc"]
    table = ["| ewc_lambda | dev ACC | dev forgetting |", "|---|---|---|", *rows]
    return best, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "benchmarks/out/scenarios")
    ap.add_argument("--streams", nargs="+", default=list(STREAMS))
    ap.add_argument(
        "--methods", nargs="+", default=METHODS + T2T_METHODS, help="a subset (e.g. to share the machine)"
    )
    ap.add_argument(
        "--no-sweep", action="store_true", help="skip the EWC sweep (and ewc): another job runs it"
    )
    args = ap.parse_args()
    grid = grid_from_flags(args)
    no_sweep = args.tables_only or args.no_sweep
    lam, sweep_table = best_lambda(grid, args) if not no_sweep else (1000.0, [])
    text = [
        "# Scenarios",
        "",
        f"## EWC lambda on dev (first 5 DSC domains, domain-incremental): best {lam:g}",
        "",
    ]
    text += sweep_table
    for name in args.streams:
        keys = []
        t2t = name.endswith("-t2t")
        for method in T2T_METHODS if t2t else METHODS:
            key = f"{name}/{method}"
            extra = {"ewc_lambda": lam} if method == "ewc" else {}
            if method not in args.methods or (method == "ewc" and args.no_sweep):
                continue
            if not args.tables_only:
                grid.run(key, config(STREAMS[name], method, args, t2t, **extra))
            keys.append(key)
        text += [
            "",
            f"## {name}",
            "",
            report_table([args.out / k for k in keys], [k.split("/")[1] for k in keys]),
        ]
    print(write_tables_file(args.out, "\n".join(text), grid).read_text())
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
