"""Which task did each pseudo-sample imitate, against which task's GEN token asked for it?

Reads ``stages/*/pseudo_samples.jsonl`` of LAMOL run folders and names each kept sample's task by the
fixed question it carries (the benchmark's ``question`` of each task; tasks that share a question, such
as yelp and amazon, count as one; no known question: "other", e.g. a SQuAD-style sample, whose question
varies). With task tokens that steer the generator the table is diagonal; a token the model ignores gives
each row the same mixture. Stages with one old task are left out (nothing to confuse).

    python benchmarks/lamol/sample_tasks.py benchmarks/out/lamol-tc160/tc-i-seed*/lamol-task
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from lifelong.data.benchmarks import load_benchmark_def


def question_owner(questions: dict[str, str]) -> dict[str, str]:
    """Each question's name: the tasks that share it, joined by '/'."""
    by_question: dict[str, list[str]] = defaultdict(list)
    for task, question in questions.items():
        by_question[question].append(task)
    return {q: "/".join(tasks) for q, tasks in by_question.items()}


def imitated(text: str, owners: dict[str, str]) -> str:
    prompt = text.split("__ans__")[0]
    hits = {name for q, name in owners.items() if q in prompt}
    return "+".join(sorted(hits)) if hits else "other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="LAMOL run folders (with task tokens)")
    args = parser.parse_args()
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for run in args.runs:
        stream = yaml.safe_load((run / "config.yaml").read_text())["stream"]
        tasks = load_benchmark_def(stream["benchmark"])["tasks"]
        owners = question_owner({name: t["question"] for name, t in tasks.items() if t.get("question")})
        for path in sorted(run.glob("stages/*/pseudo_samples.jsonl")):
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            if len({line["asked"] for line in lines}) < 2:
                continue
            for line in lines:
                asked = next((o for o in owners.values() if line["asked"] in o.split("/")), line["asked"])
                table[asked][imitated(line["text"], owners)] += 1
    if not table:
        raise SystemExit("no stage with samples asked from two or more GEN tokens in these runs")
    columns = sorted({c for row in table.values() for c in row})
    print("| asked \\ imitated | n | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for asked, row in sorted(table.items()):
        n = sum(row.values())
        print(f"| {asked} | {n} | " + " | ".join(f"{100 * row[c] / n:.0f} %" for c in columns) + " |")


if __name__ == "__main__":
    main()
