"""Active forgetting benchmark (Chen et al., NeurIPS 2023) on the shared data, CPU-sized.

Pretrains a small RoBERTa on the English corpus twice -- standard, and with the token embeddings
reset every K updates -- then for each: task adaptation on SIB-200 English, language adaptation
(new tokenizer + embeddings, body frozen, fixed low-data budget) for every language, assembly and
zero-shot SIB-200 test accuracy. Writes ``report.md`` (tables), ``curves.png`` (MLM loss and
accuracy vs adaptation steps) and ``summary.json`` into ``--out``.

    python benchmarks/active_forgetting/run.py --out /tmp/af-bench            # full (~2 h on 2 cores)
    python benchmarks/active_forgetting/run.py --out /tmp/af-smoke --smoke    # 1-2 minutes
    python benchmarks/active_forgetting/run.py --out /tmp/af-minilm --init minilm-l6-mlm --steps 2000

``--init`` is a variant of the paper, which pretrains from scratch: a pretrained English encoder with a
warmed masked-LM head (``lifelong warm-head``) is *continued* on the English corpus for ``--steps``
updates, with and without embedding resets, and then goes through the same stages. Every run starts
with the English control (English embeddings relearned on the frozen body, tested on English).

Data is read from ``--data`` (default ``$LIFELONG_DATA``), never copied.
Finished stages are skipped when the same command is run again, so an interrupted run resumes.
Each finished variant's ``results.json`` and pretraining log are also kept in git (``kept_results.py``),
so ``--report-only`` rebuilds the report after the output folder is gone.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import torch
from kept_results import find, keep

from lifelong.data.files import resolve_data_dir
from lifelong.io import atomic_path, read_json, write_json, write_text
from lifelong.pretraining.language import LanguageAdaptConfig
from lifelong.pretraining.mlm import PretrainConfig
from lifelong.pretraining.pipeline import LANGUAGES, PipelineConfig, run_pipeline
from lifelong.pretraining.report import ENGLISH_CONTROL, plot_curves, results_table
from lifelong.pretraining.task import TaskAdaptConfig


@dataclasses.dataclass
class BenchmarkSize:
    steps: int = 5000  # pretraining updates per variant (batch 32 x 128 tokens)
    reset_every: int = 500  # K
    budget_steps: int = 200  # language-adaptation updates per language (batch 32 x 128 tokens)
    lr: float = 5e-4  # pretraining peak learning rate
    # the forgetting variant's token-embedding peak lr (default: lr). Its embeddings start from scratch
    # every K updates; continuing a pretrained body at a small lr would leave every episode's relearning
    # at a fraction of what a from-scratch pretraining lr achieves.
    forgetting_embedding_lr: float | None = None
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    vocab_size: int = 8192
    task_epochs: int = 20
    eval_points: int = 5
    languages: tuple[str, ...] = LANGUAGES
    extra_tasks: tuple[str, ...] = ()  # e.g. ("xnli",): own task adaptation, scored with the final embeddings
    max_lines: int | None = None  # English corpus lines (None = all)
    init: str = ""  # continue this pretrained masked LM (preset or folder) instead of a fresh RoBERTa
    seq_len: int = 128  # pretraining and language-adaptation block length


SMOKE = BenchmarkSize(
    steps=24, reset_every=8, budget_steps=8, layers=2, hidden=64, heads=2, vocab_size=1000,
    task_epochs=1, eval_points=2, languages=("de", "sw"), max_lines=2000,
)  # fmt: skip


VARIANTS = {"standard": False, "forgetting": True}  # name -> resets the token embeddings every K steps


def configs(size: BenchmarkSize, data: Path, out: Path, reset_every: int | None) -> PipelineConfig:
    pre = PretrainConfig(
        vocab_size=size.vocab_size,
        layers=size.layers,
        hidden=size.hidden,
        heads=size.heads,
        steps=size.steps,
        warmup_ratio=0.05,
        lr=size.lr,
        reset_every=reset_every,
        embedding_lr=size.forgetting_embedding_lr if reset_every else None,
        max_lines=size.max_lines,
        tokenizer_lines=size.max_lines or 200_000,
        init=size.init,
        seq_len=size.seq_len,
        checkpoint_every=max(50, size.steps // 10),
        log_every=max(1, min(50, size.steps // 20)),
    )
    return PipelineConfig(
        out=str(out),
        data=str(data),
        languages=list(size.languages),
        extra_tasks=list(size.extra_tasks),
        name=out.name,
        eval_points=size.eval_points,
        pretrain=pre,
        task=TaskAdaptConfig(epochs=size.task_epochs),
        language=LanguageAdaptConfig(
            budget_steps=size.budget_steps,
            vocab_size=size.vocab_size,
            lr=2e-3,
            warmup_ratio=0.1,
            seq_len=size.seq_len,  # a pretrained encoder takes 512 tokens: keep the budget in tokens fixed
            log_every=max(1, min(10, size.budget_steps // 20)),
        ),
    )


def accuracy_by_step(curves: dict[str, dict]) -> dict[int, float]:
    """Mean zero-shot accuracy over languages at each evaluation step of the language adaptation."""
    by_step: dict[int, list[float]] = {}
    targets = [c for label, c in curves.items() if not label.endswith(f"/{ENGLISH_CONTROL}")]
    for c in targets:
        for step, acc in zip(c["eval_steps"], c["accuracy"], strict=True):
            by_step.setdefault(step, []).append(acc)
    return {s: sum(v) / len(v) for s, v in sorted(by_step.items())}


PRETRAIN_LOG = Path("pretrained") / "pretrain_log.json"


def pretraining_logs(out: Path, names: list[str]) -> dict[str, dict]:
    return {name: read_json(find(out, Path(name) / PRETRAIN_LOG)) for name in names}


def loss_by_step(log: dict) -> dict[int, float]:
    return {step: value for step, value in log["losses"]}


def relearning_table(log: dict, offsets: tuple[int, ...] = (50, 100, 250, 500)) -> str:
    """English MLM loss a fixed number of updates into each episode: does relearning get faster?"""
    loss = loss_by_step(log)
    k = log["config"]["reset_every"]
    offsets = tuple(o for o in offsets if o < k) + (k,)
    lines = ["| episode starts at update | " + " | ".join(f"+{o}" for o in offsets) + " |"]
    lines.append("|---" * (len(offsets) + 1) + "|")
    for start in [0, *log["resets"]]:
        cells = [f"{loss[start + o]:.2f}" if start + o in loss else "—" for o in offsets]
        lines.append(f"| {start} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_pretraining(logs: dict[str, dict], path: Path) -> None:
    """English masked-LM loss against pretraining updates, one line per variant."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, log in logs.items():
        steps, losses = zip(*log["losses"], strict=True)
        ax.plot(steps, losses, linewidth=1.0, label=name)
    ax.set(xlabel="pretraining updates", ylabel="English masked-LM loss (log_every mean)")
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def updates_to_reach(curve: dict, loss: float) -> int | None:
    """The first logged adaptation update at which ``curve``'s masked-LM loss is at most ``loss``."""
    return next(
        (step for step, value in zip(curve["steps"], curve["mlm_loss"], strict=True) if value <= loss), None
    )


