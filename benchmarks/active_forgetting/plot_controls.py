"""Plot the language adaptations found under some ``run.py`` variant folders, one row per language: masked-LM
loss and the assembled model's accuracy against relearning updates, with the majority class marked.

    python benchmarks/active_forgetting/plot_controls.py --data ../shared/data --out docs/img/active_forgetting_minilm_control.png \
        standard=benchmarks/out/af/minilm/standard "forgetting, emb. lr 2e-3"=benchmarks/out/af/minilm-elr/forgetting
    python benchmarks/active_forgetting/plot_controls.py --languages en,de,sw ...   # one row each

A variant folder holds the pipeline's adaptation (``languages/en-control`` for English, ``languages/<lang>``
otherwise; scored on test) and any long run of ``control.py`` (``control-<steps>`` for English,
``<lang>-<steps>`` otherwise; scored on dev). When the folder is gone, the same curves are read from the
records (``kept_results.py``): the variant's ``results.json`` and ``control.py``'s result files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from control import long_run_name
from kept_results import find, glob_kept
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lifelong.data.files import resolve_data_dir
from lifelong.io import atomic_path, read_json
from lifelong.pretraining.classify import read_labelled
from lifelong.pretraining.models import read_meta
from lifelong.pretraining.pipeline import adaptation_folder
from lifelong.pretraining.report import ENGLISH_CONTROL


def adaptations(folder: Path, language: str) -> dict[str, dict]:
    """The finished adaptations of one language in one variant folder (or its record), by a label naming
    budget and split."""
    found = {}
    pipeline = read_meta(folder / "languages" / adaptation_folder(language))
    if pipeline:
        found[f"{pipeline['steps']} updates, test"] = pipeline["curve"]
    elif kept := find(folder.parent, Path(folder.name) / "results.json"):  # the folder is gone: its record
        results, row = read_json(kept), ENGLISH_CONTROL if language == "en" else language
        curve = results["curves"].get(f"{results['name']}/{row}")
        if curve:
            found[f"{results['scores'][row]['steps']} updates, test"] = curve
    prefix = long_run_name(language)
    for long in glob_kept(folder.parent, f"{prefix}-{folder.name}-*.json"):
        result = read_json(long)
        found[f"{result['config']['budget_steps']} updates, dev"] = result["curve"]
    return found


def majority_share(data: Path, language: str) -> float:
    labels = [r.label for r in read_labelled(data / "multilingual" / "sib200" / language / "test.jsonl")]
    return max(labels.count(label) for label in set(labels)) / len(labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument(
        "--languages", default="en", help="comma-separated, one row each; en = the English control"
    )
    p.add_argument("variants", nargs="+", help="label=folder of a run.py variant")
    args = p.parse_args()
    data = resolve_data_dir(args.data, flag="--data")
    languages = [x.strip() for x in args.languages.split(",")]
    rows = len(languages)
    fig = Figure(figsize=(11, 4 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 2, squeeze=False)
    for language, (loss_ax, acc_ax) in zip(languages, axes, strict=True):
        for i, spec in enumerate(args.variants):
            label, _, folder = spec.partition("=")
            found = adaptations(Path(folder), language)
            for style, (which, curve) in zip(("-", "--", ":"), found.items(), strict=False):
                name = f"{label} ({which})"
                loss_ax.plot(
                    curve["steps"], curve["mlm_loss"], style, color=f"C{i}", linewidth=1.0, label=name
                )
                acc = [100 * a for a in curve["accuracy"]]
                acc_ax.plot(
                    curve["eval_steps"], acc, style, color=f"C{i}", marker=".", linewidth=1.0, label=name
                )
        majority = 100 * majority_share(data, language)
        acc_ax.axhline(majority, color="grey", linewidth=0.8, label="majority class (test)")
        what = "English control" if language == "en" else language
        loss_ax.set(xlabel="relearning updates (32 x 128 tokens)", ylabel=f"{what}: masked-LM loss")
        acc_ax.set(xlabel="relearning updates", ylabel=f"{what}: SIB-200 accuracy (%)")
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
        acc_ax.legend(fontsize=7)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
