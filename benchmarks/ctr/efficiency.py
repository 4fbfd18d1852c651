"""Per-step training time and memory of ctr and hat against plain adapters and full fine-tuning, and how
they grow with the number of tasks already learned.

    python benchmarks/ctr/efficiency.py --out runs/ctr-efficiency.json
    python benchmarks/ctr/efficiency.py --tasks 1 5 10 19 --methods finetune adapter_ncl adapter_one hat ctr

Each (method, number of tasks) point runs in its own process (so its peak RSS is its own): the learner
grows T tasks (earlier tasks consolidated, as after training them), then the real trainer (``train_task``,
with every hook of the method) runs ``--steps`` batches of fixed-length inputs on the T-th task after a
warm-up. Reported: wall and CPU seconds per optimizer step (CPU time, summed over threads, is the
steadier measure on a shared machine), peak RSS, the bytes autograd keeps for backward in one step
(activation memory), trainable and total parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def measure(method_name: str, n_tasks: int, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from accelerate.utils import set_seed

    from lifelong.config import ModelConfig, TrainingConfig
    from lifelong.data.task import Example, Task
    from lifelong.methods import METHODS
    from lifelong.methods.base import build_method_config
    from lifelong.models.build import build_learner
    from lifelong.training.context import RunContext, make_accelerator
    from lifelong.training.trainer import train_task

    set_seed(0)
    text = "the battery life of this laptop is great but the screen is too dim for outdoor use " * 20
    examples = [
        Example(text=text, label=("positive", "negative")[i % 2]) for i in range(args.batch_size * args.steps)
    ]
    tasks = [
        Task(name=f"t{i}", kind="classification", splits={"train": examples}, labels=("positive", "negative"))
        for i in range(n_tasks)
    ]
    learner = build_learner(ModelConfig(name=args.model, max_length=args.seq_len), "task", tasks)
    training = TrainingConfig(
        epochs=1, batch_size=args.batch_size, lr=1e-4, bf16=not args.fp32, log_every=10**9
    )
    learner.bf16 = training.bf16
    ctx = RunContext(make_accelerator(training, None), training, seed=0)
    cls = METHODS.get(method_name)
    method = cls(learner, build_method_config(cls, {}), ctx)
    for task in tasks[:-1]:  # earlier tasks: structure, and masks as after training them
        method.grow(task)
        method.after_task(task, [])
    last = tasks[-1]
    method.grow(last)
    rows = method.before_task(last, learner.encode(last, examples))[: len(examples)]
    warm = rows[: 2 * args.batch_size]
    train_task(method, last, n_tasks - 1, warm, ctx)  # warm-up (allocations, kernels)

    saved_bytes = activation_bytes(method, learner, rows[: args.batch_size])
    start, cpu_start = time.perf_counter(), time.process_time()
    stats = train_task(method, last, n_tasks - 1, rows, ctx)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    trainable = sum(p.numel() for p in method.trainable_parameters())
    return {
        "method": method_name,
        "tasks": n_tasks,
        "s_per_step": seconds / max(stats["updates"], 1),
        "cpu_s_per_step": cpu_seconds / max(stats["updates"], 1),  # all threads; steadier on a busy machine
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "activation_mb": saved_bytes / 2**20,
        "trainable_params": trainable,
        "total_params": sum(p.numel() for p in learner.parameters()),
        "threads": torch.get_num_threads(),
    }


def activation_bytes(method, learner, rows) -> int:
    """Bytes of the distinct tensors autograd saves for backward in one training forward."""
    import torch

    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    batch = learner.collate(rows)
    list(method.trainable_parameters())
    learner.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), learner.autocast():
        out = learner(batch)
    del out
    return sum(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--methods", nargs="+", default=["finetune", "adapter_ncl", "adapter_one", "hat", "ctr"])
    ap.add_argument("--tasks", nargs="+", type=int, default=[1, 5, 10, 19])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/ctr-efficiency.json"))
    ap.add_argument("--one", nargs=2, metavar=("METHOD", "TASKS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args)))
        return
    results = []
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    passthrough = ["--model", args.model, "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    passthrough += ["--seq-len", str(args.seq_len)] + ["--fp32"] * args.fp32
    for method in args.methods:  # one process at a time: the machine is shared
        for n in args.tasks:
            cmd = [sys.executable, __file__, "--one", method, str(n), *passthrough]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{method} T={n}: FAILED\n{done.stderr[-2000:]}", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(row)
            print(
                f"{method:12s} T={n:2d}  {row['s_per_step']:.3f} s/step  "
                f"{row.get('cpu_s_per_step', float('nan')):.3f} CPU s/step  peak RSS {row['peak_rss_mb']:.0f} MB  "
                f"activations {row['activation_mb']:.0f} MB  trainable {row['trainable_params'] / 1e6:.2f}M",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    lines = [
        "| method | tasks | s/step | peak RSS MB | activations MB | trainable params |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['tasks']} | {r['s_per_step']:.3f} | {r.get('cpu_s_per_step', float('nan')):.3f} | "
        f"{r['peak_rss_mb']:.0f} | "
        f"{r['activation_mb']:.0f} | {r['trainable_params'] / 1e6:.2f}M |"
        for r in results
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
