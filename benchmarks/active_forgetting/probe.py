"""Do relearned embeddings fit the *frozen pretrained* body at all? A linear probe, without task adaptation.

The zero-shot recipe fine-tunes the body on the English task before the relearned embeddings are put in,
so a failed English control could mean two things: the body drifted away from what the embeddings were
learned against, or the relearned embeddings never drive the body the way its own embeddings do. This
probe separates them. Logistic regression on frozen features (mean-pooled and first-token last hidden
states) is trained on SIB-200 English train read with the body's own embeddings, and scored on English
dev read (a) with those embeddings and (b) with each relearned embedding folder and its tokenizer. The
probe's C is chosen on the own-embedding dev score.

    python benchmarks/active_forgetting/probe.py --body benchmarks/out/af/minilm/standard/pretrained \
        --relearned benchmarks/out/af/minilm/standard/languages/en-control benchmarks/out/af/minilm/standard/control-2500
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from lifelong.data.files import resolve_data_dir
from lifelong.pretraining.classify import read_labelled


@torch.no_grad()
def features(folder: Path, rows: list, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled and first-token last hidden states of a saved (masked-LM) model, read with its tokenizer."""
    model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    out = []
    for i in range(0, len(rows), batch_size):
        batch = tokenizer(
            [r.text for r in rows[i : i + batch_size]],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        out.append(torch.cat([(hidden * mask).sum(1) / mask.sum(1), hidden[:, 0]], -1))
    return torch.cat(out).float().numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--body", type=Path, required=True, help="the pretrained masked LM (own embeddings)")
    p.add_argument("--relearned", type=Path, nargs="*", default=[], help="language-adaptation folders")
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    args = p.parse_args()
    hf_logging.set_verbosity_error()  # a masked-LM folder loaded as a bare encoder rightly drops its head
    sib = resolve_data_dir(args.data, flag="--data") / "multilingual" / "sib200" / "en"
    train, dev = read_labelled(sib / "train.jsonl"), read_labelled(sib / "dev.jsonl")
    y_train, y_dev = [r.label for r in train], [r.label for r in dev]
    x_train, x_dev = features(args.body, train), features(args.body, dev)
    probes = [LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train) for c in (0.1, 1.0, 10.0)]
    probe = max(probes, key=lambda m: m.score(x_dev, y_dev))
    result = {"body": str(args.body), "C": probe.C, "own embeddings": probe.score(x_dev, y_dev)}
    for folder in args.relearned:
        result[str(folder)] = probe.score(features(folder, dev), y_dev)
    majority = max(y_dev.count(label) for label in set(y_dev)) / len(y_dev)
    result["majority class"] = majority
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
