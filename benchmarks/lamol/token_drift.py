"""Does each task token still write its own task, and how far apart are the task tokens?

Per stage, the kept samples each task token asked for that are a valid QA pair of its task (the task's own
question and one of its labels as the answer); then, from the run's final checkpoint (scratch folders
only), the cosine between the added tokens' embeddings, against random pairs of vocabulary tokens.

    python benchmarks/lamol/token_drift.py benchmarks/out/lamol-start/tc-i-seed1/lamol-task
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
import yaml
from safetensors import safe_open

from lifelong.data.benchmarks import load_benchmark_def
from lifelong.models.text2text import ANS
from lifelong.training.checkpoint import read_progress

SPECIAL = re.compile(r"<\|[^|]*\|>")


def valid_pairs(run: Path) -> None:
    stream = yaml.safe_load((run / "config.yaml").read_text())["stream"]
    tasks = load_benchmark_def(stream["benchmark"])["tasks"]
    for path in sorted(run.glob("stages/*/pseudo_samples.jsonl")):
        valid: dict[str, int] = {}
        asked: dict[str, int] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            task = tasks[row["asked"]]
            asked[row["asked"]] = asked.get(row["asked"], 0) + 1
            prompt, _, answer = row["text"].partition(ANS)
            ok = task["question"].strip() in prompt and SPECIAL.sub("", answer).strip() in map(
                str, task["labels"]
            )
            valid[row["asked"]] = valid.get(row["asked"], 0) + ok
        print(path.parent.name, {t: f"{valid[t]}/{n}" for t, n in asked.items()})


def token_cosines(run: Path, added: int) -> None:
    with safe_open(str(run / "checkpoint" / "learner.safetensors"), "pt") as f:
        table = f.get_tensor("lm.lm_head.weight").float()
    old, new = table[:-added], torch.nn.functional.normalize(table[-added:], dim=1)
    print("cosine among the added tokens (last rows):")
    print((new @ new.T).numpy().round(3))
    g = torch.Generator().manual_seed(0)
    i, j = torch.randint(len(old), (2, 2000), generator=g)
    unit = torch.nn.functional.normalize(old, dim=1)
    print("random vocabulary pairs, mean cosine:", round(float((unit[i] * unit[j]).sum(1).mean()), 3))


def added_tokens(run: Path) -> int:
    """ANS and GEN, and with task tokens one per task the checkpoint has learned (a stopped run too)."""
    method_args = yaml.safe_load((run / "config.yaml").read_text()).get("method_args") or {}
    trained = len(read_progress(run)["tasks"])
    return 2 + (trained if method_args.get("task_tokens", True) else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a LAMOL run folder (or its record: samples only)")
    ap.add_argument("--added", type=int, help="added tokens (default: ANS, GEN and one per trained task)")
    args = ap.parse_args()
    valid_pairs(args.run)
    if (args.run / "checkpoint" / "learner.safetensors").is_file():
        token_cosines(args.run, args.added or added_tokens(args.run))


if __name__ == "__main__":
    main()
