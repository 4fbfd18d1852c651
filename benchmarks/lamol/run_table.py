"""The LAMOL table: every method variant on the same streams, ``--jobs`` runs at a time, then Markdown tables.

Streams: text classification (MbPA++ orders i and iv) and the decaNLP-style SST/SQuAD/WOZ stream in
two orders, all with smollm2-135m. Variants: finetune, multitask, EWC, LAMOL with the shared GEN token,
LAMOL with task tokens (γ = 0.2 and 0.05), LAMOL with γ = 0 (LM loss, no replay) and LAMOL_real (real
old examples).

    python benchmarks/lamol/run_table.py --out runs/lamol-table --data-dir /work/shared/data
    python benchmarks/lamol/run_table.py --smoke --out /tmp/lamol-smoke   # a few examples per task
    python benchmarks/lamol/run_table.py --streams tc-i --seeds 0 1 2 ...   # the 3-seed table
    python benchmarks/lamol/run_table.py --jobs 2 --threads 1 ...   # two runs at once, one core each

A finished run is skipped and a killed one resumed, so the script can be restarted at any time.
Outputs in --out: one run folder per ``<stream>-seed<s>/<variant>``, ``tables.md`` (per stream the
paper's claims with the measured numbers, mean ± std over seeds; per seed ``lifelong report`` with the
variants named, every task's final score in its own metric, the replay statistics, seconds per stage)
and ``timings.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lifelong.evaluation.metrics import forgetting, seen_task_means
from lifelong.evaluation.plots import plot_stage_curves

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import (  # noqa: E402
    RunGrid,
    first_task_groups,
    grid_arguments,
    grid_from_flags,
    load_run,
    markdown_table,
    matrix,
    mean_std,
    names_in,
    report_table,
    seeds_in,
    write_tables_file,
)

CONFIGS = HERE.parents[1] / "configs" / "lamol"

STREAMS: dict[str, dict[str, Any]] = {
    "tc-i": {"config": "tc.yaml", "order": "i"},
    "tc-iv": {"config": "tc.yaml", "order": "iv"},
    "decanlp-sst-squad-woz": {"config": "decanlp.yaml", "order": "sst-squad-woz"},
    "decanlp-woz-squad-sst": {"config": "decanlp.yaml", "order": "woz-squad-sst"},
}
LAMOL = {"lm_weight": 0.25, "gamma": 0.2, "task_tokens": True}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "finetune": ("finetune", {}),
    "multitask": ("multitask", {}),
    # the same final row as multitask (each stage restarts from the initial weights with its own seed),
    # trained at the last stage only: a third of the cost, no per-stage rows
    "multitask-final": ("multitask", {"final_only": True}),
    "ewc": ("ewc", {}),
    "lamol-gen": ("lamol", {**LAMOL, "task_tokens": False}),
    "lamol-task": ("lamol", LAMOL),
    "lamol-task-g0.05": ("lamol", {**LAMOL, "gamma": 0.05}),  # the paper's smaller replay budget
    "lamol-gamma0": ("lamol", {**LAMOL, "gamma": 0.0}),
    "lamol-real": ("lamol", {**LAMOL, "real_samples": True}),
}
# per-task subsets: about 2 hours with the machine to itself and 2 threads, about 4 on the busy
# machine with 1 thread (README.md has the measurements and the cost model)
SIZES = {
    "tc": {"max_train": 32, "max_eval": 24, "epochs": 1},
    "decanlp": {"max_train": 32, "max_eval": 24, "epochs": 1},
}
SMOKE = {"max_train": 4, "max_eval": 4, "epochs": 1}
DECANLP_METRIC_NAMES = {"accuracy": "EM", "f1": "nF1", "ds_em": "dsEM"}


def run_key(stream: str, seed: int, variant: str) -> str:
    return f"{stream}-seed{seed}/{variant}"


def run_config(stream: str, variant: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = STREAMS[stream]
    config = yaml.safe_load((CONFIGS / spec["config"]).read_text())
    family = "tc" if spec["config"] == "tc.yaml" else "decanlp"
    sizes = SMOKE if args.smoke else SIZES[family]
    method, method_args = VARIANTS[variant]
    base_args = config.get("method_args") or {}  # LAMOL's generation settings for this stream
    config["method"] = method
    config["method_args"] = {**base_args, **method_args} if method == "lamol" else copy.deepcopy(method_args)
    config["stream"]["order"] = spec["order"]
    config["stream"]["max_train"] = args.max_train or sizes["max_train"]
    config["stream"]["max_eval"] = args.max_eval or sizes["max_eval"]
    config["training"]["epochs"] = args.epochs or sizes["epochs"]
    config["seed"] = seed
    if args.data_dir:
        config["data_dir"] = str(args.data_dir)
    return config


def _task_metrics(run_dir: Path, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Each task of the run in stream order with its own metric, from files a record keeps too."""
    from lifelong.data.benchmarks import load_benchmark_def

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    tasks = load_benchmark_def(config["stream"]["benchmark"])["tasks"]
    return [(name, tasks[name]["metric"]) for name in metrics["tasks"]]


