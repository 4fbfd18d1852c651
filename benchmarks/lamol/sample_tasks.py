"""Which task did each pseudo-sample imitate, against which task's GEN token asked for it?

Reads ``stages/*/pseudo_samples.jsonl`` of LAMOL run folders and names each kept sample's task by the
fixed question it carries (the benchmark's ``question`` of each task; tasks that share a question, such
as yelp and amazon, count as one; no known question: "unattributed", e.g. a SQuAD-style sample, whose question
varies). With task tokens that steer the generator the table is diagonal; a token the model ignores gives
each row the same mixture. A shared GEN's samples form one row (``__gen__``): the mixture it writes.
Stages with one old task are left out (nothing to confuse).

    python benchmarks/lamol/sample_tasks.py benchmarks/out/lamol-tc160/tc-i-seed*/lamol-task
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import yaml

from lifelong.data.benchmarks import load_benchmark_def
from lifelong.methods.pseudo_samples import attribute


def question_groups(questions: dict[str, str]) -> list[SimpleNamespace]:
    """One pseudo-task per distinct question, named by the tasks that share it (joined by '/'), for
    ``attribute`` (which names a sample by the fixed question it contains)."""
    by_question: dict[str, list[str]] = defaultdict(list)
    for task, question in questions.items():
        by_question[question].append(task)
    return [SimpleNamespace(name="/".join(tasks), question=q) for q, tasks in by_question.items()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="LAMOL run folders")
    args = parser.parse_args()
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for run in args.runs:
        stream = yaml.safe_load((run / "config.yaml").read_text())["stream"]
        tasks = load_benchmark_def(stream["benchmark"])["tasks"]
        groups = question_groups({name: t["question"] for name, t in tasks.items() if t.get("question")})
        for path in sorted(run.glob("stages/*/pseudo_samples.jsonl")):
            if int(path.parent.name.split("-")[0]) < 3:  # stages/NN-task: NN - 1 old tasks
                continue
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            for line in lines:
                asked = next((g.name for g in groups if line["asked"] in g.name.split("/")), line["asked"])
                table[asked][attribute(line["text"], groups)] += 1
    if not table:
        raise SystemExit("no stage with two or more old tasks in these runs")
    columns = sorted({c for row in table.values() for c in row})
    print("| asked \\ imitated | n | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for asked, row in sorted(table.items()):
        n = sum(row.values())
        print(f"| {asked} | {n} | " + " | ".join(f"{100 * row[c] / n:.0f} %" for c in columns) + " |")


if __name__ == "__main__":
    main()
