"""A run folder's outputs (metrics.json, matrix.csv, report.md, plots) and the cross-run comparison table.

Every file is written atomically, so a crash or a parallel reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lifelong.errors import LifelongError
from lifelong.evaluation import plots
from lifelong.evaluation.metrics import (
    check_matrix,
    gap_to_reference,
    seen_task_means,
    summarize,
    transfer_against,
)
from lifelong.io import read_json, to_jsonable, write_json, write_text
from lifelong.schema import flatten, read_mapping

HEATMAP = "heatmap.png"
CURVES = "task_curves.png"
UPPER_BOUND = "upper_bound"  # a method's ``reference`` role: joint training on all tasks (MTL)
ONE = "one"  # a method's ``reference`` role: one independent model per task
LEGEND = (
    "ACC: mean final score over all tasks. AIA: mean over stages of the average score on the tasks seen "
    "so far. BWT: mean change of each earlier task's score from just after learning it to the end "
    "(negative = forgetting). Forgetting: mean drop from each earlier task's best score to its final "
    "score. FWT: mean score of a task just before training on it, minus its score on the untrained model "
    "(for task-incremental classifiers both are scored with an untrained head, and for HAT/CTR a random "
    "mask: chance-level noise, not transfer). gap to MTL: multitask ACC minus this ACC. transfer vs ONE: "
    "mean final-score gain over one-model-per-task, the knowledge transfer CTR and HAT report."
)
_REQUIRED = ("tasks", "matrix", "method")
_SUMMARY_KEYS = {"acc", "aia", "bwt", "fwt", "forgetting", "final_scores", "matrix", "matrices", "summaries"}


# ---- formatting ---------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _pct(v: Any) -> str:
    return "n/a" if _is_missing(v) else f"{100 * float(v):.1f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _matrix_table(M: np.ndarray, tasks: Sequence[str]) -> list[str]:
    stages = ["before", *tasks]
    return _table(
        ["after \\ on", *tasks], [[stage, *map(_pct, row)] for stage, row in zip(stages, M, strict=True)]
    )


def _summary_table(summary: dict[str, Any]) -> list[str]:
    keys = ("acc", "aia", "bwt", "fwt", "forgetting")
    return _table(["ACC", "AIA", "BWT", "FWT", "Forgetting"], [[_pct(summary[k]) for k in keys]])


def _csv(M: np.ndarray, tasks: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["stage", *tasks])
    for stage, row in zip(["before", *tasks], M, strict=True):
        writer.writerow([stage, *("" if math.isnan(v) else repr(round(float(v), 6)) for v in row)])
    return out.getvalue()


def _report_md(metrics: dict[str, Any], matrices: dict[str, np.ndarray]) -> str:
    tasks, primary = metrics["tasks"], metrics["primary_metric"]
    info = [
        ["Method", metrics["method"]],
        ["Model", metrics["model"]],
        ["Seed", metrics["seed"]],
        ["Tasks (in order)", " → ".join(tasks)],
        ["Primary metric", primary],
    ]
    # scalar extras are worth a glance; nested ones stay in metrics.json
    core = {"tasks", "method", "model", "seed", "primary_metric", "reference"}
    info += [["Reference role", metrics["reference"]]] * (metrics.get("reference") is not None)
    info += [[k, v] for k, v in metrics.items() if k not in core and k not in _SUMMARY_KEYS and _scalar(v)]
    lines = [f"# Run report: {metrics['method']} on {metrics['model']}", "", "## Run", ""]
    lines += _table(["", ""], info)
    lines += ["", f"## Summary ({primary}, %)", ""]
    lines += _summary_table(metrics)
    lines += ["", LEGEND]
    lines += [
        "",
        f"## Score matrix: {primary} (%)",
        "",
        "Row = stage (after training that task), column = task evaluated.",
        "",
    ]
    lines += _matrix_table(matrices[primary], tasks)
    others = [name for name in matrices if name != primary]
    if others:
        lines += ["", "## Other metrics"]
        for name in others:
            lines += ["", f"### {name} (%)", ""]
            lines += _summary_table(metrics["summaries"][name])
            lines += [""]
            lines += _matrix_table(matrices[name], tasks)
    probes = metrics.get("probes") or {}
    if probes:
        lines += ["", "## Evaluation-only tasks (%)", "", "Scored after every stage, never trained.", ""]
        stages = ["before", *tasks]
        names = list(probes)
        header = ["after \\ on", *(f"{n} ({probes[n]['metric']})" for n in names)]
        rows = [
            [stage, *(_pct(_at(probes[n]["scores"], i)) for n in names)] for i, stage in enumerate(stages)
        ]
        lines += _table(header, rows)
    if training := metrics.get("training"):
        lines += ["", "## Training cost", "", "The training loop alone, per stage (scoring excluded).", ""]
        lines += _table(
            ["stage", "updates", "tokens", "seconds", "tokens/s"],
            [
                [
                    r["task"],
                    r["updates"],
                    r["tokens"],
                    f"{r['seconds']:.1f}",
                    f"{r['tokens_per_s']:,.0f}" if r["tokens_per_s"] else "-",
                ]
                for r in training
            ],
        )
    for i, table in enumerate(metrics.get("method_tables") or []):
        lines += ["", f"## {table['title']}", ""]
        if table.get("note"):
            lines += [table["note"], ""]
        lines += _table(table["columns"], [[_value(v) for v in row] for row in table["rows"]])
        if table.get("plot"):
            lines += ["", f"![{table['title']}](method_table_{i + 1}.png)"]
    lines += [
        "",
        "## Plots",
        "",
        f"![{primary} score matrix]({HEATMAP})",
        "",
        f"![{primary} of each task across stages]({CURVES})",
        "",
    ]
    return "\n".join(lines)


def _value(value: Any) -> str:
    """A method table's cell: floats to one decimal, a mapping as ``key n, ...``."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value)