def own_metric_matrix(run_dir: Path) -> tuple[list[tuple[str, str]], np.ndarray] | None:
    """The run's (task, metric) pairs and its scores after stages 1..T (rows) of every task (columns),
    each task in its own metric; NaN where a task was not yet scored. None when the run has not finished."""
    metrics = load_run(run_dir)
    if metrics is None:
        return None
    tasks = _task_metrics(run_dir, metrics)
    return tasks, np.stack([matrix(metrics, metric)[1:, j] for j, (_, metric) in enumerate(tasks)], axis=1)


def seen_means(scores: np.ndarray) -> np.ndarray:
    """Mean score over the tasks seen so far, after every stage (``scores``: rows 1..T of the matrix)."""
    return np.array(seen_task_means(np.vstack([np.full((1, scores.shape[1]), np.nan), scores])))


def _nanmean(values: np.ndarray) -> float:
    """Mean of the measured entries; NaN (no warning) when none is: a final-only run's early stages."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def kept_shares(run_dir: Path) -> list[float]:
    """LAMOL's kept pseudo-sample share (%) per stage that asked for samples, from the run's metrics."""
    metrics = load_run(run_dir) or {}
    for table in metrics.get("method_tables", []):
        if table.get("title") == "LAMOL pseudo-samples per stage":
            col = table["columns"].index("kept %")
            return [float(row[col]) for row in table["rows"]]
    return []


def run_sizes(folder: Path, variants: list[str]) -> str:
    """The sizes and seed the runs in ``folder`` really used (read from their configs, not from the flags)."""
    sizes = set()
    for v in variants:
        path = folder / v / "config.yaml"
        if path.is_file():
            c = yaml.safe_load(path.read_text())
            st = c["stream"]
            sizes.add((st["max_train"], st["max_eval"], c["training"]["epochs"], c["seed"]))
    return (
        "; ".join(
            f"{t} train / {e} test examples per task, {ep} epoch(s), seed {sd}"
            for t, e, ep, sd in sorted(sizes)
        )
        or "(no runs)"
    )


def per_task_table(folder: Path, variants: list[str]) -> str:
    """Final score of every task in its own metric (decaNLP: SST EM, SQuAD nF1, WOZ dsEM) and the mean."""
    rows, header = [], None
    for v in variants:
        if (found := own_metric_matrix(folder / v)) is None:
            continue
        tasks, scores = found
        final = {name: 100 * x for (name, _), x in zip(tasks, scores[-1], strict=True)}
        order = sorted(tasks)
        header = header or ["Variant", *(f"{n} {DECANLP_METRIC_NAMES.get(m, m)}" for n, m in order), "mean"]
        values = [final[n] for n, _ in order]
        cells = ["n/a" if np.isnan(x) else f"{x:.1f}" for x in values]
        rows.append([v, *cells, f"{np.nanmean(values):.1f}"])
    if header is None:
        return "(no finished runs)\n"
    return markdown_table(header, rows)


STAGE_LINE = re.compile(r"stage (\d+)/\S+ done in (\d+)s")


def stage_seconds_table(folder: Path, variants: list[str]) -> str:
    """Seconds per stage (train, generate, evaluate all seen tasks), read from each run's log: how the
    cost grows with the number of tasks."""
    rows, n = [], 0
    for v in variants:
        log = folder / f"{v}.log"
        if not (folder / v / "metrics.json").is_file() or not log.is_file():
            continue
        seconds = {int(k): int(t) for k, t in STAGE_LINE.findall(log.read_text())}  # a resumed stage: last
        n = max(n, len(seconds))
        rows.append([v, *(str(seconds.get(k, "")) for k in range(1, n + 1))])
    if not rows:
        return "(no finished runs)\n"
    header = ["Variant", *(f"stage {k}" for k in range(1, n + 1))]
    return markdown_table(header, rows)


def replay_table(folder: Path, variants: list[str]) -> str:
    """Per LAMOL stage: samples asked for and kept, the rejection rate, each old task's share, speed."""
    header = [
        "Variant",
        "stage",
        "mode",
        "requested",
        "kept",
        "rejected %",
        "share per task",
        "gen tokens/s",
        "cache",
    ]
    rows = []
    for v in variants:
        for path in sorted((folder / v / "stages").glob("*/replay_stats.json")):
            s = json.loads(path.read_text())
            share = ", ".join(f"{k} {100 * x:.0f}%" for k, x in s.get("share_per_task", {}).items()) or "-"
            speed = s.get("tokens_per_s")
            rows.append(
                [
                    v,
                    path.parent.name,
                    s["mode"],
                    str(s["requested"]),
                    str(s["kept"]),
                    f"{100 * s['rejection_rate']:.0f}",
                    share,
                    f"{speed:.0f}" if speed else "-",
                    s.get("cache", "-"),
                ]
            )
    if not rows:
        return "(no replay)\n"
    return markdown_table(header, rows)


