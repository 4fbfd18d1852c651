"""LAMOL training speed: the library's trainer (QA and LM rows of a batch in one forward pass, bf16
autocast) against plain PyTorch loops on the same rows: one pass per batch, and the QA and LM formats
in two passes per step (as LAMOL's original code does). Tokens/s of real (non-pad) tokens.

    python benchmarks/lamol/training_speed.py --model smollm2-135m --examples 32 --batch-size 8
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
from torch.utils.data import DataLoader

from lifelong.config import ModelConfig, RunConfig, TrainingConfig
from lifelong.data.builtin import builtin_stream
from lifelong.methods.lamol import Lamol
from lifelong.precision import bf16_autocast
from lifelong.session import open_session
from lifelong.training.trainer import train_task


def plain_loop(learner, rows, cfg: TrainingConfig, lm_weight: float, two_pass: bool) -> float:
    """AdamW, bf16 autocast (where native, as the library decides), clipping: what one writes by hand.
    ``two_pass``: QA and LM separately."""
    loader = DataLoader(
        rows,
        batch_size=cfg.batch_size,
        shuffle=True,
        collate_fn=lambda b: b,
        generator=torch.Generator().manual_seed(0),
    )
    params = [p for p in learner.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    learner.train()
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        for chunk in loader:
            if two_pass:
                qa = [{k: v for k, v in r.items() if k != "paired"} for r in chunk]
                lm = [p for r in chunk for p in r.get("paired", ())]
                batches = [learner.collate(qa), learner.collate(lm)] if lm else [learner.collate(qa)]
            else:
                batches = [learner.collate(chunk)]
            for batch in batches:  # L_QA + λ·L_LM either way (an absent group's loss is 0)
                with bf16_autocast("cpu", cfg.bf16):
                    losses = learner(batch).group_losses
                (losses[0] + lm_weight * losses[1]).backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def library_loop(method: Lamol, task, rows, cfg: TrainingConfig) -> float:
    start = time.perf_counter()
    train_task(method, task, 0, rows, method.ctx)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-gpt2")
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainingConfig(
        epochs=1, batch_size=args.batch_size, lr=1e-4, log_every=10**9, bf16=not args.no_bf16
    )
    stream = builtin_stream(seed=0, n_train=args.examples, n_eval=4)
    task = stream.tasks[0]
    model = ModelConfig(name=args.model, max_length=args.max_length)
    method = open_session(RunConfig(model=model, method="lamol", training=cfg), stream.tasks, "task").method
    method.grow(task)
    learner, lm_weight = method.learner, method.config.lm_weight
    rows = method.before_task(task, learner.encode(task, task.split("train")))
    tokens = sum(len(r["input_ids"]) + sum(len(p["input_ids"]) for p in r.get("paired", ())) for r in rows)
    initial = copy.deepcopy(learner.state_dict())
    runs: dict[str, list[float]] = {
        "library (one pass)": [],
        "plain (one pass)": [],
        "plain (QA, LM two passes)": [],
    }
    plain_loop(learner, rows[: args.batch_size], cfg, lm_weight, two_pass=False)  # warm-up, untimed
    for _ in range(args.repeats):  # alternate, so drift in machine load hits all alike
        learner.load_state_dict(initial)
        runs["library (one pass)"].append(tokens / library_loop(method, task, rows, cfg))
        learner.load_state_dict(initial)
        runs["plain (one pass)"].append(tokens / plain_loop(learner, rows, cfg, lm_weight, two_pass=False))
        learner.load_state_dict(initial)
        runs["plain (QA, LM two passes)"].append(
            tokens / plain_loop(learner, rows, cfg, lm_weight, two_pass=True)
        )
    best = {k: max(v) for k, v in runs.items()}
    result = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "bf16": cfg.bf16,
        "examples": len(rows),
        "tokens_per_epoch": tokens,
        "tokens_per_s": best,
        "s_per_example": {k: tokens / len(rows) / v for k, v in best.items()},
    }
    print(json.dumps(result, indent=1))
    print(f"\n| {args.model}, batch {args.batch_size} | tokens/s | s per example (QA+LM) |\n|---|---|---|")
    for k, v in best.items():
        print(f"| {k} | {v:.1f} | {tokens / len(rows) / v:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
