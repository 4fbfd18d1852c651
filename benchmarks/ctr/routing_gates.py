"""How much CTR's transfer routing shares: for every task of a finished ctr run, the share of its test
examples whose task-sharing gate is open for each source task, averaged over the plugins.

    python benchmarks/ctr/routing_gates.py benchmarks/out/ctr/dsc10-binary/ctr

Row t, column i: how often task t's answers route task i's capsule (i <= t; the diagonal is the task's
own capsule, which is gated like the others).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from lifelong.models.plugins import plugins
from lifelong.runs import open_learner
from lifelong.training.evaluate import evaluate_task


def gate_shares(run_dir: Path) -> tuple[list[str], list[list[float]]]:
    """Per task: the mean open share of the gate of each source task (over examples and plugins)."""
    session, tasks = open_learner(run_dir)
    routings = [p.ksm.routing for p in plugins(session.method.learner)]
    seen: list[torch.Tensor] = []
    originals = [r.gates for r in routings]

    def recording(gates):
        def wrapped(z: torch.Tensor) -> torch.Tensor:
            out = gates(z)  # (sources, batch): 1 = open
            seen.append(out.detach().float().mean(dim=1))
            return out

        return wrapped

    for r, gates in zip(routings, originals, strict=True):
        r.gates = recording(gates)  # an instance attribute shadows the method for this script only
    rows = []
    try:
        for task in tasks:
            seen.clear()
            evaluate_task(session.method, task, session.ctx)
            rows.append(torch.stack(seen).mean(0).tolist())
    finally:
        for r in routings:
            del r.gates
    return [t.name for t in tasks], rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    args = p.parse_args()
    names, rows = gate_shares(args.run)
    print("| task \\ source | " + " | ".join(str(i + 1) for i in range(len(names))) + " |")
    print("|---|" + "---|" * len(names))
    for t, (name, row) in enumerate(zip(names, rows, strict=True)):
        cells = [f"{100 * v:.0f}" for v in row] + [""] * (len(names) - len(row))
        print(f"| {t + 1} {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