CLAIMS = "lamol-task"  # the paper's LAMOL: task tokens, γ = 0.2


def stream_curves(
    stream: str, seeds: list[int], out: Path
) -> tuple[dict[str, dict[int, np.ndarray]], dict[str, dict[int, float]], list[str]]:
    """Per variant and seed, the mean own-metric score over the tasks seen so far after each stage (%) and
    the forgetting (%; NaN for a final-only multitask), and the stream's task names. ``multitask-final``
    counts as multitask where the seed has no every-stage run."""
    curves: dict[str, dict[int, np.ndarray]] = {}
    forgot: dict[str, dict[int, float]] = {}
    names: list[str] = []
    for seed in seeds:
        for variant in VARIANTS:
            upper = "multitask" if variant == "multitask-final" else variant
            if seed in curves.get(upper, {}):
                continue  # the every-stage multitask came first: one upper bound per seed
            found = own_metric_matrix(out / f"{stream}-seed{seed}" / variant)
            if found is not None:
                names = [name for name, _ in found[0]]
                curves.setdefault(upper, {})[seed] = 100 * seen_means(found[1])
                before = np.zeros((1, found[1].shape[1]))  # forgetting reads rows 1..T only
                forgot.setdefault(upper, {})[seed] = 100 * forgetting(np.vstack([before, found[1]]))
    return curves, forgot, names


def plot_stream(stream: str, seeds: list[int], out: Path) -> Path | None:
    """``<out>/<stream>-seen.png``: each variant's mean over the tasks seen so far after each stage, the
    mean over its seeds with their range shaded; None before any run of the stream has finished."""
    curves, _, names = stream_curves(stream, seeds, out)
    if not curves:
        return None
    means, bands = {}, {}
    for variant, by_seed in curves.items():
        stacked = np.array(list(by_seed.values()))
        scored = sorted(set((~np.isnan(stacked)).sum(axis=0).tolist()) - {0})  # seeds behind each point
        label = f"{variant} ({' or '.join(map(str, scored))} seed{'s' if scored[-1] > 1 else ''})"
        means[label] = [_nanmean(column) for column in stacked.T]
        if len(by_seed) > 1:
            bands[label] = (np.min(stacked, axis=0), np.max(stacked, axis=0))
    return plot_stage_curves(means, names, out / f"{stream}-seen.png", title=stream, bands=bands)


