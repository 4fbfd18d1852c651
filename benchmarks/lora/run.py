"""The LoRA-family table on O-LoRA's "standard CL benchmark": AG News, Amazon, DBpedia and Yahoo in the
paper's orders 1-3 (``tc`` orders ``o-lora-1`` .. ``o-lora-3``), smollm2-135m answering in text, no task
id at inference. Methods: seq_lora, inc_lora, o_lora, inf_lora, replay and lamol on the same LoRA
(``model.lora``), and full fine-tuning / multitask as the bounds; the mean over the three orders.

    python benchmarks/lora/run.py --out benchmarks/out/lora --data-dir ../shared/data
    python benchmarks/lora/run.py --smoke --out /tmp/lora-smoke     # a few examples per task

A finished run is skipped and a killed one resumed; tables go to ``<out>/tables.md``. Paper (T5-large,
full data, mean of orders 1-3): O-LoRA 75.8, multitask 80.0, IncLoRA 66.4, SeqLoRA 43.7, SeqFT 28.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import grid_arguments, grid_from_flags, load_run, pct, report_table, write_tables_file  # noqa: E402

ORDERS = ["o-lora-1", "o-lora-2", "o-lora-3"]
LORA = {"r": 8, "alpha": 16.0}
# method -> (method_args, LoRA or the whole model, learning rate)
VARIANTS: dict[str, tuple[dict[str, Any], bool, float]] = {
    "finetune": ({}, False, 3e-4),
    "multitask": ({}, False, 3e-4),
    "seq_lora": ({}, True, 1e-3),
    "inc_lora": ({}, True, 1e-3),
    "o_lora": ({}, True, 1e-3),
    "inf_lora": ({}, True, 1e-3),
    "replay": ({"replay_ratio": 0.2}, True, 1e-3),
    "lamol": ({"gamma": 0.2, "task_tokens": True}, True, 1e-3),
}
SIZES = {"max_train": 160, "max_eval": 48, "epochs": 1}
SMOKE = {"max_train": 8, "max_eval": 4, "epochs": 1}


def config(order: str, method: str, args: argparse.Namespace) -> dict[str, Any]:
    method_args, lora, lr = VARIANTS[method]
    sizes = SMOKE if args.smoke else SIZES
    return {
        "model": {
            "name": "smollm2-135m",
            "max_length": 128,
            "max_answer_length": 8,
            "prompt_style": "instruction",  # task instruction + input + "Answer:", as in the papers
            **({"lora": LORA} if lora else {}),
        },
        "method": method,
        "method_args": method_args,
        "stream": {
            "benchmark": "tc",
            "order": order,
            "max_train": sizes["max_train"],
            "max_dev": 8,
            "max_eval": sizes["max_eval"],
            "seed": args.seed,
        },
        "training": {
            "epochs": sizes["epochs"],
            "lr": lr,
            "batch_size": 4,
            "eval_batch_size": 32,
            "warmup_ratio": 0.1,
        },
        "seed": args.seed,
        "data_dir": str(Path(args.data_dir).resolve()),
    }


def mean_table(out: Path, methods: list[str]) -> list[str]:
    """ACC and forgetting per order and their mean, one row per method."""
    lines = [
        "| Method | " + " | ".join(f"ACC {o}" for o in ORDERS) + " | mean ACC | mean forgetting |",
        "|---|" + "---|" * (len(ORDERS) + 2),
    ]
    for method in methods:
        runs = [load_run(out / order / method) for order in ORDERS]
        accs = [r["acc"] if r else None for r in runs]
        done = [r for r in runs if r]
        mean = np.mean([r["acc"] for r in done]) if len(done) == len(ORDERS) else None
        forget = np.mean([r["forgetting"] for r in done]) if len(done) == len(ORDERS) else None
        lines.append(
            f"| {method} | " + " | ".join(pct(a) for a in accs) + f" | {pct(mean)} | {pct(forget)} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "benchmarks/out/lora")
    ap.add_argument("--orders", nargs="+", default=ORDERS, choices=ORDERS)
    ap.add_argument("--methods", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help=f"a few examples per task: {SMOKE}")
    args = ap.parse_args()
    grid = grid_from_flags(args, smoke=args.smoke)
    text = ["# LoRA family on the O-LoRA standard CL benchmark", ""]
    for order in args.orders:
        keys = [f"{order}/{m}" for m in args.methods]
        for key, method in zip(keys, args.methods, strict=True):
            grid.run(key, config(order, method, args))
        text += [f"## {order}", "", report_table([args.out / k for k in keys], args.methods), ""]
    text += ["## Mean over the orders", "", *mean_table(args.out, args.methods)]
    print(write_tables_file(args.out, "\n".join(text), grid).read_text())
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
