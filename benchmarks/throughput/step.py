"""One model's training step under each speed-up switched on or off: the ablations and profiles behind
the "what made the difference" table of docs/results.md §2 (a bare transformers model, random tokens).

    python benchmarks/throughput/step.py --model minilm-l6 --batch 32 --seq-len 128            # stock
    python benchmarks/throughput/step.py --model minilm-l6 --fused --fast                       # library
    python benchmarks/throughput/step.py --model minilm-l6 --fused --no-dropout --attn eager    # ceiling
    python benchmarks/throughput/step.py --model smollm2-135m --batch 8 --fused --profile
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModel, AutoModelForCausalLM

from lifelong.models.fast import speed_up
from lifelong.models.presets import instantiate, load_model_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--fused", action="store_true", help="fused AdamW (else foreach)")
    ap.add_argument("--fast", action="store_true", help="lifelong.models.fast.speed_up")
    ap.add_argument("--no-dropout", action="store_true", help="every dropout rate 0")
    ap.add_argument("--attn", default=None, help="attention implementation, e.g. eager or sdpa")
    ap.add_argument("--bf16-weights", action="store_true", help="bf16 parameters, no autocast")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--profile", action="store_true", help="print the ops that take the time")
    args = ap.parse_args()

    causal = args.model.startswith("smollm") or "gpt" in args.model
    model = instantiate(load_model_spec(args.model), AutoModelForCausalLM if causal else AutoModel)
    n = sum(p.numel() for name, p in model.named_parameters() if "embed" not in name)
    if args.no_dropout:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    if args.attn:
        model.set_attn_implementation(args.attn)
    if args.fast:
        speed_up(model)
    if args.bf16_weights:
        model = model.to(torch.bfloat16)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-5, **({"fused": True} if args.fused else {"foreach": True})
    )
    run = torch.compile(model) if args.compile else model
    ids = torch.randint(100, 1000, (args.batch, args.seq_len))
    mask = torch.ones_like(ids)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.bf16_weights):
            if causal:
                loss = run(input_ids=ids, attention_mask=mask, labels=ids).loss
            else:
                loss = run(input_ids=ids, attention_mask=mask).last_hidden_state.float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    tokens_per_s = args.batch * args.seq_len * args.steps / (time.perf_counter() - start)
    print(
        f"{args.model} B{args.batch}xT{args.seq_len}: {tokens_per_s:.0f} tokens/s, {6 * n * tokens_per_s / 1e12:.3f} TFLOP/s"
    )
    if args.profile:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