def _at(values: list[Any], i: int) -> Any:
    return values[i] if i < len(values) else None


def _scalar(v: Any) -> bool:
    return isinstance(v, str | int | float | bool) or v is None


# ---- a run's results ----------------------------------------------------------------------------
def write_run_results(
    run_dir: str | os.PathLike[str],
    *,
    tasks: list[str],
    matrices: dict[str, np.ndarray],
    primary: str,
    method: str,
    model: str,
    seed: int,
    reference: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write metrics.json, matrix.csv, the plots and report.md; return what metrics.json holds.

    ``reference`` is the role the method declares for comparisons (:data:`UPPER_BOUND`, :data:`ONE`)."""
    run_dir = Path(run_dir)
    if primary not in matrices:
        raise ValueError(f"primary metric {primary!r} has no matrix; got {sorted(matrices)}")
    checked = {}
    for name, R in matrices.items():
        M = check_matrix(R)
        if M.shape[1] != len(tasks):
            raise ValueError(f"matrix {name!r} has shape {M.shape} but there are {len(tasks)} tasks")
        checked[name] = M
    summary = summarize(checked[primary])
    metrics: dict[str, Any] = {
        "tasks": list(tasks),
        "primary_metric": primary,
        "method": method,
        "model": model,
        "seed": seed,
        "reference": reference,
        **summary,
        "matrix": checked[primary],
        "matrices": checked,
        "summaries": {name: summarize(M) for name, M in checked.items()},
    }
    clash = sorted(set(extra or {}) & set(metrics))
    if clash:
        raise ValueError(f"extra keys {clash} would overwrite the run's own results")
    metrics = to_jsonable({**metrics, **(extra or {})})

    write_json(run_dir / "metrics.json", metrics)
    write_text(run_dir / "matrix.csv", _csv(checked[primary], tasks))
    title = f"{method} on {model}: {primary}"
    plots.plot_heatmap(checked[primary], tasks, run_dir / HEATMAP, title)
    plots.plot_task_curves(checked[primary], tasks, run_dir / CURVES, title)
    for i, table in enumerate(metrics.get("method_tables") or []):
        if table.get("plot"):
            _plot_method_table(table, run_dir / f"method_table_{i + 1}.png")
    write_text(run_dir / "report.md", _report_md(metrics, checked))
    return metrics


def _plot_method_table(table: dict[str, Any], path: Path) -> None:
    spec, columns = table["plot"], table["columns"]
    x = [row[columns.index(spec["x"])] for row in table["rows"]]
    y = [row[columns.index(spec["y"])] for row in table["rows"]]
    plots.plot_line(x, y, path, xlabel=spec["x"], ylabel=spec.get("ylabel", spec["y"]), title=table["title"])


def _matrix_of(metrics: dict[str, Any]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in metrics["matrix"]], dtype=float)


def load_metrics(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's metrics.json (``run_dir`` may also be the file itself), checked enough to compare runs."""
    path = Path(run_dir)
    if path.suffix != ".json":
        path = path / "metrics.json"
    if not path.is_file():
        raise LifelongError(f"{path} not found: is {os.fspath(run_dir)!r} a finished run folder?")
    data = read_json(path)
    if not isinstance(data, dict):
        raise LifelongError(f"{path} should hold a JSON object, found {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise LifelongError(f"{path} is missing keys {missing}")
    tasks = data["tasks"]
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise LifelongError(f"{path}: 'tasks' should be a list of task names")
    try:
        M = check_matrix(_matrix_of(data))
    except (TypeError, ValueError) as e:
        raise LifelongError(f"{path}: 'matrix' is not a score matrix ({e})") from e
    if M.shape[1] != len(tasks):
        raise LifelongError(f"{path}: 'matrix' has shape {M.shape} but there are {len(tasks)} tasks")
    return data


# ---- comparing runs -----------------------------------------------------------------------------
def _base_label(run: dict[str, Any], several_models: bool) -> str:
    """The run's own label (``name``) when it has one; else "method", or "method (model)" when the
    runs compared use several models."""
    if run.get("name"):
        return str(run["name"])
    return f"{run['method']} ({run.get('model')})" if several_models else str(run["method"])


def _labels(runs: list[dict[str, Any]]) -> list[str]:
    """One label per run: its base label, with the seed where two runs would otherwise share one."""
    several_models = len({str(r.get("model")) for r in runs}) > 1
    labels = [_base_label(r, several_models) for r in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} [seed {r.get('seed')}]" for label, r in zip(labels, runs, strict=True)]
    return labels


def _reference(run: dict[str, Any], runs: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    """The reference run for ``run``: same tasks, the method declared ``role``, the same model and seed
    if there is one, else the same model."""
    same_tasks = [r for r in runs if r.get("reference") == role and r["tasks"] == run["tasks"]]
    same_model = [r for r in same_tasks if r.get("model") == run.get("model")]
    same_seed = [r for r in same_model if r.get("seed") == run.get("seed")]
    return (same_seed or same_model or same_tasks or [None])[0]


def _mean_std(values: Sequence[Any]) -> str:
    """Mean ± sample standard deviation in %, over the measured values (the mean alone for one)."""
    kept = [100 * float(v) for v in values if not _is_missing(v)]
    if not kept:
        return "n/a"
    if len(kept) == 1:
        return f"{kept[0]:.1f}"
    return f"{np.mean(kept):.1f} ± {np.std(kept, ddof=1):.1f}"


def _rows(keys: list[tuple[str, ...]], values: list[list[Any]], over_seeds: bool) -> list[list[str]]:
    """Table rows: one per run (its label, its values in %, then any trailing cells of its key), or with
    ``over_seeds`` one per key (the runs with the same label and settings, i.e. differing only in their
    seed): the label, the number of runs, each column's mean ± std, the rest of the key."""
    if not over_seeds:
        return [[key[0], *map(_pct, row), *key[1:]] for key, row in zip(keys, values, strict=True)]
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for key, row in zip(keys, values, strict=True):
        groups.setdefault(key, []).append(row)
    return [
        [key[0], str(len(rows)), *(_mean_std(column) for column in zip(*rows, strict=True)), *key[1:]]
        for key, rows in groups.items()
    ]


def compare_runs(run_dirs: Sequence[str | os.PathLike[str]], over_seeds: bool = False) -> str:
    """The Markdown table papers show: one row per run, headline metrics and final per-task scores (%).
    ``over_seeds``: one row per method and settings (the runs that differ only in their seed), with the
    number of runs and mean ± std over them; gaps to multitask and transfer against ONE are taken seed by
    seed where the references have the same seed."""
    if not run_dirs:
        raise LifelongError("no runs to compare")
    runs = [load_metrics(d) for d in run_dirs]
    tasks = list(dict.fromkeys(t for r in runs for t in r["tasks"]))
    has_mtl = any(r.get("reference") == UPPER_BOUND for r in runs)
    has_one = any(r.get("reference") == ONE for r in runs)

    header = ["Run", *(["runs"] * over_seeds), "ACC", "BWT", "Forgetting", "FWT", *tasks]
    one_refs = [ref["method"] for r in runs if (ref := _reference(r, runs, ONE))]
    header += ["gap to MTL"] * has_mtl
    header += [f"transfer vs ONE ({', '.join(dict.fromkeys(one_refs))})"] * has_one
    values = []
    for run in runs:
        R = _matrix_of(run)
        final = dict(zip(run["tasks"], R[-1], strict=True))
        row = [run.get(k) for k in ("acc", "bwt", "forgetting", "fwt")] + [final.get(t) for t in tasks]
        if has_mtl:
            ref = _reference(run, runs, UPPER_BOUND)
            row.append(gap_to_reference(R, _matrix_of(ref)) if ref else None)
        if has_one:
            ref = _reference(run, runs, ONE)
            gains = [g for g in transfer_against(R, _matrix_of(ref)) if not math.isnan(g)] if ref else []
            row.append(sum(gains) / len(gains) if gains else None)
        values.append(row)
    # averaged over seeds, runs stay apart when any other setting differs
    settings = _differing_settings(run_dirs, ignore={"seed"} if over_seeds else set())
    several_models = len({str(r.get("model")) for r in runs}) > 1
    labels = [_base_label(r, several_models) for r in runs] if over_seeds else _labels(runs)
    keys = [(label, *([s] if settings else [])) for label, s in zip(labels, settings or labels, strict=True)]
    header += ["settings that differ"] * bool(settings)
    text = "\n".join(_table(header, _rows(keys, values, over_seeds))) + "\n"
    return text + _transfer_per_task(runs, tasks, keys, over_seeds) if has_one else text


def plot_comparison(run_dirs: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str]) -> Path:
    """Each run's mean score on the tasks seen so far after every stage, one line per run: where a
    table gives the end, the curve shows when each method starts to forget. Stages are named by task
    when every run learned the same tasks in the same order, else numbered."""
    if not run_dirs:
        raise LifelongError("no runs to plot")
    runs = [load_metrics(d) for d in run_dirs]
    same_tasks = all(r["tasks"] == runs[0]["tasks"] for r in runs)
    T = max(len(r["tasks"]) for r in runs)
    stages = runs[0]["tasks"] if same_tasks else [f"stage {k}" for k in range(1, T + 1)]
    curves: dict[str, list[float]] = {}
    for label, run in zip(_labels(runs), runs, strict=True):
        means = [100 * m for m in seen_task_means(_matrix_of(run))]
        unique = next(f"{label} ({k})" for k in range(2, len(runs) + 2) if f"{label} ({k})" not in curves)
        curves[label if label not in curves else unique] = means + [float("nan")] * (T - len(means))
    return plots.plot_stage_curves(curves, stages, path, title="mean over the tasks seen so far")


def _transfer_per_task(
    runs: list[dict[str, Any]], tasks: list[str], keys: list[tuple[str, ...]], over_seeds: bool
) -> str:
    """Knowledge transfer as CTR and HAT report it: per task, the final score minus ONE's (points)."""
    kept_keys, values = [], []
    for key, run in zip(keys, runs, strict=True):
        ref = _reference(run, runs, ONE)
        if ref is None or run is ref:
            continue
        gains = dict(zip(run["tasks"], transfer_against(_matrix_of(run), _matrix_of(ref)), strict=True))
        kept_keys.append((f"{key[0]} ({key[1]})" if len(key) > 1 else key[0],))  # no settings column here
        values.append([gains.get(t) for t in tasks])
    if not values:
        return ""
    header = ["Run", *(["runs"] * over_seeds), *tasks]
    return (
        "\nKnowledge transfer per task (final score minus ONE's, points):\n\n"
        + "\n".join(_table(header, _rows(kept_keys, values, over_seeds)))
        + "\n"
    )


def _differing_settings(
    run_dirs: Sequence[str | os.PathLike[str]], ignore: set[str] = frozenset()
) -> list[str]:
    """Per run, the settings whose values differ between the runs, so two runs of one method with
    different settings can be told apart; empty when nothing differs. Read from each folder's
    config.yaml, and from the ``method_config`` its environment.json records (every method setting,
    defaults included): two runs made with different defaults differ there and not in config.yaml.
    ``ignore``: keys left out (the seed, when runs are averaged over seeds)."""
    configs, recorded = [], []
    for d in run_dirs:
        path = Path(d) if Path(d).is_dir() else Path(d).parent
        if not (path / "config.yaml").is_file():
            return []
        configs.append(flatten(read_mapping(path / "config.yaml")))
        environment = read_json(path / "environment.json") if (path / "environment.json").is_file() else {}
        recorded.append(environment.get("method_config") or {})
    keys = sorted(
        {k for c in configs for k in c if len({repr(o.get(k)) for o in configs}) > 1}
        - {"name", "method", *ignore}
    )
    cells = [[f"{k}={c[k]}" for k in keys if k in c] for c in configs]
    for method in {c.get("method") for c in configs}:
        runs = [i for i, c in enumerate(configs) if c.get("method") == method and recorded[i]]
        names = {k for i in runs for k in recorded[i]}
        for k in sorted(n for n in names if f"method_args.{n}" not in keys):
            values = {repr(recorded[i].get(k)) for i in runs}
            if len(values) > 1:  # a run that does not record its method settings is not compared
                for i in runs:
                    cells[i].append(f"method_args.{k}={recorded[i].get(k)}")
    if not any(cells):
        return []
    return [", ".join(c) or "-" for c in cells]