def paper_measures(results: dict[str, dict], langs: list[str]) -> list[str]:
    """The paper's two claims per language: the relative accuracy gain of forgetting over standard (and
    its mean over languages, as the paper averages it) and the updates forgetting needs to reach the
    standard model's final masked-LM loss."""
    std, fgt = results["standard"], results["forgetting"]
    lines = [
        "\n## Forgetting against standard, per language\n",
        "| language | acc standard | acc forgetting | relative gain | updates to standard's final loss |",
        "|---|---|---|---|---|",
    ]
    gains = []
    for lang in langs:
        a, b = std["scores"][lang]["accuracy"], fgt["scores"][lang]["accuracy"]
        gain = (b - a) / a if a > 0 else float("nan")
        gains.append(gain)
        final = std["curves"][f"{std['name']}/{lang}"]["mlm_loss"][-1]
        reach = updates_to_reach(fgt["curves"][f"{fgt['name']}/{lang}"], final)
        steps = std["scores"][lang]["steps"]
        lines.append(
            f"| {lang} | {100 * a:.1f} | {100 * b:.1f} | {100 * gain:+.1f} % | "
            f"{'not reached' if reach is None else f'{reach} of {steps}'} |"
        )
    mean = sum(gains) / len(gains) if gains else float("nan")
    lines.append(f"\nMean relative accuracy gain (mean of the per-language gains): {100 * mean:+.1f} %")
    return lines


