"""Markdown table of ``control.py``'s long adaptations: the standard body against the forgetting body, per language.

    python benchmarks/active_forgetting/long_table.py --standard benchmarks/out/af/minilm \\
        --forgetting benchmarks/out/af/minilm-elr --runs control:2500 de:1221 sw:1221

Each ``name:steps`` names the result files ``<run>/<name>-standard-<steps>.json`` and
``<run>/<name>-forgetting-<steps>.json`` (``control`` = the English control). Per run: masked-LM loss
along the way, dev accuracy along the way, test accuracy / macro-F1 at the end, the relative test-accuracy
gain of forgetting over standard, and the updates the forgetting body needs to reach the standard body's
final loss. A file missing from a run folder is read from its record (``kept_results.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kept_results import find

from lifelong.io import read_json


def loss_at(curve: dict, step: int) -> float | None:
    """The logged loss (mean of the last ``log_every`` updates) at the last log point up to ``step``."""
    logged = [v for s, v in zip(curve["steps"], curve["mlm_loss"], strict=True) if s <= step]
    return logged[-1] if logged else None


def first_reaching(curve: dict, loss: float) -> int | None:
    return next((s for s, v in zip(curve["steps"], curve["mlm_loss"], strict=True) if v <= loss), None)


def marks(curve: dict, steps: int) -> list[int]:
    """The evaluation points shown: a few early ones, the paper's 5M-token budget, and the end."""
    return [s for s in curve["eval_steps"] if s in {250, 500, 1000, 1250, steps}]


def rows(name: str, steps: int, standard: dict, forgetting: dict) -> list[str]:
    shown = marks(standard["curve"], steps)
    out = []
    for body, result in (("standard", standard), ("forgetting", forgetting)):
        curve = result["curve"]
        dev = dict(zip(curve["eval_steps"], curve["accuracy"], strict=True))
        losses = " / ".join(f"{loss_at(curve, m):.2f}" for m in shown)
        devs = " / ".join(f"{100 * dev[m]:.1f}" if m in dev else "—" for m in shown)
        test = result["test"]
        out.append(
            f"| {name} | {body} | {losses} | {devs} | {100 * test['accuracy']:.1f} / {100 * test['macro_f1']:.1f} |"
        )
    a, b = standard["test"]["accuracy"], forgetting["test"]["accuracy"]
    gain = "n/a (standard at 0)" if a == 0 else f"{100 * (b - a) / a:+.1f} %"
    reach = first_reaching(forgetting["curve"], standard["curve"]["mlm_loss"][-1])
    out.append(
        f"| {name} | forgetting vs standard | reaches standard's final loss after "
        f"{'—' if reach is None else reach} of {steps} | | relative test gain {gain} |"
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--standard", type=Path, required=True, help="run folder holding the standard results")
    p.add_argument("--forgetting", type=Path, required=True, help="run folder holding the forgetting results")
    p.add_argument("--runs", nargs="+", required=True, help="name:steps, e.g. control:2500 de:1221")
    args = p.parse_args()
    lines = [
        "| language | body | MLM loss at the marked updates | dev accuracy (%) at the same | test acc / F1 (%) at the end |",
        "|---|---|---|---|---|",
    ]
    for spec in args.runs:
        name, _, steps_text = spec.partition(":")
        if not steps_text.isdigit():
            p.error(f"--runs {spec!r}: expected name:steps, e.g. de:1221")
        steps = int(steps_text)
        wanted = [
            (args.standard, f"{name}-standard-{steps}.json"),
            (args.forgetting, f"{name}-forgetting-{steps}.json"),
        ]
        files = [find(run, file) for run, file in wanted]
        missing = [str(run / file) for (run, file), f in zip(wanted, files, strict=True) if f is None]
        if missing:
            p.error(f"not found, nor in the records: {', '.join(missing)} (run control.py first)")
        standard, forgetting = (read_json(f) for f in files)
        shown = " / ".join(map(str, marks(standard["curve"], steps)))
        lines.append(f"| *{name}: updates {shown}* | | | | |")
        lines += rows(name, steps, standard, forgetting)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
