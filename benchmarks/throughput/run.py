"""Training and generation throughput against this machine's measured matmul peak, in the precision
the library computes in (bf16 where the hardware has it, else float32: ``lifelong.precision``).

For each case the same batches go through three loops, interleaved so that load drift hits them alike:

- ``library``: ``lifelong.training.trainer.train_task`` (Accelerate, the method's hooks, progress bar);
- ``plain``: a hand-written PyTorch loop doing the same work (same learner, method hooks and loss, the
  library's optimizer) -- ``overhead_ratio`` = plain / library tokens/s, median of the repeats;
- ``stock``: what a user would write with transformers alone: the model as loaded (its own dropout
  and attention kernels), ``torch.optim.AdamW`` (foreach), the LM loss over every position --
  ``speedup_vs_stock`` = library / stock.

``mfu`` = 6 * N * tokens/s over that peak, measured at the start of the same run, with N the model's
parameters without the input embedding matrix (the usual 6N forward+backward estimate).
Generation: batched top-k sampling against one sample at a time, same number of new tokens.

    OMP_NUM_THREADS=2 python benchmarks/throughput/run.py --quick --data ../shared/data --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from lifelong.config import ModelConfig, RunConfig, TrainingConfig
from lifelong.data.builtin import builtin_stream
from lifelong.data.files import resolve_data_dir
from lifelong.data.task import Example, Task
from lifelong.io import write_json
from lifelong.methods.base import Method, StepInfo
from lifelong.models.base import Row
from lifelong.optim import build_optimizer, clip_gradients, groups_by_lr
from lifelong.precision import native_bf16
from lifelong.pretraining.mlm import PretrainConfig, pretrain
from lifelong.session import open_session
from lifelong.training.batches import row_length
from lifelong.training.trainer import task_seed, train_task


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 20) -> float:
    """GFLOP/s of one square matmul in ``dtype``, the best of three timings."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def long_task(n: int, seq_len: int) -> Task:
    """A classification task whose examples are built-in sentences joined to about ``seq_len`` words."""
    base = builtin_stream(seed=0, n_train=max(n, 8) * 4, n_eval=4).tasks[0]
    sentences = [ex.text for ex in base.split("train")]
    words_per_sentence = max(1, len(sentences[0].split()))
    per_example = max(1, seq_len // words_per_sentence)
    examples = [
        Example(
            text=" ".join(sentences[(i * per_example + j) % len(sentences)] for j in range(per_example)),
            label=base.split("train")[i % len(sentences)].label,
        )
        for i in range(n)
    ]
    return Task(
        name="long",
        kind="classification",
        splits={"train": examples, "test": examples[:4]},
        labels=base.labels,
    )


def open_method(model: str, method: str, seq_len: int, batch: int, task: Task, fast: bool) -> Method:
    config = RunConfig(
        model=ModelConfig(name=model, max_length=seq_len, max_answer_length=8, fast_kernels=fast),
        method=method,
        training=TrainingConfig(epochs=1, batch_size=batch, log_every=10**9),
    )
    m = open_session(config, [task], "task").method
    m.grow(task)
    return m


def plain_loop(method: Method, rows: list[Row], batch: int, stock: bool = False) -> float:
    """Seconds for one pass of a hand-written loop over ``rows``."""
    learner, cfg = method.learner, method.ctx.training
    params = [p for p in method.trainable_parameters() if p.requires_grad]
    # the batches the trainer draws for task 0 (same generator seed): the same padding, the same work
    order = torch.Generator().manual_seed(task_seed(method.ctx.seed, 0))
    loader = DataLoader(rows, batch_size=batch, shuffle=True, generator=order, collate_fn=learner.collate)
    if stock:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    else:
        optimizer, scheduler = build_optimizer(
            groups_by_lr(params, method.learning_rates()), cfg, len(loader)
        )
    learner.train()
    start = time.perf_counter()
    for b, data in enumerate(loader):
        info = StepInfo(0, 0, b, len(loader), b)
        method.before_forward(info)
        with learner.autocast():
            if stock and learner.kind == "text2text":  # transformers' own loss: logits at every position
                loss = learner.lm(
                    input_ids=data["input_ids"], attention_mask=data["attention_mask"], labels=data["labels"]
                ).loss
            else:
                loss = method.loss(data, learner(data), info)
        loss.backward()
        method.after_backward(info)
        clip_gradients(params, cfg)
        method.before_step(info)
        optimizer.step()
        method.after_step(info)
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def library_loop(method: Method, rows: list[Row]) -> float:
    start = time.perf_counter()
    train_task(method, method.tasks[-1], 0, rows, method.ctx)
    return time.perf_counter() - start


def non_embedding_params(method: Method) -> int:
    embeddings = {id(m.weight) for m in method.learner.modules() if isinstance(m, torch.nn.Embedding)}
    return sum(p.numel() for p in method.learner.parameters() if id(p) not in embeddings)


def training_case(
    name: str,
    model: str,
    method_name: str,
    args: argparse.Namespace,
    seq_len: int,
    batch: int,
    n_batches: int,
    peak: float,
) -> dict[str, Any]:
    task = long_task(batch * n_batches, seq_len)
    fast = open_method(model, method_name, seq_len, batch, task, fast=True)
    stock = open_method(model, method_name, seq_len, batch, task, fast=False)
    rows = fast.before_task(task, fast.learner.encode(task, task.split("train")))
    stock_rows = stock.before_task(task, stock.learner.encode(task, task.split("train")))
    tokens = sum(row_length(r) for r in rows)
    initial = {k: v.clone() for k, v in fast.learner.state_dict().items()}
    runs: dict[str, list[float]] = {"library": [], "plain": [], "stock": []}
    loops: dict[str, Callable[[], float]] = {
        "library": lambda: library_loop(fast, rows),
        "plain": lambda: plain_loop(fast, rows, batch),
        "stock": lambda: plain_loop(stock, stock_rows, batch, stock=True),
    }
    plain_loop(fast, rows[: 2 * batch], batch)  # warm-up, untimed
    names = list(loops)
    for r in range(args.repeats):
        for k in range(len(names)):
            loop = names[(k + r) % len(names)]  # rotate the order every repeat
            fast.learner.load_state_dict(initial)
            runs[loop].append(tokens / loops[loop]())
    median = {k: statistics.median(v) for k, v in runs.items()}
    n = non_embedding_params(fast)
    return {
        "case": name,
        "model": model,
        "method": method_name,
        "batch": batch,
        "seq_len": seq_len,
        "tokens_per_pass": tokens,
        "tokens_per_s": round(median["library"], 1),
        "plain_tokens_per_s": round(median["plain"], 1),
        "stock_tokens_per_s": round(median["stock"], 1),
        "mfu": round(6 * n * median["library"] / (peak * 1e9), 4),
        "overhead_ratio": round(median["plain"] / median["library"], 3),
        "speedup_vs_stock": round(median["library"] / median["stock"], 2),
        "params_non_embedding": n,
        "repeats": runs,
    }


def generation_case(model: str, samples: int, new_tokens: int) -> dict[str, Any]:
    task = long_task(8, 16)
    learner = open_method(model, "finetune", 128, 8, task, fast=True).learner
    prompt = learner.tokenizer("Review:", add_special_tokens=False)["input_ids"]
    sampling = {"do_sample": True, "top_k": 20, "min_new_tokens": new_tokens}
    torch.manual_seed(0)
    learner.generate_from([prompt], new_tokens, **sampling)  # warm-up
    start = time.perf_counter()
    learner.generate_from([prompt] * samples, new_tokens, **sampling)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(samples):
        learner.generate_from([prompt], new_tokens, **sampling)
    single = time.perf_counter() - start
    return {
        "case": f"{model} generation",
        "samples": samples,
        "new_tokens": new_tokens,
        "batched_tokens_per_s": round(samples * new_tokens / batched, 1),
        "single_tokens_per_s": round(samples * new_tokens / single, 1),
        "batched_vs_single": round(single / batched, 2),
    }


def pretraining_case(args: argparse.Namespace, peak: float) -> dict[str, Any]:
    """The active-forgetting pretraining loop (``pretrain``) against the hand-written masked-LM loop of
    ``benchmarks/active_forgetting/overhead.py`` (sparse loss, same model, blocks and schedule)."""
    spec = importlib.util.spec_from_file_location(
        "af_overhead", Path(__file__).parents[1] / "active_forgetting" / "overhead.py"
    )
    af = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(af)
    steps = 20 if args.quick else 60
    cfg = PretrainConfig(
        corpus=str(resolve_data_dir(args.data, flag="--data") / "corpora" / "english.txt"),
        out="",
        vocab_size=8192,
        layers=4,
        hidden=256,
        heads=4,
        steps=steps,
        warmup_ratio=0.1,
        lr=1e-3,
        max_lines=20_000,
        tokenizer_lines=20_000,
        reset_every=10,
        checkpoint_every=0,
        log_every=10,
    )
    work = Path(tempfile.mkdtemp(prefix="af-throughput-"))
    prepared = work / "prepared"
    pretrain(dataclasses.replace(cfg, out=str(prepared), steps=1, reset_every=None))
    runs: dict[str, list[float]] = {"library": [], "plain": []}
    for r in range(args.repeats):
        for name in ["library", "plain"] if r % 2 == 0 else ["plain", "library"]:
            if name == "library":
                runs[name].append(af.library_loop(cfg, prepared, work / "library"))
            else:
                runs[name].append(af.plain_loop(cfg, prepared, sparse=True))
    shutil.rmtree(work, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in runs.items()}
    n = 12 * cfg.layers * cfg.hidden**2 + cfg.hidden**2  # transformer blocks + the MLM head's transform
    return {
        "case": "af pretraining (RoBERTa 4x256)",
        "batch": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "steps": steps,
        "tokens_per_s": round(median["library"], 1),
        "plain_tokens_per_s": round(median["plain"], 1),
        "mfu": round(6 * n * median["library"] / (peak * 1e9), 4),
        "overhead_ratio": round(median["plain"] / median["library"], 3),
        "params_non_embedding": n,
        "repeats": runs,
    }


def save(result: dict[str, Any], path: str | None) -> None:
    """Written after every case, so a long run that stops still leaves what it measured."""
    if path:
        write_json(path, result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer batches and repeats (under 5 minutes)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--cases", default="minilm,smollm2,generation,af", help="comma-separated subset")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument(
        "--methods", default=None, help="only these methods of the training cases (comma-separated)"
    )
    ap.add_argument("--batch", type=int, default=None, help="batch size of every training case")
    ap.add_argument(
        "--data", default=None, help="data root for the pretraining case (default $LIFELONG_DATA)"
    )
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    args.repeats = args.repeats or (2 if args.quick else 3)
    cases = set(args.cases.split(","))
    # the peak of the precision the library computes in: bf16 where native, else float32 (lifelong.precision)
    dtype = torch.bfloat16 if native_bf16("cpu") else torch.float32
    peak = matmul_peak(dtype)
    result: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "peak_dtype": str(dtype).removeprefix("torch."),
        "peak_gflops": round(peak),
        "cases": [],
    }
    print(
        f"{result['peak_dtype']} matmul peak: {peak:.0f} GFLOP/s on {torch.get_num_threads()} threads",
        flush=True,
    )
    n_mini, n_smol = (4, 3) if args.quick else (12, 8)
    todo = []
    if "minilm" in cases:
        b = args.batch or 32
        todo += [(f"minilm-l6 {m}", "minilm-l6", m, b, n_mini * 32 // b) for m in ("finetune", "hat", "ctr")]
    if "smollm2" in cases:
        b = args.batch or 8
        todo += [(f"smollm2-135m {m}", "smollm2-135m", m, b, n_smol * 8 // b) for m in ("finetune", "lamol")]
    if args.methods:
        todo = [t for t in todo if t[2] in args.methods.split(",")]
    for name, model, method, batch, n_batches in todo:
        case = training_case(name, model, method, args, args.seq_len, batch, n_batches, peak)
        result["cases"].append(case)
        print(json.dumps({k: v for k, v in case.items() if k != "repeats"}), flush=True)
        save(result, args.json)
    if "generation" in cases:
        case = generation_case("smollm2-135m", 8 if args.quick else 16, 32)
        result["cases"].append(case)
        print(json.dumps(case), flush=True)
    if "af" in cases:
        case = pretraining_case(args, peak)
        result["cases"].append(case)
        print(json.dumps({k: v for k, v in case.items() if k != "repeats"}), flush=True)
    save(result, args.json)


if __name__ == "__main__":
    main()
