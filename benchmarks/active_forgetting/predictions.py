"""What do the assembled zero-shot models predict? Per body and language: how many of the 7 classes the model
uses on the test set, and the share of its most frequent prediction.

Accuracy near the majority class can mean a model that reads the text or one that answers one class for
everything; macro-F1 hints at it, this table says it directly.

    python benchmarks/active_forgetting/predictions.py --data ../shared/data \\
        standard=benchmarks/out/af/minilm/standard forgetting=benchmarks/out/af/minilm-elr/forgetting
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import torch

from lifelong.data.files import resolve_data_dir
from lifelong.pretraining.assembly import assemble
from lifelong.pretraining.classify import predict_labels, read_labelled
from lifelong.pretraining.pipeline import CONTROL_FOLDER as CONTROL
from lifelong.pretraining.targets import LANGUAGES


def describe(body: Path, language: str, test: Path) -> str:
    """``classes used, top share (%), accuracy (%)`` of one assembled model on one test file."""
    model, tokenizer = assemble(body / "task", body / "languages" / language)
    examples = read_labelled(test)
    predicted = predict_labels(model, tokenizer, examples)
    top_label, top_count = Counter(predicted).most_common(1)[0]
    correct = sum(p == ex.label for p, ex in zip(predicted, examples, strict=True))
    return (
        f"{len(set(predicted))}, {100 * top_count / len(predicted):.0f} % {top_label}, "
        f"{100 * correct / len(examples):.1f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument("--languages", default=",".join([CONTROL, *LANGUAGES]), help="comma-separated")
    p.add_argument("--threads", type=int)
    p.add_argument("variants", nargs="+", help="label=folder of a run.py variant")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sib = resolve_data_dir(args.data, flag="--data") / "multilingual" / "sib200"
    languages = [x.strip() for x in args.languages.split(",")]
    bodies = {label: Path(folder) for label, _, folder in (v.partition("=") for v in args.variants)}
    print("| language | " + " | ".join(bodies) + " |")
    print("|---" * (len(bodies) + 1) + "|")
    for language in languages:
        test = sib / ("en" if language == CONTROL else language) / "test.jsonl"
        cells = [describe(body, language, test) for body in bodies.values()]
        print(f"| {language} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
