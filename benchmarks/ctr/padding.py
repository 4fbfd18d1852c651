"""How much of an ASC/DSC training step is padding, and what length-grouped batches save.

A batch is padded to its longest row. ASC rows run from a few to 128 tokens, so random batches of 32
(the paper's) compute on far more padded than real tokens. This script counts both over the paper
protocol's epochs (the same shuffles as the trainer draws them are not needed: the ratio is a property
of the length distribution), then, unless ``--count-only``, trains one epoch of the first ASC task with
hat twice in one process, random batches and length-grouped ones (``training.group_by_length``), and
prints tokens per second for both:

    OMP_NUM_THREADS=1 python benchmarks/ctr/padding.py --data-dir ../shared/data
    OMP_NUM_THREADS=1 python benchmarks/ctr/padding.py --data-dir ../shared/data --count-only --benchmark dsc
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_tables import PAPER_BATCH, PAPER_PROTOCOL  # noqa: E402


def padded_tokens(lengths: np.ndarray, batch: int, epochs: int, rng: np.random.Generator) -> tuple[int, int]:
    """(real, padded) tokens of ``epochs`` passes in random batches of ``batch`` rows."""
    real = padded = 0
    for _ in range(epochs):
        order = rng.permutation(len(lengths))
        for i in range(0, len(order), batch):
            rows = lengths[order[i : i + batch]]
            real += int(rows.sum())
            padded += len(rows) * int(rows.max())
    return real, padded


def count(args: argparse.Namespace) -> None:
    """Real and padded tokens of the benchmark's rows as the trainer encodes them (``row_length``)."""
    from lifelong.config import ModelConfig, RunConfig
    from lifelong.data import StreamConfig, load_stream
    from lifelong.session import open_session
    from lifelong.training.batches import row_length

    protocol = PAPER_PROTOCOL[args.benchmark]
    order = {"asc": "asc-19", "dsc": "dsc-10"}[args.benchmark]
    stream = load_stream(StreamConfig(benchmark=args.benchmark, order=order), args.data_dir)
    config = RunConfig(model=ModelConfig(name=args.model, max_length=args.max_length), method="finetune")
    method = open_session(config, stream.tasks, "task").method
    rng = np.random.default_rng(0)
    real = padded = 0
    for task in stream.tasks:
        method.grow(task)  # the task's head: encoding labels needs it
        lengths = np.array([row_length(r) for r in method.learner.encode(task, task.split("train"))])
        epochs = protocol.get("epochs_by_task", {}).get(task.name, protocol["epochs"])
        r, p = padded_tokens(lengths, PAPER_BATCH, epochs, rng)
        real, padded = real + r, padded + p
    print(
        f"{args.benchmark}: {real:,} real tokens, {padded:,} padded in random batches of {PAPER_BATCH}: "
        f"{padded / real:.2f}x"
    )


def timed_epoch(
    group_by_length: bool,
    args: argparse.Namespace,
    method: str = "hat",
    max_train: int | None = None,
    flush_denormal: bool = True,
) -> tuple[float, float]:
    """(tokens per second, mean loss) of one epoch of the first ASC task, the paper's batch and lr."""
    from lifelong.config import ModelConfig, RunConfig, TrainingConfig
    from lifelong.data import StreamConfig, load_stream
    from lifelong.session import open_session
    from lifelong.training.trainer import train_task

    stream = StreamConfig(benchmark="asc", tasks=["semeval14_laptop"], max_train=max_train)
    task = load_stream(stream, args.data_dir).tasks[0]
    training = TrainingConfig(
        lr=1e-3,
        epochs=1,
        batch_size=PAPER_BATCH,
        group_by_length=group_by_length,
        flush_denormal=flush_denormal,
    )
    config = RunConfig(
        model=ModelConfig(name=args.model, max_length=args.max_length), method=method, training=training
    )
    session = open_session(config, [task], "task")
    m = session.method
    m.grow(task)
    rows = m.before_task(task, m.learner.encode(task, task.split("train")))
    stats = train_task(m, task, 0, rows, session.ctx)
    return stats["tokens"] / stats["seconds"], stats["loss"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--benchmark", choices=["asc", "dsc"], default="asc")
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--count-only", action="store_true", help="count tokens, train nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    count(args)
    if not args.count_only:
        for grouped in (False, True, False, True):  # alternated: a shared machine's load falls on both
            print(
                f"hat, first ASC task, one epoch, group_by_length={grouped}: {timed_epoch(grouped, args)[0]:,.0f} tokens/s"
            )


if __name__ == "__main__":
    main()
