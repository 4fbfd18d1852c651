"""Which start token leaves a new GEN token ordinary? Hidden-state norms of an untrained causal LM.

A pretrained LM turns its first position into an attention sink (a hidden state many times larger than
the others, whose output barely depends on the token there). LAMOL's GEN token must not be one, or the
model cannot read which task's GEN it got. GEN starts near the mean embedding; this prints the norm
(layer -2) at the first positions of ``<start> <token> The city of`` for that start and for real words,
after each candidate start token.

    python benchmarks/lamol/sink_check.py ~/.cache/lifelong/smollm2-135m/hf
"""

from __future__ import annotations

import argparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lifelong.models.text2text import SPECIAL_NOISE


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="a local Hugging Face causal LM folder")
    parser.add_argument("--words", nargs="+", default=[" sentiment", "squad"])
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    table = model.get_input_embeddings().weight.detach()
    mean = table.mean(0)
    candidates = {
        "mean + noise (GEN's start)": mean + SPECIAL_NOISE * table.std(0) * torch.randn(table.shape[1])
    }
    candidates |= {
        f"word {w!r}": table[tokenizer(w, add_special_tokens=False)["input_ids"][0]] for w in args.words
    }
    starts = {"(none: position 0)": None}
    starts |= {t: table[tokenizer.convert_tokens_to_ids(t)] for t in tokenizer.all_special_tokens}
    after = table[tokenizer(" The city of", add_special_tokens=False)["input_ids"]]

    print("| token | " + " | ".join(f"after {s}" for s in starts) + " |")
    print("|---|" + "---|" * len(starts))
    for name, vector in candidates.items():
        cells = []
        for start in starts.values():
            first = [vector] if start is None else [start, vector]
            x = torch.cat([torch.stack(first), after])[None]
            with torch.no_grad():
                hidden = model(inputs_embeds=x, output_hidden_states=True).hidden_states[-2][0]
            norms = hidden.norm(dim=-1).tolist()
            at = len(first) - 1  # the token's own position
            cells.append(f"{norms[at]:,.0f} (rest {min(norms[at + 1 :]):,.0f}–{max(norms[at + 1 :]):,.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
