"""The pipeline's outputs for people: the results table (markdown) and the adaptation curves (PNG)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lifelong.io import atomic_path
from lifelong.pretraining.language import AdaptationCurve

ENGLISH_CONTROL = "en (relearned)"  # the pipeline's control row: English embeddings relearned on the body
NOT_TARGETS = ("en", ENGLISH_CONTROL)  # rows left out of the mean over target languages


def plot_curves(curves: dict[str, AdaptationCurve | dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Left: masked-LM loss vs adaptation steps; right: zero-shot accuracy vs steps (if recorded).

    Curves are named ``variant/language``: colour = language, line style = variant, so standard
    and forgetting runs of one language sit side by side.
    """
    # lazy: matplotlib is only needed when drawing, and is slow to import
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    names = {label: (label.split("/", 1) + [""])[:2] for label in curves}
    variants = sorted({v for v, _ in names.values()})
    languages = sorted({lang for _, lang in names.values()})
    for label, curve in sorted(curves.items()):
        c = curve if isinstance(curve, AdaptationCurve) else AdaptationCurve(**curve)
        variant, lang = names[label]
        style = {
            "linestyle": ["-", "--", ":", "-."][variants.index(variant) % 4],
            "color": f"C{languages.index(lang) % 10}",
            "label": label,
        }
        loss_ax.plot(c.steps, c.mlm_loss, linewidth=1.2, **style)
        if c.eval_steps:
            acc_ax.plot(c.eval_steps, [100 * a for a in c.accuracy], marker="o", markersize=3, **style)
    loss_ax.set(xlabel="language-adaptation steps", ylabel="masked-LM loss", title="Convergence")
    acc_ax.set(xlabel="language-adaptation steps", ylabel="zero-shot accuracy (%)", title="Assembled model")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7, ncol=max(1, len(variants)))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path


def results_table(results: dict[str, dict[str, dict[str, float]]], metric: str = "accuracy") -> str:
    """Markdown: one row per language, one column per variant (e.g. standard vs forgetting), plus the mean."""
    variants = list(results)
    languages = list(dict.fromkeys(lang for v in variants for lang in results[v]))
    lines = [f"| language | {' | '.join(variants)} |", "|---" * (len(variants) + 1) + "|"]
    for lang in languages:
        cells = [results[v].get(lang, {}).get(metric) for v in variants]
        lines.append(
            f"| {lang} | " + " | ".join("—" if c is None else f"{100 * c:.1f}" for c in cells) + " |"
        )
    targets = [lang for lang in languages if lang not in NOT_TARGETS]
    means = []
    for v in variants:
        vals = [results[v][lang][metric] for lang in targets if lang in results[v]]
        means.append(f"{100 * sum(vals) / len(vals):.1f}" if vals else "—")
    lines.append("| **mean (targets)** | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"
