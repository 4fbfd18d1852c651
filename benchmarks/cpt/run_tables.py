"""The CPT table: continual masked-LM post-training on DSC domains with minilm-l6, each domain scored by
few-shot fine-tuning on its end task. Methods: cpt, none, ncl, adapter_ncl, adapter_one (ONE), demix, and
replay on the masked-LM stream. One run at a time; a finished run is skipped, a killed one resumed.

    python benchmarks/cpt/run_tables.py --out runs/cpt-tables --data-dir /work/shared/data
    python benchmarks/cpt/run_tables.py --smoke --out /tmp/cpt-smoke --methods cpt none
    python benchmarks/cpt/run_tables.py --order dsc-6-asc-2 --seeds 0 1   # + SemEval-14 restaurant/laptop

The issue-#16 protocol (docs/results.md §6b): all of each domain's unlabeled text, every end task fine-tuned
with 3 seeds on one post-trained model, the final models re-scored with 256 end-task examples:

    python benchmarks/cpt/run_tables.py --out benchmarks/out/cpt-full --data-dir ../shared/data \
        --max-train 4000 --repeats 3 --methods ncl none cpt --rescore-shots 256 --rescore-epochs 3
    python benchmarks/cpt/run_tables.py --out benchmarks/out/cpt-mlm-only --data-dir ../shared/data \
        --max-train 4000 --no-end-tasks --methods ncl --seeds 1 2     # masked-LM forgetting only

Writes ``tables.md`` in --out: end-task accuracy / macro-F1 final averages, forgetting and the gain over
``none`` (post-training helps?), the masked-LM loss matrices and their forgetting (loss increase on earlier
domains), plain verdicts, and ``timings.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _grid import (  # noqa: E402
    grid_arguments,
    grid_from_flags,
    load_run,
    matrix,
    mean_std,
    pct,
    sample_std,
    write_tables_file,
)

CONFIG = HERE.parents[1] / "configs" / "cpt" / "dsc.yaml"
METHODS = ["cpt", "none", "ncl", "adapter_ncl", "adapter_one", "demix", "replay"]
WHOLE_MODEL = {"ncl", "replay"}  # the whole model post-trains: a small lr
LR = {"plugins": 1e-3, "whole": 5e-5}
PARALLEL = {"layout": "parallel", "bottleneck_attention": 512, "bottleneck_ffn": 768}  # the paper's adapters
# about 25-35 min per method on 2 busy CPU cores for 4 domains (smoke: 2 domains x 300 lines took ~400 s for cpt)
SIZES = {"max_train": 1000, "max_dev": 200, "epochs": 1, "end_max_eval": 300}
SMOKE = {"max_train": 300, "max_dev": 100, "epochs": 1, "end_max_eval": 200, "tasks": 2}


def run_config(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    sizes = SMOKE if args.smoke else SIZES
    config["model"]["name"] = args.model
    config["method"] = method
    config["method_args"] = PARALLEL if args.parallel and method == "cpt" else {}
    config["seed"] = seed
    config["stream"]["order"] = args.order
    config["stream"]["max_train"] = args.max_train or sizes["max_train"]
    config["stream"]["max_dev"] = sizes["max_dev"]
    config["training"]["epochs"] = args.epochs or sizes["epochs"]
    config["training"]["lr"] = LR["whole" if method in WHOLE_MODEL else "plugins"]
    config["end_task"]["max_eval"] = sizes["end_max_eval"]
    config["end_task"]["full_data"] = args.full_data
    config["end_task"]["seed"] = seed
    if args.shots:
        config["end_task"]["shots"] = args.shots
    config["end_task"]["repeats"] = args.repeats
    config["training"]["score_before"] = args.score_before
    config["end_task"]["enabled"] = not args.no_end_tasks
    n_tasks = args.tasks or sizes.get("tasks")
    if n_tasks:
        from lifelong.data.benchmarks import load_benchmark_def

        config["stream"]["tasks"] = load_benchmark_def("cpt-dsc")["orders"][args.order][:n_tasks]
        config["stream"]["order"] = None
    if args.data_dir:
        config["data_dir"] = str(args.data_dir)
    return config


def loss_forgetting(loss: np.ndarray) -> float:
    """Mean increase of an earlier domain's held-out masked-LM loss from right after its own post-training
    to the end (0 = nothing forgotten)."""
    n = loss.shape[1]
    if n < 2:
        return float("nan")
    return float(np.mean([loss[n, j] - loss[j + 1, j] for j in range(n - 1)]))


def loss_rise_max(loss: np.ndarray) -> float:
    """The largest increase of any earlier domain's held-out masked-LM loss between two consecutive
    stages after its own post-training: forgetting that an average over domains and stages can hide."""
    n = loss.shape[1]
    rises = [loss[i + 1, j] - loss[i, j] for j in range(n - 1) for i in range(j + 1, n)]
    return float(max(rises)) if rises else float("nan")


def post_training_speed(metrics: dict[str, Any]) -> float | None:
    """Post-training tokens/s over the whole stream (the training loop alone, scoring excluded)."""
    stages = [s for s in metrics.get("training", []) if s["updates"]]
    seconds = sum(s["seconds"] for s in stages)
    return sum(s["tokens"] for s in stages) / seconds if seconds else None


def repeat_keys(metrics: dict[str, Any], name: str) -> list[str]:
    """The per-seed matrices of an end-task score fine-tuned several times (``end_task.repeats``)."""
    return sorted(k for k in metrics["matrices"] if k.startswith(f"{name}_seed"))


def tables(
    seed: int, methods: list[str], args: argparse.Namespace
) -> tuple[str, dict[str, dict[str, float]]]:
    from lifelong.evaluation.metrics import final_average, forgetting

    runs = {m: r for m in methods if (r := load_run(args.out / f"seed{seed}" / m))}
    if not runs:
        return "(no finished runs)\n", {}
    summary: dict[str, dict[str, float]] = {}
    for m, r in runs.items():
        loss = matrix(r, "mlm_loss")
        unscored = np.full_like(loss, np.nan)  # --no-end-tasks: the masked-LM loss only
        acc, f1 = (matrix(r, n) if n in r["matrices"] else unscored for n in ("accuracy", "macro_f1"))
        summary[m] = {
            "acc": final_average(acc),
            "mf1": final_average(f1),
            "forgetting": forgetting(acc),
            "loss_final": float(np.mean(loss[-1])),
            "loss_forgetting": loss_forgetting(loss),
            "loss_rise_max": loss_rise_max(loss),
            "acc_repeats": [final_average(matrix(r, k)) for k in repeat_keys(r, "accuracy")],
            "tokens_per_s": post_training_speed(r),
        }
    base = summary.get("none", {}).get("acc")
    head = [
        "Method",
        "ACC",
        "MF1",
        "Forgetting (acc)",
        "ACC - none",
        "end-task seeds",
        "MLM loss (final avg)",
        "MLM loss forgetting",
        "largest MLM loss rise",
        "post-training tokens/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, s in summary.items():
        gain = pct(s["acc"] - base) if base is not None else "n/a"
        reps, base_reps = s["acc_repeats"], summary.get("none", {}).get("acc_repeats", [])
        if reps and len(reps) == len(base_reps):  # paired by end-task seed: the fine-tuning noise cancels
            paired = np.subtract(reps, base_reps)
            gain += f" (per end-task seed: {', '.join(pct(float(d)) for d in paired)})"
        spread = f"{len(reps)}: ACC std {pct(sample_std(reps))}" if reps else "1"
        lines.append(
            f"| {m} | {pct(s['acc'])} | {pct(s['mf1'])} | {pct(s['forgetting'])} | {gain} | {spread} | "
            f"{s['loss_final']:.3f} | {s['loss_forgetting']:+.4f} | {s['loss_rise_max']:+.4f} | "
            f"{f'{speed:,.0f}' if (speed := s['tokens_per_s']) else '-'} |"
        )
    text = "\n".join(lines) + "\n"
    for m, r in runs.items():
        tasks = r.get("tasks", [])
        for name in [n for n in ("accuracy", "macro_f1", "mlm_loss") if n in r["matrices"]]:
            M = matrix(r, name)
            if name == "accuracy" and repeat_keys(r, name):
                name = f"accuracy (mean of end-task seeds {', '.join(repeat_keys(r, name))})"
            text += (
                f"\n{m} {name} (row i: after domain i; row 0: before any)\n\n| stage | "
                + " | ".join(tasks)
                + " |\n"
            )
            text += "|" + "---|" * (len(tasks) + 1) + "\n"
            for i, row in enumerate(M):
                text += f"| {i} | " + " | ".join("" if math.isnan(v) else f"{v:.3f}" for v in row) + " |\n"
    return text, summary


def seed_table(summaries: dict[int, dict[str, dict[str, float]]]) -> str:
    """Mean ± std (over the seeds whose run finished) of each method's end-task scores and its gain over
    ``none`` in the same seed; the number of seeds is shown."""
    methods = list(dict.fromkeys(m for s in summaries.values() for m in s))
    head = [
        "Method",
        "seeds",
        "ACC",
        "MF1",
        "Forgetting (acc)",
        "ACC - none",
        "MLM loss forgetting",
        "largest MLM loss rise",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(values: list[float], scale: float = 100, digits: int = 1) -> str:
        return mean_std(values, scale, digits)

    for m in methods:
        runs = [s[m] for s in summaries.values() if m in s]
        gains = [s[m]["acc"] - s["none"]["acc"] for s in summaries.values() if m in s and "none" in s]
        lines.append(
            f"| {m} | {len(runs)} | {cell([r['acc'] for r in runs])} | {cell([r['mf1'] for r in runs])} | "
            f"{cell([r['forgetting'] for r in runs])} | {cell(gains)} | "
            f"{cell([r['loss_forgetting'] for r in runs], 1, 4)} | "
            f"{cell([r['loss_rise_max'] for r in runs], 1, 4)} |"
        )
    return "\n".join(lines) + "\n"


def rescore_table(rescored: dict[str, dict[str, Any]]) -> str:
    """Each method's final model on every end task under the re-scoring protocol: mean accuracy and
    macro-F1 over the domains (± std over the end-task seeds when repeated), the gain over ``none``."""
    tasks = list(next(iter(rescored.values()))["scores"])
    head = ["Method", "ACC", "MF1", "ACC - none", *tasks]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def over_seeds(scores: dict[str, dict[str, float]], name: str) -> list[float]:
        seeds = sorted({k for s in scores.values() for k in s if k.startswith(f"{name}_seed")})
        return [float(np.mean([scores[t][k] for t in tasks])) for k in seeds] or [
            float(np.mean([scores[t][name] for t in tasks]))
        ]

    base = over_seeds(rescored["none"]["scores"], "accuracy") if "none" in rescored else None
    for m, r in rescored.items():
        acc, f1 = over_seeds(r["scores"], "accuracy"), over_seeds(r["scores"], "macro_f1")
        gain = "n/a"
        if base is not None:
            gain = pct(float(np.mean(acc) - np.mean(base)))
            if len(acc) == len(base) > 1:  # paired by end-task seed
                gain += f" ({', '.join(pct(float(d)) for d in np.subtract(acc, base))})"
        cells = [pct(r["scores"][t]["accuracy"]) for t in tasks]
        lines.append(
            f"| {m} | {pct(float(np.mean(acc)))} ± {pct(sample_std(acc))} | "
            f"{pct(float(np.mean(f1)))} ± {pct(sample_std(f1))} | {gain} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def verdicts(summary: dict[str, dict[str, float]]) -> str:
    out = []
    if "none" in summary:
        for m in ("cpt", "ncl", "demix", "adapter_one"):
            if m in summary:
                d = summary[m]["acc"] - summary["none"]["acc"]
                out.append(
                    f"- {m} vs none (end-task ACC): {'+' if d >= 0 else ''}{100 * d:.1f} points -> "
                    f"post-training {'helps' if d > 0 else 'does not help'} here"
                )
    for m in ("cpt", "ncl"):
        if m in summary:
            f, lf = summary[m]["forgetting"], summary[m]["loss_forgetting"]
            rise = summary[m]["loss_rise_max"]
            said = (
                "one domain: nothing to forget"
                if math.isnan(rise)
                else "nothing forgotten"
                if rise <= 1e-6
                else "an earlier domain's loss rises: FORGETS"
            )
            out.append(
                f"- {m}: end-task forgetting {pct(f)}, MLM-loss forgetting {lf:+.4f} on average, "
                f"largest rise {rise:+.4f} ({said} in the masked-LM loss)"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_arguments(p, "runs/cpt-tables")
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--order", default="dsc-4")
    p.add_argument("--tasks", type=int, default=None, help="only the first N domains of the order")
    p.add_argument("--max-train", type=int, default=None, help="corpus lines per domain")
    p.add_argument("--epochs", type=int, default=None, help="post-training epochs per domain")
    p.add_argument("--full-data", action="store_true", help="end tasks on the full training split")
    p.add_argument(
        "--score-before",
        action="store_true",
        help="also score every domain before any post-training and before its own (row 0, FWT): more end tasks",
    )
    p.add_argument(
        "--no-end-tasks",
        action="store_true",
        help="score the domains by masked-LM loss only (forgetting of the post-training itself; fast)",
    )
    p.add_argument("--shots", type=int, default=None, help="end-task training examples (default: 32)")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="fine-tune every end task this many times (seeds seed, seed+1, ...) on one post-trained model",
    )
    p.add_argument(
        "--model",
        default="minilm-l6-mlm",
        help="the common starting point (default: minilm-l6 with the head from `lifelong warm-head`)",
    )
    p.add_argument(
        "--parallel", action="store_true", help=f"CPT with the paper's parallel adapters: {PARALLEL}"
    )
    p.add_argument(
        "--rescore-shots",
        type=int,
        default=None,
        help="also score each finished run's final model with this many end-task training examples "
        "(`lifelong evaluate --set`, no post-training again; after the runs)",
    )
    p.add_argument("--rescore-epochs", type=int, default=3, help="end-task epochs of the re-scoring")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    grid = grid_from_flags(args, smoke=args.smoke)
    for seed in args.seeds:
        for method in args.methods:
            grid.run(f"seed{seed}/{method}", run_config(method, seed, args))
    rescored: dict[int, dict[str, dict[str, Any]]] = {}
    if args.rescore_shots:
        settings = [f"end_task.shots={args.rescore_shots}", f"end_task.epochs={args.rescore_epochs}"]
        tag = f"shots{args.rescore_shots}-epochs{args.rescore_epochs}"
        for seed in args.seeds:
            for method in args.methods:
                scores = grid.rescore(f"seed{seed}/{method}", settings, tag, run=not args.tables_only)
                if scores is not None:
                    rescored.setdefault(seed, {})[method] = scores
    text = f"# CPT on DSC domains ({args.model})\n"
    summaries = {}
    for seed in args.seeds:
        body, summaries[seed] = tables(seed, args.methods, args)
        text += f"\n## seed {seed}\n\n{verdicts(summaries[seed])}\n{body}"
    if len(args.seeds) > 1:
        text = text.replace(
            "\n", f"\n\n## mean ± std over seeds {args.seeds}\n\n{seed_table(summaries)}\n", 1
        )
    for seed, scores in rescored.items():
        text += f"\n## seed {seed}: final models re-scored, {' '.join(settings)}\n\n{rescore_table(scores)}"
    write_tables_file(args.out, text, grid)
    print(text)
    grid.exit_if_failed()


if __name__ == "__main__":
    main()