def claims_table(stream: str, seeds: list[int], out: Path) -> str:
    """The paper's claims, each with the measured numbers (final ACC = mean final score over the tasks,
    each in its own metric). The variant table gives mean ± std over the seeds each variant finished;
    each claim compares variants on the seeds where all of them finished (paired), so a variant with
    more seeds never moves a difference by the others' seed noise. A seed's multitask is its every-stage
    run or, failing that, its final-only run (same final row, per-stage means NaN)."""
    curves, forgot, _ = stream_curves(stream, seeds, out)
    if CLAIMS not in curves:
        return "(LAMOL with task tokens has not finished)\n"
    final = {v: {s: float(c[-1]) for s, c in cs.items()} for v, cs in curves.items()}

    def common(*variants: str) -> list[int]:
        return sorted(set.intersection(*(set(final.get(v, {})) for v in variants)))

    def on(paired: list[int]) -> str:
        return f"seeds {', '.join(map(str, paired))}"

    def gap(a: str, b: str) -> str:
        paired = common(a, b)
        if not paired:
            return "n/a"
        diffs = [final[a][s] - final[b][s] for s in paired]
        spread = f" ± {np.std(diffs, ddof=1):.1f}" if len(diffs) > 1 else ""
        return f"{np.mean(diffs):+.1f}{spread} ({on(paired)})"

    def by_stage(v: str, paired: list[int]) -> str:
        means = [_nanmean(column) for column in np.array([curves[v][s] for s in paired]).T]
        return " / ".join("n/a" if np.isnan(x) else f"{x:.1f}" for x in means)

    tokens = common(CLAIMS, "lamol-gen")
    gammas = ("lamol-gamma0", "lamol-task-g0.05", CLAIMS)
    gamma_seeds = common(*gammas)
    gamma_means = (
        f"final ACC γ 0 / 0.05 / 0.2 ({on(gamma_seeds)}): "
        + " / ".join(mean_std([final[v][s] for s in gamma_seeds]) for v in gammas)
        if gamma_seeds
        else "final ACC: n/a (not every γ has finished)"
    )
    kept = [k for seed in seeds for k in kept_shares(out / f"{stream}-seed{seed}" / CLAIMS)]
    rows = [
        ("far above finetune (target: +10)", f"lamol-task − finetune = {gap(CLAIMS, 'finetune')}"),
        (
            "close to multitask (paper: 2–3 points; target: within 5)",
            f"lamol-task − multitask = {gap(CLAIMS, 'multitask')}",
        ),
        (
            "task tokens beat a shared GEN as tasks accumulate",
            f"mean over seen tasks after each stage ({on(tokens)}): task tokens {by_stage(CLAIMS, tokens)}; "
            f"shared GEN {by_stage('lamol-gen', tokens)}"
            if tokens
            else "n/a (lamol-gen has not finished)",
        ),
        (
            "more pseudo-samples help (γ 0 < 0.05 < 0.2)",
            # and each γ against 0.2 on the seeds both finished: a γ run that lands adds its seed at once
            f"{gamma_means}; γ 0.2 − γ 0 = {gap(CLAIMS, 'lamol-gamma0')}; "
            f"γ 0.2 − γ 0.05 = {gap(CLAIMS, 'lamol-task-g0.05')}",
        ),
        ("pseudo-samples are as good as real ones", f"lamol-task − lamol-real = {gap(CLAIMS, 'lamol-real')}"),
        (
            "kept share ≥ 90 % at every stage (target)",
            f"lamol-task: min {min(kept):.0f} %, stages {' / '.join(f'{k:.0f}' for k in kept)}"
            if kept
            else "n/a",
        ),
    ]

    def forgetting_of(v: str) -> str:
        values = [f for f in forgot[v].values() if not np.isnan(f)]
        return mean_std(values) if values else "—"

    ran = sorted({s for runs in final.values() for s in runs})  # seeds with at least one finished run
    variants = [
        [
            v,
            mean_std(list(final[v].values())),
            forgetting_of(v),
            " / ".join(f"{final[v][s]:.1f}" if s in final[v] else "—" for s in ran),
        ]
        for v in VARIANTS
        if v in final
    ]
    claims = [[claim, measured] for claim, measured in rows]
    per_seed = f"ACC seed{'s' if len(ran) > 1 else ''} {' / '.join(map(str, ran))}"
    return (
        markdown_table(["variant", "final ACC", "forgetting", per_seed], variants)
        + "\n"
        + markdown_table(["claim", "measured"], claims)
    )


