"""How much of the plugins' capacity each task's HAT mask takes, read from finished hat / ctr / cpt runs.

    python benchmarks/ctr/mask_usage.py benchmarks/out/ctr/dsc10-seed0/hat benchmarks/out/ctr/dsc10-seed0/ctr

Per run: for every task, the fraction of masked units its own mask opens (a > 0.5 at s_max) and the
fraction that all tasks up to it use together (a_prev): units in a_prev are frozen for every later task,
so once it nears 1.0 later tasks can only train their heads and the units no earlier task opened.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from lifelong.runs import open_learner


def fraction_open(masks: list[torch.Tensor]) -> float:
    return sum(int((m > 0.5).sum()) for m in masks) / sum(m.numel() for m in masks)


def mask_usage(run_dir: Path) -> list[tuple[str, float, float]]:
    session, tasks = open_learner(run_dir)
    hat = session.method.hat
    rows, used = [], None
    for t, task in enumerate(tasks):
        masks = hat.masks(t)
        used = masks if used is None else [torch.maximum(u, m) for u, m in zip(used, masks, strict=True)]
        rows.append((task.name, fraction_open(masks), fraction_open(used)))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    args = p.parse_args()
    for run in args.runs:
        print(f"\n{run}\n\n| task | own mask open | used by tasks ≤ this one |\n|---|---|---|")
        for name, own, cumulative in mask_usage(run):
            print(f"| {name} | {100 * own:.1f} % | {100 * cumulative:.1f} % |")


if __name__ == "__main__":
    main()
