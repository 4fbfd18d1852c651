"""LAMOL generation speed: pseudo-samples batched with the KV cache vs one sample at a time, and greedy
answer decoding with left padding, batched vs one example at a time. Prints tokens/s and the speed-up.

    python benchmarks/lamol/generation_speed.py --model smollm2-135m --samples 32 --max-length 64

Tokens are the ones a sample really has (up to and including EOS), so padding after an early EOS in a
batch is not counted as work done. The two modes draw from the same seed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from lifelong.config import ModelConfig
from lifelong.data.builtin import builtin_stream
from lifelong.methods.pseudo_samples import GEN, SamplingConfig, generate, generated_length
from lifelong.models.build import build_learner


def sample_speed(learner, gen_id: int, n: int, sampling: SamplingConfig) -> dict[str, float]:
    start = time.perf_counter()
    samples = generate(learner, [gen_id] * n, sampling, seed=0)
    seconds = time.perf_counter() - start
    tokens = sum(generated_length(s, learner.eos_id) for s in samples)
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "s_per_sample": seconds / n,
    }


def answer_speed(learner, task, examples, batch_size: int) -> dict[str, float]:
    """Greedy answers decoded as ``learner.predict`` does (prompts sorted by length, left padding),
    ``batch_size`` prompts at a time."""
    prompts = sorted(learner.prompt_ids(task, examples), key=len)
    prompt_tokens = sum(len(p) for p in prompts)
    start = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        learner.generate_from(prompts[i : i + batch_size], learner.max_answer_length + 1, do_sample=False)
    seconds = time.perf_counter() - start
    return {
        "prompt_tokens": prompt_tokens,
        "seconds": seconds,
        "examples_per_s": len(examples) / seconds,
        "s_per_example": seconds / len(examples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-gpt2")
    ap.add_argument("--samples", type=int, default=32, help="pseudo-samples per mode")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64, help="tokens generated after GEN")
    ap.add_argument("--answers", type=int, default=32, help="examples for greedy answer decoding (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    stream = builtin_stream(seed=0, n_train=8, n_eval=max(args.answers, 1))
    task = stream.tasks[0]
    config = ModelConfig(name=args.model, max_length=max(args.max_length + 1, 128), max_answer_length=8)
    learner = build_learner(config, "task", stream.tasks, bf16=not args.no_bf16)
    learner.grow(task)
    (gen_id,) = learner.add_special_tokens([GEN])

    result: dict[str, object] = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "bf16": learner.bf16,
    }
    one = SamplingConfig(max_length=args.max_length, batch_size=1)
    batched = SamplingConfig(max_length=args.max_length, batch_size=args.batch_size)
    generate(learner, [gen_id] * 2, SamplingConfig(max_length=4, batch_size=2), seed=1)  # warm-up
    result["generation"] = {
        "one_at_a_time": sample_speed(learner, gen_id, args.samples, one),
        f"batched_{args.batch_size}": sample_speed(learner, gen_id, args.samples, batched),
    }
    if args.answers:
        examples = task.split("test")[: args.answers]
        result["answers"] = {
            "one_at_a_time": answer_speed(learner, task, examples, 1),
            f"batched_{args.batch_size}": answer_speed(learner, task, examples, args.batch_size),
        }
    for kind, modes in result.items():
        if isinstance(modes, dict) and "one_at_a_time" in modes:
            (b_name,) = [m for m in modes if m != "one_at_a_time"]
            key = "tokens_per_s" if kind == "generation" else "examples_per_s"
            modes["speedup"] = modes[b_name][key] / modes["one_at_a_time"][key]
    print(json.dumps(result, indent=1))
    gen = result["generation"]
    print(
        f"\n| {args.model} | one at a time | batched ({args.batch_size}) | speed-up |\n|---|---|---|---|\n"
        f"| pseudo-samples, tokens/s | {gen['one_at_a_time']['tokens_per_s']:.1f} | "
        f"{gen[f'batched_{args.batch_size}']['tokens_per_s']:.1f} | {gen['speedup']:.1f}x |"
    )
    if args.answers:
        ans = result["answers"]
        print(
            f"| greedy answers, examples/s | {ans['one_at_a_time']['examples_per_s']:.2f} | "
            f"{ans[f'batched_{args.batch_size}']['examples_per_s']:.2f} | {ans['speedup']:.1f}x |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
