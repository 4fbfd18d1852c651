"""Per-step training time and memory of ctr and hat against plain adapters and full fine-tuning, and how
they grow with the number of tasks already learned.

    python benchmarks/ctr/efficiency.py --out runs/ctr-efficiency.json
    python benchmarks/ctr/efficiency.py --tasks 1 5 10 19 --methods finetune adapter_ncl adapter_one hat ctr

For every number of tasks T (one process each), every method gets its own learner that has grown T tasks
(earlier tasks consolidated, as after training them) and takes training steps on the T-th task exactly as
the trainer does them (every hook, bf16 autocast, clipping, AdamW). The methods' steps are *interleaved*
round-robin and the median is reported, so the load of a shared machine falls on all methods alike.

Reported per method and T: median seconds per step; the operators one step dispatches (forward, backward,
hooks, optimizer: each is at least one kernel launch, so on a GPU, where these small models leave the
device idle, the count is what the host spends a step on); the training memory that the method itself
determines, i.e. weights + gradients + AdamW state of the trainable parameters + the tensors autograd keeps
for backward (measured with saved-tensor hooks); trainable and total parameters.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _method(name: str, n_tasks: int, args: argparse.Namespace, training: Any) -> tuple[Any, Any, dict]:
    """A method whose learner has grown ``n_tasks`` tasks, its optimizer and one training batch."""
    import torch

    from lifelong.config import ModelConfig, RunConfig
    from lifelong.data.task import Example, Task
    from lifelong.optim import build_optimizer, groups_by_lr
    from lifelong.session import open_session

    torch.manual_seed(0)
    text = "the battery life of this laptop is great but the screen is too dim for outdoor use " * 20
    examples = [Example(text=text, label=("positive", "negative")[i % 2]) for i in range(args.batch_size)]
    tasks = [
        Task(name=f"t{i}", kind="classification", splits={"train": examples}, labels=("positive", "negative"))
        for i in range(n_tasks)
    ]
    config = RunConfig(
        model=ModelConfig(name=args.model, max_length=args.seq_len), method=name, training=training
    )
    method = open_session(config, tasks, "task").method
    learner = method.learner
    for task in tasks[:-1]:  # earlier tasks: their structure, and their masks as after training them
        method.grow(task)
        method.after_task(task, [])
    method.grow(tasks[-1])
    rows = method.before_task(tasks[-1], learner.encode(tasks[-1], examples))[: args.batch_size]
    params = list(method.trainable_parameters())
    # the trainer's optimizer (fused AdamW, the method's own learning-rate groups)
    optimizer, _ = build_optimizer(
        groups_by_lr(params, method.learning_rates(), method.undecayed()), training, 100
    )
    learner.train()
    return method, optimizer, learner.collate(rows)


def _step(method: Any, optimizer: Any, batch: dict, info: Any) -> None:
    """One optimizer step with the trainer's hook order."""
    import torch

    learner = method.learner
    method.before_forward(info)
    with learner.autocast():
        out = learner(batch)
    loss = method.loss(batch, out, info)
    loss.backward()
    method.after_backward(info)
    torch.nn.utils.clip_grad_norm_(
        method.clipped([p for g in optimizer.param_groups for p in g["params"]]), 1.0
    )
    method.before_step(info)
    optimizer.step()
    method.after_step(info)
    optimizer.zero_grad(set_to_none=True)


