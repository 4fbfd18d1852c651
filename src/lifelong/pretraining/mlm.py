"""Masked-LM pretraining of a small RoBERTa from scratch -- or continued pretraining of a pretrained
masked LM (``init``) -- with or without active forgetting.

Runs unchanged under ``accelerate launch``/torchrun: ``batch_size`` is the global batch, each
process takes its slice (``corpus.BlockBatches``), and resuming from a checkpoint reproduces a
straight run exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModelForMaskedLM, AutoTokenizer, RobertaConfig, RobertaForMaskedLM

from lifelong.errors import ConfigError, DataError
from lifelong.io import atomic_path, write_json
from lifelong.models.fast import speed_up_on_cpu
from lifelong.models.presets import instantiate, load_model_spec
from lifelong.optim import OptimConfig, ParamGroup, build_optimizer, clip_gradients
from lifelong.precision import bf16_autocast
from lifelong.pretraining.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from lifelong.pretraining.corpus import (
    PAD_ID,
    BlockBatches,
    make_collator,
    mask_batch,
    pack_blocks,
    read_lines,
    train_tokenizer,
)
from lifelong.pretraining.forgetting import (
    ForgettingSchedule,
    reset_generator,
    reset_token_embeddings,
    token_embedding_parameters,
)
from lifelong.pretraining.models import PRETRAIN_LOG, SparseMaskedLM, body_fingerprint, max_length
from lifelong.schema import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Range, check


@dataclass
class PretrainConfig(OptimConfig):
    """Masked-LM pretraining. ``reset_every`` = K of active forgetting; None = standard pretraining.

    The optimisation block is the library's :class:`~lifelong.optim.OptimConfig` with RoBERTa's
    Adam settings; ``warmup_ratio=0.05`` is the former 500 warm-up steps of the default 10 000.
    """

    warmup_ratio: Annotated[float, FRACTION] = 0.05
    adam_beta2: float = 0.98
    adam_eps: Annotated[float, POSITIVE] = 1e-6
    corpus: str = ""
    out: str = ""
    # continue from a pretrained masked LM (preset or folder): its tokenizer and architecture are used,
    # so vocab_size, tokenizer_lines and the model block below do not apply
    init: str = ""
    # tokenizer (trained on the corpus) and data
    vocab_size: Annotated[int, AT_LEAST_1] = 8192
    tokenizer_lines: Annotated[int, AT_LEAST_1] | None = 200_000  # lines used to train the tokenizer
    max_lines: Annotated[int, AT_LEAST_1] | None = None  # cap on corpus lines (smoke runs)
    seq_len: Annotated[int, AT_LEAST_1] = 128
    # model
    layers: Annotated[int, AT_LEAST_1] = 4
    hidden: Annotated[int, AT_LEAST_1] = 256
    heads: Annotated[int, AT_LEAST_1] = 4
    intermediate: Annotated[int, AT_LEAST_1] | None = None  # default 4 * hidden
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.1
    # training
    steps: Annotated[int, AT_LEAST_1] = 10_000
    batch_size: Annotated[int, AT_LEAST_1] = 32  # global, across processes
    mlm_probability: Annotated[float, FRACTION] = 0.15
    seed: int = 0
    # active forgetting
    reset_every: Annotated[int, AT_LEAST_1] | None = None
    embedding_lr: Annotated[float, POSITIVE] | None = None  # default: lr
    embedding_warmup_steps: Annotated[int, NON_NEGATIVE] | None = (
        None  # per episode; default: a tenth of an episode
    )
    # bookkeeping
    checkpoint_every: Annotated[int, NON_NEGATIVE] = 1000  # 0 = no checkpoints
    keep_checkpoints: Annotated[int, AT_LEAST_1] = 2
    log_every: Annotated[int, AT_LEAST_1] = 50
    resume: bool = False
    stop_at_step: Annotated[int, AT_LEAST_1] | None = (
        None  # end this invocation early (after a checkpoint) to split long runs
    )

    def check(self) -> ForgettingSchedule:
        """Refuse a config that cannot run, before any work; returns its forgetting schedule."""
        if not self.corpus:
            raise ConfigError("pretraining needs a corpus path")
        if not self.out:
            raise ConfigError("pretraining needs an output folder (out)")
        check(self)  # the declared ranges, also for a config built in Python
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} is not divisible by heads={self.heads}")
        return ForgettingSchedule(self.reset_every, self.steps)


def build_model(cfg: PretrainConfig, tokenizer: Any) -> nn.Module:
    """A fresh RoBERTa of the configured size, or the ``init`` model with its pretrained weights."""
    if cfg.init:
        model = instantiate(load_model_spec(cfg.init), AutoModelForMaskedLM)
        longest = max_length(model)
        if cfg.seq_len > longest:
            raise ConfigError(f"seq_len={cfg.seq_len} is longer than {cfg.init!r} takes ({longest} tokens)")
        return speed_up_on_cpu(model)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate or 4 * cfg.hidden,
        max_position_embeddings=cfg.seq_len + PAD_ID + 1,  # RoBERTa positions start after the pad id
        type_vocab_size=1,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    return speed_up_on_cpu(RobertaForMaskedLM(config))


def pretraining_optimizer(
    model: nn.Module, cfg: PretrainConfig
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """The token embeddings in a group of their own ("embeddings/decay"): their own LR and, with
    forgetting, a warm-up + decay that restarts every episode; the body on the global schedule."""
    emb = token_embedding_parameters(model)
    emb_ids = {id(p) for p in emb}
    body = [p for p in model.parameters() if id(p) not in emb_ids]
    schedule = ForgettingSchedule(cfg.reset_every, cfg.steps).embedding_schedule(
        cfg.embedding_warmup_steps, cfg.min_lr_ratio
    )
    groups = [
        ParamGroup(emb, lr=cfg.embedding_lr, schedule=schedule, name="embeddings"),
        ParamGroup(body, name="body"),
    ]
    return build_optimizer(groups, cfg, cfg.steps)


@dataclass
class PretrainResult:
    out: Path
    steps: int
    resets: list[int] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    tokens_per_second: float = 0.0


def _prepare_tokenizer(cfg: PretrainConfig, out: Path, accelerator: Any) -> Any:
    """Train once on the main process and save; everyone (and every resumption) loads the saved one."""
    tok_dir = out / "tokenizer"
    if accelerator.is_main_process and not (tok_dir / "tokenizer.json").is_file():
        if cfg.init:
            tokenizer = load_model_spec(cfg.init).tokenizer
        else:
            lines = read_lines(cfg.corpus, cfg.tokenizer_lines)
            tokenizer = train_tokenizer(lines, cfg.vocab_size, cfg.seq_len)
        with atomic_path(tok_dir) as tmp:
            tokenizer.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    return AutoTokenizer.from_pretrained(tok_dir)


def _prepare_blocks(cfg: PretrainConfig, out: Path, tokenizer: Any, accelerator: Any) -> torch.Tensor:
    """Tokenize once and cache next to the run (keyed by corpus, length cap and seq_len)."""
    corpus = Path(cfg.corpus)
    if not corpus.is_file():
        raise DataError(f"corpus not found: {corpus}")
    st = corpus.stat()
    key = f"{corpus.resolve()}|{st.st_size}|{st.st_mtime_ns}|{cfg.max_lines}|{cfg.seq_len}|{len(tokenizer)}"
    cache = out / f"blocks-{hashlib.sha256(key.encode()).hexdigest()[:12]}.safetensors"
    if accelerator.is_main_process and not cache.is_file():
        lines = read_lines(corpus, cfg.max_lines)
        blocks = pack_blocks(tokenizer, lines, cfg.seq_len, source=str(corpus))
        with atomic_path(cache) as tmp:
            save_file({"blocks": blocks}, str(tmp))
    accelerator.wait_for_everyone()
    return load_file(str(cache))["blocks"]


def _cpu_only() -> bool:
    """Run on the CPU when there is no accelerator: only then does Accelerate treat a torchrun launch
    as multi-process CPU training instead of N processes that each believe they are alone."""
    return not torch.accelerator.is_available()


def pretrain(cfg: PretrainConfig) -> PretrainResult:
    """Train a masked LM; resets the token embeddings every ``reset_every`` updates if set.

    Writes ``out/`` = final model + tokenizer (``from_pretrained``-ready), ``pretrain_log.json``
    (loss curve, reset steps, throughput, body fingerprint) and ``checkpoints/``.
    """
    forgetting = cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # precision is our explicit autocast below, not Accelerator(mixed_precision=...): that setting
    # is process-wide in Accelerate and could not differ between two runs in one process
    accelerator = Accelerator(cpu=_cpu_only())
    set_seed(cfg.seed)  # same init everywhere ...
    tokenizer = _prepare_tokenizer(cfg, out, accelerator)
    blocks = _prepare_blocks(cfg, out, tokenizer, accelerator)
    batches = BlockBatches(
        blocks, cfg.batch_size, cfg.seed, accelerator.process_index, accelerator.num_processes
    )
    model = SparseMaskedLM(build_model(cfg, tokenizer))
    optimizer, scheduler = pretraining_optimizer(model.mlm, cfg)
    # the scheduler stays unprepared: Accelerate would step it once per process, breaking episodes
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    set_seed(cfg.seed, device_specific=True)  # ... but different masks/dropout per process
    collator = make_collator(tokenizer, cfg.mlm_probability)
    config_dict = dataclasses.asdict(cfg)

    start, resets, losses, seconds = 0, [], [], 0.0
    ckpt = latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        state = load_checkpoint(accelerator, ckpt, cfg)
        start, resets, seconds = state["step"], state["resets"], state["seconds"]
        losses = [tuple(x) for x in state["losses"]]
        accelerator.print(f"resumed from {ckpt} at step {start}")
    elif cfg.resume:
        accelerator.print(f"no checkpoint in {out / 'checkpoints'}; starting from step 0")

    end = min(cfg.steps, cfg.stop_at_step or cfg.steps)
    raw_model = accelerator.unwrap_model(model).mlm
    raw_optimizer = getattr(optimizer, "optimizer", optimizer)
    model.train()
    running, counted, t0 = 0.0, 0, time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, disable=not accelerator.is_local_main_process, desc="pretrain")
    for step in range(start, end):
        batch = {k: v.to(accelerator.device) for k, v in mask_batch(collator, batches(step)).items()}
        with bf16_autocast(accelerator.device.type, cfg.bf16):
            loss = model(batch["input_ids"], batch["labels"])
        accelerator.backward(loss)
        clip_gradients(model.parameters(), cfg)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if forgetting.is_reset_step(done):
            reset_token_embeddings(raw_model, raw_optimizer, reset_generator(cfg.seed, done))
            resets.append(done)
        running += loss.detach().float()
        counted += 1
        if done % cfg.log_every == 0 or done == end:
            mean = accelerator.gather(running.reshape(1) / counted).mean().item()
            losses.append((done, mean))
            running, counted = 0.0, 0
            bar.set_postfix(loss=f"{mean:.3f}", lr=f"{scheduler.get_last_lr()[-1]:.2e}")
        bar.update(1)
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == end:
            spent = seconds + time.perf_counter() - t0
            state = {
                "step": done,
                "resets": resets,
                "losses": losses,
                "seconds": spent,
                "config": config_dict,
            }
            save_checkpoint(accelerator, out, done, state, cfg.keep_checkpoints)
    bar.close()
    final_step = max(start, end)
    seconds += time.perf_counter() - t0 if end > start else 0.0
    tps = final_step * cfg.batch_size * cfg.seq_len / seconds if seconds > 0 else 0.0  # over all invocations
    if accelerator.is_main_process:
        log = {
            "steps": final_step,
            "finished": final_step >= cfg.steps,
            "resets": resets,
            "losses": losses,
            "tokens_per_second": tps,
            "train_seconds": seconds,
            "body_fingerprint": body_fingerprint(raw_model),
            "config": config_dict,
        }
        if final_step >= cfg.steps:
            raw_model.save_pretrained(out, safe_serialization=True)
            tokenizer.save_pretrained(out)
        write_json(out / PRETRAIN_LOG, log)
    accelerator.wait_for_everyone()
    return PretrainResult(out, final_step, resets, losses, tps)
