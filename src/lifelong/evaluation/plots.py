"""Pictures of a score matrix: the heatmap and the per-task curves that go into report.md.

Figures are drawn on an explicit Agg canvas (no pyplot), so plotting works headless and never
changes the backend of a notebook or GUI the library is imported into.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lifelong.evaluation.metrics import check_matrix
from lifelong.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path


def _checked(R: Any, tasks: Sequence[str]) -> np.ndarray:
    M = check_matrix(R)
    if M.shape[1] != len(tasks):
        raise ValueError(f"matrix of shape {M.shape} does not match {len(tasks)} task names")
    return M


def plot_heatmap(R: Any, tasks: Sequence[str], path: str | os.PathLike[str], title: str = "") -> Path:
    """Score matrix in percent: one row per stage ("before", then each task), one column per task."""
    M = _checked(R, tasks)
    T = M.shape[1]
    pct = np.ma.masked_invalid(M * 100)
    longest = max(len(t) for t in tasks)  # the row labels are task names: leave them room
    fig = _new_figure(2.5 + 1.0 * T + 0.08 * longest, 1.5 + 0.5 * (T + 1))
    ax = fig.add_subplot()
    image = ax.imshow(pct, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    for i in range(T + 1):
        for j in range(T):
            if pct.mask[i, j]:
                ax.text(j, i, "n/a", ha="center", va="center", color="gray", fontsize=8)
            else:
                value = float(pct[i, j])
                color = "white" if value < 60 else "black"  # readable on viridis' dark and light ends
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(
        range(T), labels=list(tasks), rotation=30 if T > 3 else 0, ha="right" if T > 3 else "center"
    )
    ax.set_yticks(range(T + 1), labels=["before", *tasks])
    ax.set_xlabel("evaluated on")
    ax.set_ylabel("after training")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="score (%)")
    return _save(fig, path)


def plot_task_curves(R: Any, tasks: Sequence[str], path: str | os.PathLike[str], title: str = "") -> Path:
    """Each task's score across stages: forgetting shows as a line falling after its task."""
    M = _checked(R, tasks)
    T = M.shape[1]
    stages = np.arange(T + 1)
    fig = _new_figure(3.5 + 0.7 * T, 4.0)
    ax = fig.add_subplot()
    for j, name in enumerate(tasks):
        ax.plot(stages, M[:, j] * 100, marker="o", label=name)
    ax.set_xticks(stages, labels=["before", *tasks], rotation=30 if T > 3 else 0)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("after training")
    ax.set_ylabel("score (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="task")
    return _save(fig, path)


def plot_line(
    x: Sequence[Any],
    y: Sequence[float],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
) -> Path:
    """One quantity against another (e.g. the share of pseudo-samples kept against the stage)."""
    fig = _new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    ax.plot(range(len(x)), y, marker="o")  # positions, not strings: stage names may look like numbers
    ax.set_xticks(range(len(x)), labels=[str(v) for v in x])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_stage_curves(
    curves: dict[str, Sequence[float]],
    stages: Sequence[str],
    path: str | os.PathLike[str],
    *,
    ylabel: str = "mean score on the tasks seen so far (%)",
    title: str = "",
    bands: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Path:
    """Several runs' curves over the same stages (values in %), one line each; NaN stages are left out,
    so a run scored only at the end shows as a single point. ``bands``: a shaded range per run (e.g.
    the spread over seeds)."""
    T = len(stages)
    fig = _new_figure(3.5 + 0.7 * T, 4.0)
    ax = fig.add_subplot()
    for label, values in curves.items():
        y = np.asarray(values, dtype=float)
        if y.shape != (T,):
            raise ValueError(f"curve {label!r} has {y.size} values for {T} stages")
        shown = ~np.isnan(y)
        (line,) = ax.plot(np.flatnonzero(shown), y[shown], marker="o", label=label)
        if bands and label in bands:
            low, high = (np.asarray(b, dtype=float) for b in bands[label])
            ax.fill_between(np.arange(T), low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xticks(range(T), labels=list(stages), rotation=30 if T > 3 else 0)
    ax.set_ylim(-2, 102)  # the whole scale, as in the per-task curves: gaps keep their true size
    ax.set_xlabel("after training")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="run")
    return _save(fig, path)