def report(
    results: dict[str, dict], size: BenchmarkSize, timings: dict[str, float], logs: dict[str, dict]
) -> str:
    scores = {name: r["scores"] for name, r in results.items()}
    # the English task model reading each target language with its own vocabulary (results made before
    # the pipeline measured it have none)
    columns = scores | {
        f"{n}, no relearning": r["no_relearning"] for n, r in results.items() if "no_relearning" in r
    }
    body = (
        f"continued pretraining of {size.init}"
        if size.init
        else f"RoBERTa {size.layers} layers, hidden {size.hidden}, vocab {size.vocab_size}"
    )
    lines = [
        "# Active forgetting: zero-shot SIB-200 transfer\n",
        f"Pretraining: {body}, {size.steps} steps x 32 x {size.seq_len} tokens, peak lr {size.lr:g}; "
        "forgetting resets the token embeddings every "
        f"K={size.reset_every} steps"
        + (f" (embedding peak lr {size.forgetting_embedding_lr:g})" if size.forgetting_embedding_lr else "")
        + f". Language adaptation: {size.budget_steps} steps per language "
        "(new BPE tokenizer + embeddings, body frozen). Task adaptation: SIB-200 English train, "
        "embeddings frozen. `en` = the task model with its own English embeddings; "
        f"`{ENGLISH_CONTROL}` = the control, English embeddings relearned like a new language (neither "
        "is in the mean); `<variant>, no relearning` = the English task model reading the target language "
        "through its own English vocabulary.\n",
        "## Accuracy (%)\n",
        results_table(columns, "accuracy"),
        "## Macro-F1 (%)\n",
        results_table(columns, "macro_f1"),
        "## Mean target accuracy (%) vs language-adaptation steps\n",
    ]
    curves = {name: accuracy_by_step(r["curves"]) for name, r in results.items()}
    steps = sorted({s for c in curves.values() for s in c})
    lines.append("| variant | " + " | ".join(str(s) for s in steps) + " |")
    lines.append("|---" * (len(steps) + 1) + "|")
    for name, c in curves.items():
        lines.append(
            f"| {name} | " + " | ".join(f"{100 * c[s]:.1f}" if s in c else "—" for s in steps) + " |"
        )
    for task in size.extra_tasks:
        lines.append(f"\n## {task} accuracy (%), final target embeddings\n")
        lines.append(results_table({name: r["extra_tasks"][task] for name, r in results.items()}))
    lines.append("\n## Final language-adaptation MLM loss\n")
    langs = [lang for lang in size.languages if all(lang in s for s in scores.values())]
    lines.append("| variant | " + " | ".join(langs) + " |")
    lines.append("|---" * (len(langs) + 1) + "|")
    for name, s in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{s[lang]['mlm_loss']:.2f}" for lang in langs) + " |")
    if {"standard", "forgetting"} <= set(results):
        lines += paper_measures(results, langs)
    lines.append("\n## English pretraining loss (`pretraining.png`)\n")
    points = sorted({size.steps // 4, size.steps // 2, size.steps})
    lines.append("| variant | " + " | ".join(f"{s}" for s in points) + " |")
    lines.append("|---" * (len(points) + 1) + "|")
    for name, log in logs.items():
        loss = loss_by_step(log)
        cells = [f"{loss[s]:.2f}" if s in loss else "—" for s in points]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, log in logs.items():
        if log["resets"]:
            lines.append(f"\n{name}: loss after the given number of updates into each episode\n")
            lines.append(relearning_table(log))
    lines.append("\n## Cost (each variant's last invocation; finished stages are skipped on a re-run)\n")
    for name, r in results.items():
        stages = ", ".join(f"{stage} {sec / 60:.1f}" for stage, sec in r["seconds"].items())
        lines.append(
            f"- {name}: {timings[name] / 60:.1f} min ({stages}); pretraining throughput "
            f"{r['pretrain_tokens_per_second']:.0f} tokens/s"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, two languages: proves the pipeline runs")
    p.add_argument("--steps", type=int, help="pretraining steps per variant")
    p.add_argument("--reset-every", type=int, help="K")
    p.add_argument("--budget-steps", type=int, help="language-adaptation steps per language")
    p.add_argument(
        "--budget-tokens",
        type=float,
        help="language-adaptation budget in tokens instead (the paper: 5e6), as steps of 32 x seq_len",
    )
    p.add_argument("--lr", type=float, help="pretraining peak learning rate (default 5e-4)")
    p.add_argument(
        "--forgetting-embedding-lr",
        type=float,
        help="peak lr of the forgetting variant's token embeddings, relearned from scratch every K "
        "updates (default: --lr)",
    )
    p.add_argument("--layers", type=int, help="a fresh body's layers (default 4)")
    p.add_argument("--hidden", type=int, help="a fresh body's width (default 256)")
    p.add_argument("--heads", type=int, help="a fresh body's attention heads (default 4)")
    p.add_argument("--init", help="continue this pretrained masked LM instead (e.g. minilm-l6-mlm)")
    p.add_argument("--languages", help="comma-separated subset")
    p.add_argument("--extra-tasks", help="comma-separated, e.g. xnli (scored with the final embeddings)")
    p.add_argument("--threads", type=int, help="torch threads (1 when other jobs share the cores)")
    p.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="run only these (e.g. one per core in parallel, into the same --out); finished stages "
        "are skipped, so a last run with both only assembles the report",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="write report.md and the plots from the variants' finished results.json, running nothing "
        "(e.g. when a variant folder is a link to another run's, whose recorded paths differ)",
    )
    args = p.parse_args()

    data = resolve_data_dir(args.data, flag="--data")
    size = SMOKE if args.smoke else BenchmarkSize()
    overrides = {
        "steps": args.steps,
        "reset_every": args.reset_every,
        "budget_steps": args.budget_steps,
        "lr": args.lr,
        "forgetting_embedding_lr": args.forgetting_embedding_lr,
        "layers": args.layers,
        "hidden": args.hidden,
        "heads": args.heads,
        "init": args.init,
    }
    size = dataclasses.replace(size, **{k: v for k, v in overrides.items() if v is not None})
    if args.budget_tokens:
        size = dataclasses.replace(size, budget_steps=math.ceil(args.budget_tokens / (32 * size.seq_len)))
    if args.languages:
        size = dataclasses.replace(size, languages=tuple(x.strip() for x in args.languages.split(",")))
    if args.extra_tasks:
        size = dataclasses.replace(size, extra_tasks=tuple(x.strip() for x in args.extra_tasks.split(",")))
    if args.threads:
        torch.set_num_threads(args.threads)

    results, timings = {}, {}
    for name in args.variants:
        k = size.reset_every if VARIANTS[name] else None
        t0 = time.perf_counter()
        if args.report_only:
            finished = find(args.out, Path(name) / "results.json")
            if finished is None:
                p.error(
                    f"{args.out / name / 'results.json'} not found, nor in the records: run the variant first"
                )
            results[name] = read_json(finished)
            timings[name] = sum(results[name]["seconds"].values())
        else:
            results[name] = run_pipeline(configs(size, data, args.out / name, k))
            timings[name] = time.perf_counter() - t0
            for kept in (Path(name) / "results.json", Path(name) / PRETRAIN_LOG):
                if not args.smoke:  # a smoke run proves the code runs; it is not a result
                    keep(args.out / kept, args.out)
        log = read_json(find(args.out, Path(name) / PRETRAIN_LOG))
        results[name]["pretrain_tokens_per_second"] = log["tokens_per_second"]

    curves = {label: c for r in results.values() for label, c in r["curves"].items()}
    plot_curves(curves, args.out / "curves.png")
    logs = pretraining_logs(args.out, list(results))
    plot_pretraining(logs, args.out / "pretraining.png")
    text = report(results, size, timings, logs)
    write_text(args.out / "report.md", text)
    write_json(
        args.out / "summary.json",
        {"size": dataclasses.asdict(size), "timings_s": timings, "results": results},
    )
    print(text)
    print(f"wrote {args.out / 'report.md'} and {args.out / 'curves.png'}")


if __name__ == "__main__":
    main()
