"""Why do longer language adaptations not help? Overfitting the corpus vs. drifting away from the task head.

At the paper's 5M-token budget the relearned embeddings reach a much lower training masked-LM loss than at
300 updates, yet the assembled models are not more accurate (German gets worse). Two explanations predict
different measurements, so this script measures both, per body, language and adaptation budget:

* **overfitting** of the small corpora (5M tokens are 20-91 passes): the masked-LM loss on *held-out* text
  (SIB-200 test + dev sentences of that language, 5 mask draws) rises while the training loss falls;
* **drift** (the embeddings fit the frozen pretrained body but not the way the task-adapted body reads
  English): SIB-200 is Flores-200, so every target sentence has its English translation. The assembled
  model (task body + relearned embeddings) reads the target sentence, the English task model reads its
  translation; ``agree`` is the share of sentences where both predict the same label, ``retrieval`` the
  share whose nearest English sentence (cosine of centred last-layer states, among all test sentences) is
  its own translation (chance: 1/204), for the first-token state the head reads and for the token mean.

The English control (``en``) reads the very English sentences with relearned English embeddings. As a
reference, the task model reads each target language with its own *English* vocabulary (no relearning:
shared subwords, names and numbers only).

    python benchmarks/active_forgetting/alignment.py --data ../shared/data --languages en,de,sw \\
        standard=benchmarks/out/af/minilm/standard "forgetting"=benchmarks/out/af/minilm-elr/forgetting

A budget is a folder of the body: ``languages/<l>`` (the pipeline's 300 updates; ``en-control`` for en) and
``<l>-<steps>`` from ``control.py`` (``control-<steps>`` for en). Missing folders are skipped. Prints a
markdown table; ``--json`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from control import long_run_name

from lifelong.data.files import resolve_data_dir
from lifelong.data.task import Example
from lifelong.io import write_json
from lifelong.models.masked_lm import sparse_mlm_loss
from lifelong.pretraining.assembly import assemble
from lifelong.pretraining.classify import encode, predict_labels, read_labelled
from lifelong.pretraining.corpus import make_collator, mask_batch, pack_blocks
from lifelong.pretraining.models import load_classifier, load_mlm, load_tokenizer, max_length, read_meta
from lifelong.pretraining.pipeline import adaptation_folder

MASK_DRAWS = 5


def budgets(body: Path, language: str) -> list[tuple[int, Path]]:
    """(updates, folder) of every finished language adaptation of ``language`` in ``body``."""
    folders = [
        body / "languages" / adaptation_folder(language),
        *sorted(body.glob(f"{long_run_name(language)}-[0-9]*")),
    ]
    found = [(read_meta(f).get("steps"), f) for f in folders if read_meta(f)]
    return sorted((int(steps), f) for steps, f in found if steps)


@torch.no_grad()
def heldout_mlm_loss(folder: Path, lines: list[str]) -> float:
    """Masked-LM loss on held-out text, packed as in training, averaged over ``MASK_DRAWS`` seeded masks."""
    model, tokenizer = load_mlm(folder).eval(), load_tokenizer(folder)
    blocks = pack_blocks(tokenizer, lines, 128, source=str(folder))
    collator = make_collator(tokenizer, 0.15)
    losses = []
    for seed in range(MASK_DRAWS):
        torch.manual_seed(seed)
        batch = mask_batch(collator, blocks)
        losses.append(float(sparse_mlm_loss(model, batch["input_ids"], batch["labels"])[0]))
    return sum(losses) / len(losses)


@torch.no_grad()
def sentence_states(
    model: torch.nn.Module, tokenizer: object, examples: list[Example]
) -> dict[str, torch.Tensor]:
    """Last-layer states per example: the first token's (what a sequence-classification head reads) and
    the mean over tokens (more of what the body saw)."""
    first, mean = [], []
    for i in range(0, len(examples), 64):
        enc = encode(tokenizer, examples[i : i + 64], max_length(model))
        hidden = model(**enc, output_hidden_states=True).hidden_states[-1].float()
        mask = enc["attention_mask"].unsqueeze(-1).float()
        first.append(hidden[:, 0])
        mean.append((hidden * mask).sum(1) / mask.sum(1))
    return {"first": torch.cat(first), "mean": torch.cat(mean)}


def retrieval(target: torch.Tensor, english: torch.Tensor) -> float:
    """Share of target sentences whose nearest English sentence (centred cosine) is their translation."""
    a = F.normalize(target - target.mean(0), dim=-1)
    b = F.normalize(english - english.mean(0), dim=-1)
    nearest = (a @ b.T).argmax(-1)
    return float((nearest == torch.arange(len(a))).float().mean())


def parallel(english: list[Example], target: list[Example], source: Path) -> None:
    """Flores rows line up by id; refuse to compare anything else."""
    if [e.meta.get("id") for e in english] != [t.meta.get("id") for t in target]:
        raise SystemExit(f"{source}: rows are not in the order of the English test set (ids differ)")


def read_with(
    model: torch.nn.Module, tokenizer: object, examples: list[Example], english_reads: dict
) -> dict[str, float]:
    """Accuracy, agreement with the English model and retrieval of one reader of the target test set."""
    model.eval()
    predictions = predict_labels(model, tokenizer, examples)
    states = sentence_states(model, tokenizer, examples)
    n = len(examples)
    return {
        "accuracy": sum(p == ex.label for p, ex in zip(predictions, examples, strict=True)) / n,
        "agree": sum(p == q for p, q in zip(predictions, english_reads["predictions"], strict=True)) / n,
        **{f"retrieval_{k}": retrieval(states[k], english_reads["states"][k]) for k in states},
    }


def measure(body: Path, language: str, sib: Path, english_reads: dict) -> list[dict]:
    """The English vocabulary reading the target language as a reference, then each adaptation budget."""
    target_test = read_labelled(sib / language / "test.jsonl")
    parallel(english_reads["examples"], target_test, sib / language / "test.jsonl")
    heldout = [ex.text for ex in target_test + read_labelled(sib / language / "dev.jsonl")]
    rows = []
    if language != "en":  # for English this is the task model itself
        reference = read_with(*english_reads["model"], target_test, english_reads)
        rows.append({"language": language, "updates": None, **reference})
    for steps, folder in budgets(body, language):
        curve = read_meta(folder)["curve"]
        rows.append(
            {
                "language": language,
                "updates": steps,
                "train_mlm": sum(curve["mlm_loss"][-3:]) / len(curve["mlm_loss"][-3:]),
                "heldout_mlm": heldout_mlm_loss(folder, heldout),
                **read_with(*assemble(body / "task", folder), target_test, english_reads),
            }
        )
    return rows


def row(name: str, r: dict) -> str:
    updates = "English vocabulary" if r["updates"] is None else f"relearned, {r['updates']}"
    mlm = [f"{r[k]:.2f}" if k in r else "–" for k in ("train_mlm", "heldout_mlm")]
    scores = [f"{100 * r[k]:.1f}" for k in ("accuracy", "agree", "retrieval_first", "retrieval_mean")]
    return "| " + " | ".join([name, r["language"], updates, *mlm, *scores]) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bodies", nargs="+", help="name=folder of a run.py variant (with task/ and languages/)")
    p.add_argument("--data", type=Path, default=None, help="data root (default: $LIFELONG_DATA)")
    p.add_argument("--languages", default="en,de,sw", help="comma-separated; en is the English control")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    sib = resolve_data_dir(args.data, flag="--data") / "multilingual" / "sib200"
    english = read_labelled(sib / "en" / "test.jsonl")
    table, results = [], {}
    for spec in args.bodies:
        name, _, folder = spec.partition("=")
        body = Path(folder)
        task_model, task_tokenizer = load_classifier(body / "task").eval(), load_tokenizer(body / "task")
        english_reads = {
            "examples": english,
            "model": (task_model, task_tokenizer),
            "predictions": predict_labels(task_model, task_tokenizer, english),
            "states": sentence_states(task_model, task_tokenizer, english),
        }
        rows = [r for lang in args.languages.split(",") for r in measure(body, lang, sib, english_reads)]
        results[name] = rows
        table += [row(name, r) for r in rows]
    print(
        "| body | language | embeddings, updates | train MLM loss | held-out MLM loss | accuracy % "
        "| agrees with English % | retrieval, first token % | retrieval, mean % |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(table))
    if args.json:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    print(json.dumps({"chance retrieval %": round(100 / len(english), 2)}))


if __name__ == "__main__":
    main()
