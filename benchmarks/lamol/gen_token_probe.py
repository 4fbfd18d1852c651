"""Does a trained LAMOL learner tell its GEN tokens apart? A probe of a saved run folder.

With task tokens each old task's samples come from its own GEN token, so the token must steer what the
model writes. This script measures, for every GEN token of the run (each task's and the shared one):

* the next-token distribution right after the token, alone at position 0 and after the model's start
  token, and the total variation between every pair of tokens' distributions (0: the token is ignored,
  1: disjoint);
* the LM loss of real training rows of each task behind each GEN token (with the prompt the run trained
  with): a token that steers shows its own task's rows cheapest;
* the hidden-state norm at each position of a short prompt (layer -2): a pretrained LM's first position
  is an attention sink with a far larger norm, whose output barely depends on its token.

    python benchmarks/lamol/gen_token_probe.py <run folder> --data-dir ../shared/data [--rows 16]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from lifelong.methods.lamol import GEN
from lifelong.methods.pseudo_samples import lm_row
from lifelong.runs import open_learner


def next_token_distribution(model, prompt: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([prompt])).logits[0, -1].float().softmax(-1)


def total_variations(dists: dict[str, torch.Tensor]) -> dict[str, float]:
    return {
        f"{a}|{b}": 0.5 * (dists[a] - dists[b]).abs().sum().item()
        for a, b in itertools.combinations(dists, 2)
    }


def top_tokens(tokenizer, dist: torch.Tensor, k: int = 6) -> str:
    top = dist.topk(k)
    return " ".join(
        f"{tokenizer.decode([i])!r}:{p:.2f}"
        for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--rows", type=int, default=16, help="training rows per task for the LM loss")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    torch.manual_seed(0)

    session, tasks = open_learner(args.run_dir, data_dir=args.data_dir)
    method, lm = session.method, session.method.learner
    tok, model = lm.tokenizer, lm.lm.eval()
    names = [t.name for t in tasks]
    gens = {f"<{n}>": method.gen_id(n) for n in names} | {"GEN": tok.convert_tokens_to_ids(GEN)}
    trained_start = method.start_id  # None: GEN first
    start = trained_start if trained_start is not None else lm.start_id  # for the "after" probe
    out: dict = {"run": str(args.run_dir), "trained_start_token": trained_start, "gen_ids": gens}
    start_name = tok.convert_ids_to_tokens(trained_start) if trained_start is not None else "none (GEN first)"
    print(f"{args.run_dir}: token before GEN in training: {start_name}")

    with torch.no_grad():
        for where, prompt in (
            ("at position 0", lambda g: [g]),
            ("after the start token", lambda g: [start, g]),
        ):
            dists = {label: next_token_distribution(model, prompt(g)) for label, g in gens.items()}
            tv = total_variations(dists)
            out[f"tv {where}"] = tv
            print(f"\nnext token after GEN {where}; total variation between tokens:")
            print("  " + ", ".join(f"{k} {v:.3f}" for k, v in tv.items()))
            for label, d in dists.items():
                print(f"  {label:10s} {top_tokens(tok, d)}")

        print("\nLM loss (nats/token, first token | rest) of each task's training rows behind each GEN:")
        rng = random.Random(0)
        losses: dict = {}
        for task in tasks:
            rows = lm.encode(task, rng.sample(task.split("train"), min(args.rows, len(task.split("train")))))
            cells = []
            for label, g in gens.items():
                first = rest = n_rest = 0.0
                prompt = [g] if trained_start is None else [trained_start, g]
                for row in rows:
                    ids = torch.tensor([lm_row(row, prompt)["input_ids"]])
                    nll = F.cross_entropy(
                        model(input_ids=ids).logits[0, :-1].float(), ids[0, 1:], reduction="none"
                    )
                    nll = nll[len(prompt) - 1 :]  # the tokens after GEN
                    first += nll[0].item()
                    rest += nll[1:].sum().item()
                    n_rest += len(nll) - 1
                losses[f"{task.name} rows|{label}"] = {"first": first / len(rows), "rest": rest / n_rest}
                cells.append(f"{label} {first / len(rows):.2f} | {rest / n_rest:.3f}")
            print(f"  {task.name:8s} " + "   ".join(cells))
        out["lm_loss"] = losses

        words = tok("The city of", add_special_tokens=False)["input_ids"]
        last = gens[f"<{names[-1]}>"]
        for where, prefix in (("at position 0", [last]), ("after the start token", [start, last])):
            hidden = model(input_ids=torch.tensor([prefix + words]), output_hidden_states=True).hidden_states[
                -2
            ]
            norms = [round(x, 1) for x in hidden[0].norm(dim=-1).tolist()]
            out[f"hidden norms, GEN {where}"] = norms
            print(f"\nhidden-state norm per position (layer -2), GEN {where}: {norms}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
