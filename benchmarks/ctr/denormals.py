"""What flushing float32 denormals to zero (``training.flush_denormal``) does to HAT and CTR on a CPU.

HAT's soft masks sigmoid(s·e), with s annealed up to 400, give numbers below float32's smallest normal
(1.2e-38) for the units whose s·e lies between about -103 and -87; every masked layer's matmul then meets
them, and x86 CPUs handle them in microcode, many times slower than normal numbers. This script trains
one epoch of the first ASC task (length-grouped batches of 32, lr 1e-3) with the flag off and on,
alternated in one process so a shared machine's load falls on both, and prints tokens/s and the mean
loss of each (the loss should not change: numbers that small add nothing to a sum of normal ones):

    OMP_NUM_THREADS=1 python benchmarks/ctr/denormals.py --data-dir ../shared/data --methods hat ctr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from padding import timed_epoch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--methods", nargs="+", default=["hat", "ctr"])
    ap.add_argument("--max-train", type=int, default=400, help="training rows of the task (one epoch)")
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for method in args.methods:
        for flush in (False, True, False, True):
            tps, loss = timed_epoch(True, args, method, args.max_train, flush)
            print(f"{method}, flush_denormal={flush}: {tps:,.0f} tokens/s, mean loss {loss!r}", flush=True)


if __name__ == "__main__":
    main()
