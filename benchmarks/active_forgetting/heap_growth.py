"""Resident memory of masked-LM training steps: exact masked-row counts against rows padded to 64.

The masked-LM head runs only on the masked rows, whose count changes every step; glibc keeps the freed
blocks of every size it has seen, so the process grows. This script (the measurement behind
``lifelong.models.masked_lm.labelled_rows``) trains minilm-l6-mlm on random tokens for ``steps`` steps and
prints the resident memory every 25 steps, then again after ``malloc_trim``:

    OMP_NUM_THREADS=1 python benchmarks/active_forgetting/heap_growth.py var 150 16   # exact row counts
    OMP_NUM_THREADS=1 python benchmarks/active_forgetting/heap_growth.py pad 150 16   # padded to 64
"""

import ctypes
import os
import sys

import torch
import torch.nn.functional as F
from transformers import AutoModelForMaskedLM

from lifelong.models.masked_lm import labelled_rows


def rss_gb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def main() -> None:
    mode, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    model = AutoModelForMaskedLM.from_pretrained(os.path.expanduser("~/.cache/lifelong/minilm-l6-mlm"))
    head, body = model.cls, model.base_model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        ids = torch.randint(1000, 30000, (batch, 128), generator=gen)
        chosen = torch.rand(batch, 128, generator=gen) < 0.15
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = body(input_ids=ids)[0]
            if mode == "pad":  # the library's own padding
                rows, labels, _ = labelled_rows(hidden, ids.masked_fill(~chosen, -100))
            else:
                rows, labels = hidden[chosen], ids[chosen]
            logits = head(rows)
        F.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0:
            print(mode, step, f"{rss_gb():.2f} GB", flush=True)
    before = rss_gb()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(mode, "end", f"{before:.2f} GB", "after malloc_trim", f"{rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
