"""Library trainer vs a plain PyTorch loop: same model, same batches, same optimizer; tokens/s and ratio.

python benchmarks/overhead/run.py --model minilm-l6 --examples 512 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from lifelong.config import ModelConfig, RunConfig, TrainingConfig
from lifelong.data.builtin import builtin_stream
from lifelong.precision import bf16_autocast
from lifelong.session import Session, open_session
from lifelong.training.trainer import train_task


def plain_loop(learner, rows, cfg: TrainingConfig) -> float:
    """What a user would write by hand: AdamW, bf16 autocast (where the CPU has native bf16, as the library
    decides: an emulated-bf16 baseline would flatter the library), clipping, linear schedule."""
    from transformers import get_linear_schedule_with_warmup

    set_seed(0)
    loader = DataLoader(rows, batch_size=cfg.batch_size, shuffle=True, collate_fn=learner.collate)
    params = [p for p in learner.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(
        opt, int(cfg.warmup_ratio * len(loader)), len(loader) * cfg.epochs
    )
    learner.train()
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        for batch in loader:
            with bf16_autocast("cpu", cfg.bf16):
                loss = learner(batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def library_loop(session: Session, task, rows) -> float:
    start = time.perf_counter()
    train_task(session.method, task, 0, rows, session.ctx)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--examples", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    cfg = TrainingConfig(epochs=1, batch_size=args.batch_size, lr=1e-4, log_every=10**9)
    stream = builtin_stream(seed=0, n_train=args.examples, n_eval=10)
    task = stream.tasks[0]
    config = RunConfig(model=ModelConfig(name=args.model, max_length=args.max_length), training=cfg)
    session = open_session(config, stream.tasks, "task")  # finetune: the trainer with no method hooks
    session.method.grow(task)
    learner = session.method.learner
    rows = learner.encode(task, task.splits["train"])
    tokens = sum(len(r["input_ids"]) for r in rows) * cfg.epochs
    initial = {k: v.clone() for k, v in learner.state_dict().items()}
    results = {"plain": [], "library": []}
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both alike
        learner.load_state_dict(initial)
        results["plain"].append(tokens / plain_loop(learner, rows, cfg))
        learner.load_state_dict(initial)
        results["library"].append(tokens / library_loop(session, task, rows))
    best = {k: max(v) for k, v in results.items()}
    print(
        json.dumps(
            {
                "model": args.model,
                "examples": args.examples,
                "batch_size": args.batch_size,
                "tokens_per_pass": tokens,
                "plain_tokens_per_s": [round(x) for x in results["plain"]],
                "library_tokens_per_s": [round(x) for x in results["library"]],
                "overhead_ratio_best": round(best["plain"] / best["library"], 4),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
