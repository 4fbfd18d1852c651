"""Post-training throughput: CPT (HAT-masked CL-plugins, frozen backbone) against plain masked-LM training
of the whole model (``ncl``) and a shared adapter (``adapter_ncl``), same model, data, batch size and trainer.

    python benchmarks/cpt/efficiency.py --data-dir /work/shared/data --rows 256

Prints and writes JSON: tokens/s (non-padding tokens) and seconds per method, and CPT's ratio to ``ncl``.
Each method runs twice on the same domain; the second, warm run is reported.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def measure(method: str, args: argparse.Namespace) -> dict[str, float]:
    from lifelong.config import load_config
    from lifelong.data.stream import load_stream
    from lifelong.session import open_session
    from lifelong.training.trainer import train_task

    cfg = load_config(
        None,
        [
            f"model.name={args.model}",
            "model.max_length=128",
            f"method={method}",
            "stream.benchmark=cpt-dsc",
            "stream.tasks=[tools_and_home_improvement]",
            f"stream.max_train={args.rows}",
            "stream.max_dev=16",
            "training.epochs=1",
            f"training.batch_size={args.batch_size}",
            "training.lr=1e-4",
            "end_task.enabled=false",
        ],
    )
    stream = load_stream(cfg.stream, args.data_dir)
    task = stream.tasks[0]
    sess = open_session(cfg, stream.tasks, stream.scenario, None)
    sess.method.grow(task)
    rows = sess.method.before_task(task, sess.method.learner.encode(task, task.split("train")))
    result: dict[str, float] = {}
    for _ in range(2):  # warm-up, then measured
        start = time.perf_counter()
        stats = train_task(sess.method, task, 0, rows, sess.ctx)
        seconds = time.perf_counter() - start
        result = {
            "seconds": round(seconds, 2),
            "tokens": stats["tokens"],
            "tokens_per_s": stats["tokens"] / seconds,
        }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--methods", nargs="+", default=["ncl", "cpt", "adapter_ncl"])
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/cpt-efficiency.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    results = {m: measure(m, args) for m in args.methods}
    if "ncl" in results and "cpt" in results:
        results["cpt_vs_ncl_tokens_per_s"] = results["cpt"]["tokens_per_s"] / results["ncl"]["tokens_per_s"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
