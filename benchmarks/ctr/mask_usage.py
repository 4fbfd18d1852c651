"""How much of the plugins' capacity each task's HAT mask takes, read from finished hat / ctr / cpt runs.

    python benchmarks/ctr/mask_usage.py benchmarks/out/ctr/dsc10-seed0/hat benchmarks/out/ctr/dsc10-seed0/ctr

Per run: for every task, the share of masked units its own binary mask opens (e > 0), how many of those
an earlier task already used, and the share all tasks up to it use together (a_prev): exactly the units
frozen for every later task (the same rule as the protection).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lifelong.runs import open_learner


def mask_usage(run_dir: Path) -> list[dict[str, float | str]]:
    """Per task: its binary mask's open share, overlap with earlier tasks, units used so far: the rule the
    protection uses (a unit is used once a task's ``e > 0``), so "used" is exactly what is frozen."""
    session, tasks = open_learner(run_dir)
    hat = session.method.hat
    return [{"task": task.name, **hat.usage(t)} for t, task in enumerate(tasks)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    args = p.parse_args()
    for run in args.runs:
        print(f"\n{run}\n\n| task | own mask open | overlap with earlier | used by tasks ≤ this one |")
        print("|---|---|---|---|")
        for row in mask_usage(run):
            print(
                f"| {row['task']} | {row['open %']:.1f} % | {row['overlap with earlier %']:.1f} % "
                f"| {row['used so far %']:.1f} % |"
            )


if __name__ == "__main__":
    main()
