"""Plot every English control found under some ``run.py`` variant folders: masked-LM loss and the assembled
model's accuracy against relearning updates, with the majority class marked.

    python benchmarks/active_forgetting/plot_controls.py --data ../shared/data --out docs/img/active_forgetting_minilm_control.png \
        standard=benchmarks/out/af/minilm/standard "forgetting, emb. lr 2e-3"=benchmarks/out/af/minilm-elr/forgetting

A variant folder holds the pipeline's control (``languages/en-control``, scored on test) and any long
control of ``control.py`` (``control-<steps>``, scored on dev).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lifelong.data.files import resolve_data_dir
from lifelong.io import atomic_path
from lifelong.pretraining.classify import read_labelled
from lifelong.pretraining.models import read_meta

SIB_ENGLISH_TEST = "multilingual/sib200/en/test.jsonl"  # the majority-class line (dev's is within a point)


def controls(folder: Path) -> dict[str, dict]:
    """The finished controls in one variant folder, by a label saying which split scored them."""
    found = {}
    pipeline = read_meta(folder / "languages" / "en-control")
    if pipeline:
        found["300 updates, test"] = pipeline["curve"]
    for long in sorted(folder.glob("control-*")):
        meta = read_meta(long)
        if meta:
            found[f"{meta['steps']} updates, dev"] = meta["curve"]
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument("variants", nargs="+", help="label=folder of a run.py variant")
    args = p.parse_args()
    labels = [r.label for r in read_labelled(resolve_data_dir(args.data, flag="--data") / SIB_ENGLISH_TEST)]
    majority = max(labels.count(label) for label in set(labels)) / len(labels)
    fig = Figure(figsize=(11, 4), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, spec in enumerate(args.variants):
        label, _, folder = spec.partition("=")
        for style, (which, curve) in zip(("-", "--", ":"), controls(Path(folder)).items(), strict=False):
            name = f"{label} ({which})"
            loss_ax.plot(curve["steps"], curve["mlm_loss"], style, color=f"C{i}", linewidth=1.0, label=name)
            acc = [100 * a for a in curve["accuracy"]]
            acc_ax.plot(curve["eval_steps"], acc, style, color=f"C{i}", marker=".", linewidth=1.0, label=name)
    acc_ax.axhline(100 * majority, color="grey", linewidth=0.8, label="majority class (test)")
    loss_ax.set(xlabel="relearning updates (32 x 128 tokens)", ylabel="English masked-LM loss")
    acc_ax.set(xlabel="relearning updates", ylabel="SIB-200 English accuracy (%), assembled model")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=7)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