def write_tables(
    streams: list[str], variants: list[str], seeds: list[int], args: argparse.Namespace, grid: RunGrid
) -> Path:
    """Every seed and variant finished in ``args.out`` (and those asked for), not only this invocation's."""
    parts = ["# LAMOL benchmark table", "", "Model smollm2-135m. Scores in %."]
    for stream in streams:
        every_seed = seeds_in(args.out, stream, seeds)
        parts += [
            "",
            f"## {stream}",
            "",
            "### The paper's claims",
            "",
            claims_table(stream, every_seed, args.out),
        ]
        plot = plot_stream(stream, every_seed, args.out)
        if plot is not None:
            parts += ["", f"![{stream}: mean over the tasks seen so far, per stage]({plot.name})"]
        for seed in every_seed:
            folder = args.out / f"{stream}-seed{seed}"
            names = names_in([folder], list(VARIANTS), variants)
            parts += ["", f"### seed {seed}", "", run_sizes(folder, names)]
            parts += [
                "",
                "#### lifelong report (ACC, BWT, forgetting, FWT, final per task, gap to multitask)",
                "",
            ]
            parts += [report_table([folder / v for v in names], names)]
            parts += [
                "#### Final score per task, each in its own metric",
                "",
                per_task_table(folder, names),
            ]
            parts += ["#### Replayed samples per stage", "", replay_table(folder, names)]
            parts += ["#### Seconds per stage", "", stage_seconds_table(folder, names)]
    return write_tables_file(args.out, "\n".join(parts), grid)


@dataclass
class Job:
    """One run of the table; ``start`` is the key of the shared first task it forks from, if any."""

    key: str
    config: dict[str, Any]
    start: str | None = None


def plan_stream(
    stream: str, seed: int, args: argparse.Namespace, grid: RunGrid
) -> tuple[dict[str, Any], list[Job]]:
    """Every variant on one stream and seed, in order, and the shared starts they fork from. Variants that
    differ only in replay settings (the LAMOL variants with task tokens: γ 0.2, 0.05, 0, real samples) learn
    the first task identically: when two or more of them have not begun, it is learned once
    (``_first-task-<variant>``) and they fork from it; a start already learned by an earlier invocation
    serves even a single variant that has not begun."""
    configs = {v: run_config(stream, v, seed, args) for v in args.variants}
    starts: dict[str, Any] = {}  # shared-start key -> the config whose first task it learns
    share: dict[str, str] = {}  # variant -> its shared-start key
    for group in first_task_groups(configs):
        waiting = [v for v in group if grid.pending(run_key(stream, seed, v), configs[v])]
        learned = [v for v in group if grid.started(run_key(stream, seed, f"_first-task-{v}"))]
        if len(waiting) > 1 or (waiting and learned):
            owner = (learned or waiting)[0]
            start = run_key(stream, seed, f"_first-task-{owner}")
            starts[start] = configs[owner]
            share.update(dict.fromkeys(waiting, start))
    return starts, [Job(run_key(stream, seed, v), c, share.get(v)) for v, c in configs.items()]


def execute(starts: dict[str, Any], jobs: list[Job], grid: RunGrid, parallel: int) -> list[bool]:
    """The shared starts, then the runs that need none, then those that fork, ``parallel`` at a time; the
    results in ``jobs``' order. A forked run waits for its start, which is queued before it, so only a
    worker with nothing else left to do ever waits. A failed start lets its runs begin from nothing."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        begun = {key: pool.submit(grid.shared_start, key, config, 1) for key, config in starts.items()}

        def one(job: Job) -> bool:
            fork = begun[job.start].result() if job.start else None
            return grid.run(job.key, job.config, fork=fork)

        queued = {id(job): pool.submit(one, job) for job in sorted(jobs, key=lambda j: j.start is not None)}
        return [queued[id(job)].result() for job in jobs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(ap, "runs/lamol-table")
    ap.add_argument("--streams", nargs="+", default=list(STREAMS), choices=list(STREAMS))
    ap.add_argument(
        "--variants",
        nargs="+",
        default=[v for v in VARIANTS if v != "multitask-final"],  # opt-in: the same final row as multitask
        choices=list(VARIANTS),
    )
    ap.add_argument("--smoke", action="store_true", help=f"a few examples per task: {SMOKE}")
    ap.add_argument("--max-train", type=int, help="examples per task (overrides the sizes)")
    ap.add_argument("--max-eval", type=int, help="test examples per task (overrides the sizes)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, one --threads each (2 with 1 thread fills 2 cores)",
    )
    args = ap.parse_args()
    grid = grid_from_flags(args, smoke=args.smoke)
    starts: dict[str, Any] = {}
    jobs: list[Job] = []
    for seed in args.seeds:
        for stream in args.streams:
            stream_starts, stream_jobs = plan_stream(stream, seed, args, grid)
            starts.update(stream_starts)
            jobs += stream_jobs
    execute(starts, jobs, grid, args.jobs)
    if not args.dry_run:
        print(f"tables: {write_tables(args.streams, args.variants, args.seeds, args, grid)}")
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
