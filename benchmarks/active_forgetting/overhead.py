"""Pretraining-loop overhead: ``lifelong.pretraining.pretrain`` against a plain PyTorch loop.

Same RoBERTa, same tokenizer and packed blocks, same batch size, AdamW, warm-up/decay schedule,
clipping and bf16 autocast. Three loops, alternated so load drift hits all of them:

- ``plain``: what a user would write with transformers: ``model(input_ids, labels=labels).loss``
  (vocabulary logits at every position);
- ``plain-sparse``: the same loop with the library's sparse masked-LM loss (logits only at the
  ~15 % masked positions), to separate that saving from the loop's own cost;
- ``lifelong``: ``pretrain()`` itself (Accelerate, forgetting schedule with resets every K updates,
  loss logging, progress bar; checkpoints off, as in the plain loops).

    OMP_NUM_THREADS=1 python benchmarks/active_forgetting/overhead.py --out /tmp/af-overhead
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import time
from pathlib import Path

import torch

from lifelong.data.files import resolve_data_dir
from lifelong.io import write_json, write_text
from lifelong.optim import WarmupDecay
from lifelong.precision import bf16_autocast
from lifelong.pretraining.corpus import make_collator, mask_batch
from lifelong.pretraining.mlm import PretrainConfig, build_model, pretrain
from lifelong.pretraining.models import SparseMaskedLM


def plain_loop(cfg: PretrainConfig, prepared: Path, sparse: bool) -> float:
    """Tokens per second of a hand-written masked-LM loop on the prepared tokenizer and blocks."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(prepared / "tokenizer")
    blocks = load_file(str(next(prepared.glob("blocks-*.safetensors"))))["blocks"]
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, tokenizer)
    sparse_loss = SparseMaskedLM(model)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay,
    )
    warmup = WarmupDecay(int(cfg.warmup_ratio * cfg.steps), cfg.steps, cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup)
    collator = make_collator(tokenizer, cfg.mlm_probability)
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        rows = blocks[torch.randint(len(blocks), (cfg.batch_size,), generator=g)]
        batch = mask_batch(collator, rows)
        with bf16_autocast("cpu", cfg.bf16):
            if sparse:
                loss = sparse_loss(batch["input_ids"], batch["labels"])
            else:
                loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return cfg.steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - t0)


def library_loop(cfg: PretrainConfig, prepared: Path, out: Path) -> float:
    """Tokens per second of ``pretrain()`` (its own clock covers the update loop only)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copytree(prepared / "tokenizer", out / "tokenizer")
    for cache in prepared.glob("blocks-*.safetensors"):
        shutil.copy(cache, out / cache.name)
    return pretrain(dataclasses.replace(cfg, out=str(out))).tokens_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--corpus", default=None, help="default: $LIFELONG_DATA/corpora/english.txt")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--reset-every", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    corpus = args.corpus or str(resolve_data_dir(None) / "corpora" / "english.txt")
    cfg = PretrainConfig(
        corpus=corpus,
        out="",
        vocab_size=8192,
        layers=4,
        hidden=256,
        heads=4,
        steps=args.steps,
        warmup_ratio=0.1,
        lr=1e-3,
        max_lines=20_000,
        tokenizer_lines=20_000,
        reset_every=args.reset_every,
        checkpoint_every=0,
        log_every=10,
    )
    prepared = args.out / "prepared"
    if not (prepared / "tokenizer").is_dir():  # tokenizer + packed blocks, shared by every loop
        pretrain(dataclasses.replace(cfg, out=str(prepared), steps=1, reset_every=None))
    loops = {
        "plain": lambda: plain_loop(cfg, prepared, sparse=False),
        "plain-sparse": lambda: plain_loop(cfg, prepared, sparse=True),
        "lifelong": lambda: library_loop(cfg, prepared, args.out / "library"),
    }
    measured: dict[str, list[float]] = {name: [] for name in loops}
    for repeat in range(args.repeats):
        for name, loop in loops.items():
            measured[name].append(loop())
            print(f"repeat {repeat}: {name} {measured[name][-1]:.0f} tokens/s", flush=True)
    medians = {name: statistics.median(v) for name, v in measured.items()}
    lines = [
        f"steps {args.steps} x {cfg.batch_size} x {cfg.seq_len} tokens, RoBERTa {cfg.layers} layers hidden "
        f"{cfg.hidden}, vocab {cfg.vocab_size}, {args.threads} thread(s), {args.repeats} alternating repeats",
        "",
        "| loop | tokens/s per repeat | median | median / plain |",
        "|---|---|---|---|",
    ]
    for name, values in measured.items():
        per = ", ".join(f"{v:.0f}" for v in values)
        lines.append(f"| {name} | {per} | {medians[name]:.0f} | {medians[name] / medians['plain']:.2f} |")
    report = "\n".join(lines) + "\n"
    write_text(args.out / "overhead.md", report)
    write_json(args.out / "overhead.json", measured)
    print(report)


if __name__ == "__main__":
    main()
