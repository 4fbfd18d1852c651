"""How much CTR's transfer routing shares: for every task of a finished ctr run, the share of its test
examples whose task-sharing gate is open for each source task, averaged over the plugins.

    python benchmarks/ctr/routing_gates.py benchmarks/out/ctr/dsc10-binary/ctr

Row t, column i: how often task t's answers route task i's capsule (i <= t; the diagonal is the task's
own capsule, which is gated like the others).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lifelong.methods.ctr import gate_shares
from lifelong.runs import open_learner


def run_gate_shares(run_dir: Path) -> tuple[list[str], list[list[float]]]:
    """Per task: the mean open share of the gate of each source task (over test examples and plugins)."""
    session, tasks = open_learner(run_dir)
    rows = [gate_shares(session.method, task, task.split(task.eval_split())) for task in tasks]
    return [t.name for t in tasks], rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    args = p.parse_args()
    names, rows = run_gate_shares(args.run)
    print("| task \\ source | " + " | ".join(str(i + 1) for i in range(len(names))) + " |")
    print("|---|" + "---|" * len(names))
    for t, (name, row) in enumerate(zip(names, rows, strict=True)):
        cells = [f"{100 * v:.0f}" for v in row] + [""] * (len(names) - len(row))
        print(f"| {t + 1} {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
