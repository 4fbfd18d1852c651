"""Language adaptation at long budgets: how many relearning updates until a frozen body reads new embeddings?

The pipeline's English control (English embeddings relearned like a new language, assembled with the task
model) stays at the majority class after 300 updates. This script runs the same stage for one pretrained
body of a finished ``run.py`` output folder, for a long budget, scoring the assembled model on SIB-200
**dev** along the way (the curve), and on test once at the end. It answers whether the paper's low-data
budget (5M tokens = 1,221 updates of 32 x 128) suffices here, and compares how fast the standard and the
forgetting body relearn (the paper's convergence claim). ``--language en`` (the default) is the English
control on the first 8,000 corpus lines; any other language relearns from its whole target corpus.

    python benchmarks/active_forgetting/control.py --run benchmarks/out/af/minilm --variant standard \
        --steps 2500 --lr 5e-3 --threads 1        # and --variant forgetting on the other core
    python benchmarks/active_forgetting/control.py --run benchmarks/out/af/minilm --variant standard \
        --language de --steps 1221 --lr 5e-3 --threads 1      # the paper's 5M-token budget, German

Writes ``<run>/<variant>/<name>-<steps>/`` (the adapted model and its ``adaptation.json``) and
``<run>/<name>-<variant>-<steps>.json``, where ``<name>`` is ``control`` for English and the language code
otherwise; a finished run is not repeated. The result file is also kept in git
(``kept_results.py``): a run recorded with the same config is not repeated either, even when the output
folder is gone.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from kept_results import find, keep

from lifelong.data.files import resolve_data_dir
from lifelong.io import read_json, write_json
from lifelong.pretraining.assembly import assemble_and_evaluate
from lifelong.pretraining.language import LanguageAdaptConfig, adapt_language
from lifelong.pretraining.models import read_meta


def long_run_name(language: str) -> str:
    """What this script calls a language's long run (``<name>-<steps>`` folders, ``<name>-<variant>-<steps>.json``)."""
    return "control" if language == "en" else language


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a run.py output folder")
    p.add_argument("--variant", required=True, help="standard or forgetting (a subfolder of --run)")
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--language", default="en", help="en (the English control) or a target language code")
    p.add_argument(
        "--lines", type=int, help="corpus lines (default: 8,000 for English, as the pipeline's control)"
    )
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = resolve_data_dir(args.data, flag="--data")
    body = args.run / args.variant
    english = args.language == "en"
    corpus = (
        data / "corpora" / "english.txt"
        if english
        else data / "multilingual" / "corpora" / f"{args.language}.txt"
    )
    sib = data / "multilingual" / "sib200" / args.language
    name = long_run_name(args.language)
    cfg = LanguageAdaptConfig(
        lr=args.lr,
        warmup_ratio=0.05,
        model=str(body / "pretrained"),
        corpus=str(corpus),
        out=str(body / f"{name}-{args.steps}"),
        budget_steps=args.steps,
        max_lines=args.lines or (8000 if english else None),
        seq_len=128,
        log_every=25,
        eval_body=str(body / "task"),
        eval_test=str(sib / "dev.jsonl"),
        eval_every=args.eval_every,
    )
    result_name = f"{name}-{args.variant}-{args.steps}.json"
    result_file = args.run / result_name
    finished = find(args.run, result_name)
    if finished and read_json(finished)["config"] == dataclasses.asdict(cfg):
        print(f"{finished} exists")
        return
    for path in (corpus, sib / "dev.jsonl", sib / "test.jsonl", body / "pretrained", body / "task"):
        if not path.exists():
            p.error(f"{path} not found (check --language, --run and --variant)")
    if read_meta(cfg.out).get("config") != dataclasses.asdict(cfg):
        adapt_language(cfg)
    meta = read_meta(cfg.out)
    test = assemble_and_evaluate(body / "task", cfg.out, sib / "test.jsonl")
    write_json(result_file, {"config": meta["config"], "curve": meta["curve"], "test": test})
    print(f"kept in {keep(result_file, args.run)}")
    curve = meta["curve"]
    print(f"dev accuracy by step: {dict(zip(curve['eval_steps'], curve['accuracy'], strict=True))}")
    print(f"test: {test}; wrote {result_file}")


if __name__ == "__main__":
    main()
