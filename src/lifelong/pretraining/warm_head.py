"""A masked-LM head warmed up on general English with the body frozen: the common starting point of the
post-training methods (CPT, NCL, DEMix, ...). minilm-l6 ships without an MLM head; left random, the first
domain's updates mostly train that head and general English, which every method then learns differently
and which confounds their comparison.

    lifelong warm-head --set corpus=../shared/data/corpora/english.txt      # -> the minilm-l6-mlm preset

Only the head's own parameters train (for BERT: the transform and the output bias; the decoder is tied
to the frozen word embeddings). The result is a ``from_pretrained`` folder in the preset cache, with
``warm_head.json`` (settings, loss curve, wall time) beside it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForMaskedLM

from lifelong.errors import ConfigError
from lifelong.io import atomic_path, write_json
from lifelong.models.masked_lm import mlm_head_parameters, sparse_mlm_loss
from lifelong.models.presets import instantiate, load_model_spec, warmed_head_dir
from lifelong.optim import OptimConfig, build_optimizer
from lifelong.pretraining.corpus import BlockBatches, make_collator, mask_batch, pack_blocks, read_lines
from lifelong.pretraining.loop import autocast, update
from lifelong.schema import AT_LEAST_1, FRACTION, check

log = logging.getLogger("lifelong")


@dataclass
class WarmHeadConfig(OptimConfig):
    model: str = "minilm-l6"
    corpus: str = ""
    out: str = ""  # default: the preset cache (<model>-mlm), which the ``<model>-mlm`` preset loads
    lr: float = 1e-3
    steps: Annotated[int, AT_LEAST_1] = 1000
    batch_size: Annotated[int, AT_LEAST_1] = 32
    seq_len: Annotated[int, AT_LEAST_1] = 128
    max_lines: Annotated[int, AT_LEAST_1] | None = 200_000  # corpus lines read (the first ones)
    mlm_probability: Annotated[float, FRACTION] = 0.15
    seed: int = 0
    bf16: bool = True
    log_every: Annotated[int, AT_LEAST_1] = 100


def warm_head(cfg: WarmHeadConfig) -> dict[str, object]:
    """Train the MLM head of ``cfg.model`` on ``cfg.corpus`` with the body frozen; save the whole model."""
    check(cfg)
    if not cfg.corpus:
        raise ConfigError("warm-head needs a corpus (--set corpus=PATH, e.g. DATA/corpora/english.txt)")
    out = Path(cfg.out) if cfg.out else warmed_head_dir(cfg.model)
    spec = load_model_spec(cfg.model)
    torch.manual_seed(cfg.seed)
    model = instantiate(spec, AutoModelForMaskedLM)
    for p in model.base_model.parameters():
        p.requires_grad_(False)
    params = mlm_head_parameters(model)
    if not params:
        raise ConfigError(f"model {cfg.model!r} has no masked-LM head outside its body to train")
    blocks = pack_blocks(spec.tokenizer, read_lines(cfg.corpus, cfg.max_lines), cfg.seq_len, cfg.corpus)
    batches = BlockBatches(blocks, cfg.batch_size, cfg.seed)
    collator = make_collator(spec.tokenizer, cfg.mlm_probability)
    optimizer, scheduler = build_optimizer(params, cfg, cfg.steps)
    model.train()
    losses: list[tuple[int, float]] = []
    start = time.perf_counter()
    for step in tqdm(range(cfg.steps), desc="warm MLM head", leave=False):
        batch = mask_batch(collator, batches(step))
        with autocast(cfg.bf16):  # the frozen body builds no graph; logits only at the masked tokens
            loss = sparse_mlm_loss(model, batch["input_ids"], batch["labels"])[0]
        update(loss, params, optimizer, scheduler, cfg)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            losses.append((step + 1, float(loss.detach())))
            elapsed = time.perf_counter() - start
            log.info(  # off a terminal the progress bar is off: one line every log_every updates
                "warm-head: update %d/%d, loss %.4f, %.0fs left",
                step + 1,
                cfg.steps,
                losses[-1][1],
                elapsed / (step + 1) * (cfg.steps - step - 1),
            )
    seconds = time.perf_counter() - start
    summary = {
        "config": dataclasses.asdict(cfg),
        "blocks": int(blocks.shape[0]),
        "losses": losses,
        "seconds": round(seconds, 1),
        "trained_parameters": sum(p.numel() for p in params),
    }
    with atomic_path(out) as tmp:  # the folder appears only once it is complete
        model.save_pretrained(tmp)
        spec.tokenizer.save_pretrained(tmp)
        write_json(tmp / "warm_head.json", summary)
    return {"out": str(out), "final_loss": losses[-1][1], "seconds": summary["seconds"]}
