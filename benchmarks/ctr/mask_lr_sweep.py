"""HAT's task-embedding learning rate (``mask_lr``) chosen on dev data: hat on the first 5 DSC domains
(standard order), task-incremental, scored on the dev splits (``stream.eval_split: dev`` drops test, so
no test example is looked at). The value with the best dev ACC is the library's default.

    python benchmarks/ctr/mask_lr_sweep.py --out benchmarks/out/ctr/mask-lr --data-dir ../shared/data

A finished run is skipped and a killed one resumed; the table (dev ACC, forgetting, and the mask usage
after the last domain) goes to ``<out>/tables.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import grid_arguments, grid_from_flags, load_run, pct, write_tables_file  # noqa: E402

DSC5 = ["tools_and_home_improvement", "pet_supplies", "office_products", "kindle_store", "movies_and_tv"]
MASK_LRS: list[float | None] = [None, 0.01, 0.05, 0.2]  # None: the plugins' training lr (1e-3)


def config(mask_lr: float | None, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": {"name": "minilm-l6", "max_length": 128},
        "method": "hat",
        "method_args": {"mask_lr": mask_lr},
        "stream": {
            "benchmark": "dsc",
            "tasks": DSC5,
            "max_train": args.max_train,
            "max_dev": 200,
            "eval_split": "dev",
            "seed": 0,
        },
        "training": {"epochs": 3, "lr": 1e-3, "batch_size": 16, "eval_batch_size": 64},
        "seed": 0,
        "data_dir": str(Path(args.data_dir).resolve()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "benchmarks/out/ctr/mask-lr")
    ap.add_argument("--max-train", type=int, default=200, help="training examples per domain")
    args = ap.parse_args()
    grid = grid_from_flags(args)
    rows = []
    for mask_lr in MASK_LRS:
        key = f"hat-mask_lr-{mask_lr if mask_lr is not None else 'lr'}"
        if not args.tables_only:
            grid.run(key, config(mask_lr, args))
        metrics = load_run(grid.out / key)
        if metrics:
            usage = next(t for t in metrics.get("method_tables", []) if t["title"].startswith("HAT mask"))
            last = dict(zip(usage["columns"], usage["rows"][-1], strict=True))
            first = dict(zip(usage["columns"], usage["rows"][0], strict=True))
            rows.append(
                f"| {mask_lr if mask_lr is not None else '= lr (1e-3)'} | {pct(metrics['acc'])} "
                f"| {pct(metrics['forgetting'])} | {first['open %']:.1f} | {last['used so far %']:.1f} "
                f"| {metrics['wall_time_s']:.0f} |"
            )
    text = [
        "# HAT mask_lr on dev (first 5 DSC domains)",
        "",
        f"minilm-l6, {args.max_train} train / 200 dev examples per domain, 3 epochs, batch 16, lr 1e-3, seed 0",
        "",
        "| mask_lr | dev ACC | dev forgetting | domain 1 open % | used after 5 % | wall s |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    print(write_tables_file(args.out, "\n".join(text), grid).read_text())
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