def _count_ops(method: Any, optimizer: Any, batch: dict, info: Any) -> int:
    """Operators dispatched by one step (below autograd, so the backward's count too)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            Count.n += 1
            return func(*args, **(kwargs or {}))

    with Count():
        _step(method, optimizer, batch, info)
    return Count.n


def _saved_bytes(method: Any, batch: dict) -> int:
    """Bytes of the distinct tensors autograd keeps for backward in one training forward."""
    import torch

    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), method.learner.autocast():
        out = method.learner(batch)
    del out
    return sum(seen.values())


def measure(n_tasks: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from lifelong.config import TrainingConfig
    from lifelong.methods.base import StepInfo

    training = TrainingConfig(bf16=not args.fp32)
    built = {name: _method(name, n_tasks, args, training) for name in args.methods}
    times: dict[str, list[float]] = {name: [] for name in built}
    names = list(built)
    for r in range(args.rounds + 1):  # round 0 warms up
        for k in range(len(names)):
            name = names[(k + r) % len(names)]  # rotate the order every round
            method, optimizer, batch = built[name]
            info = StepInfo(n_tasks - 1, 0, r % 10, 10, r)
            start = time.perf_counter()
            _step(method, optimizer, batch, info)
            if r:
                times[name].append(time.perf_counter() - start)
    results = []
    for name, (method, optimizer, batch) in built.items():
        trainable = [p for g in optimizer.param_groups for p in g["params"]]
        n_trainable = sum(p.numel() for p in trainable)
        weights = sum(p.numel() * p.element_size() for p in method.learner.parameters())
        saved = _saved_bytes(method, batch)
        ops = _count_ops(method, optimizer, batch, StepInfo(n_tasks - 1, 0, 1, 10, args.rounds + 1))
        results.append(
            {
                "method": name,
                "tasks": n_tasks,
                "s_per_step": statistics.median(times[name]),
                "s_per_step_all": [round(t, 3) for t in times[name]],
                "ops_per_step": ops,
                "memory_mb": (weights + 3 * 4 * n_trainable + saved) / 2**20,  # + grads + 2 AdamW moments
                "weights_mb": weights / 2**20,
                "activation_mb": saved / 2**20,
                "trainable_params": n_trainable,
                "total_params": sum(p.numel() for p in method.learner.parameters()),
            }
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--methods", nargs="+", default=["finetune", "adapter_ncl", "adapter_one", "hat", "ctr"])
    ap.add_argument("--tasks", nargs="+", type=int, default=[1, 10, 19])
    ap.add_argument("--rounds", type=int, default=6, help="timed steps per method (after one warm-up)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/ctr-efficiency.json"))
    ap.add_argument("--one", type=int, metavar="TASKS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    passthrough = ["--model", args.model, "--rounds", str(args.rounds), "--batch-size", str(args.batch_size)]
    passthrough += ["--seq-len", str(args.seq_len), "--methods", *args.methods] + ["--fp32"] * args.fp32
    results: list[dict[str, Any]] = []
    for n in args.tasks:  # one process at a time: the machine is shared
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n), *passthrough], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            print(f"T={n}: FAILED\n{done.stderr[-2000:]}", flush=True)
            continue
        for row in json.loads(done.stdout.strip().splitlines()[-1]):
            results.append(row)
            print(
                f"{row['method']:12s} T={n:2d}  {row['s_per_step']:.3f} s/step  {row['ops_per_step']} ops  memory {row['memory_mb']:.0f} MB  "
                f"(activations {row['activation_mb']:.0f} MB)  trainable {row['trainable_params'] / 1e6:.2f}M",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    base = {r["tasks"]: r["s_per_step"] for r in results if r["method"] == "finetune"}
    lines = [
        f"Batch {args.batch_size} x {args.seq_len} tokens, {args.model}, {'fp32' if args.fp32 else 'bf16 autocast'}, "
        f"{args.threads} threads; median of {args.rounds} interleaved steps.",
        "",
        "| method | tasks | s/step | vs finetune | ops/step | memory MB | activations MB | trainable params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r["s_per_step"] / base[r["tasks"]] if r["tasks"] in base else float("nan")
        lines.append(
            f"| {r['method']} | {r['tasks']} | {r['s_per_step']:.3f} | {ratio:.2f} | {r['ops_per_step']} | "
            f"{r['memory_mb']:.0f} | "
            f"{r['activation_mb']:.0f} | {r['trainable_params'] / 1e6:.2f}M |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
