"""Masked-LM pretraining of a small RoBERTa from scratch, with or without active forgetting.

Also home to the pieces every masked-LM stage shares (corpus reading, tokenizer training, block
packing, step-indexed batches), so language adaptation reuses exactly the same data path.

Runs unchanged under ``accelerate launch``/torchrun: ``batch_size`` is the global batch, each
process takes its slice, and a batch is a pure function of (seed, step) -- so resuming needs no
data-loader state and 1 or N processes see the same batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from lifelong.errors import ConfigError, DataError
from lifelong.pretraining.forgetting import (
    ForgettingSchedule,
    WarmupDecay,
    reset_generator,
    reset_token_embeddings,
    token_embedding_parameters,
)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # RoBERTa's ids 0..4 in every vocabulary
PAD_ID = 1


# ---------------------------------------------------------------- files


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling that replaces ``path`` only once fully written (file or folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if path.is_dir():  # a folder cannot be replaced in one step: move the old one aside first
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_lines(path: str | os.PathLike[str], max_lines: int | None = None) -> list[str]:
    """Non-empty lines of a text corpus; a missing or empty file is the user's error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"corpus not found: {path}")
    lines: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                lines.append(line)
                if max_lines is not None and len(lines) >= max_lines:
                    break
    if not lines:
        raise DataError(f"corpus {path} has no non-empty lines")
    return lines


# ---------------------------------------------------------------- tokenizer and data


def train_tokenizer(lines: list[str], vocab_size: int, max_length: int, min_frequency: int = 2) -> Any:
    """A byte-level BPE tokenizer with RoBERTa's special tokens (ids 0..4) and ``<s> x </s>`` framing.

    Byte-level means any script (Chinese, Devanagari, Arabic...) is covered without unknown tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ConfigError(
            f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (specials + bytes), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=max_length,
    )


def pack_blocks(tokenizer: Any, lines: list[str], seq_len: int, source: str = "corpus") -> torch.Tensor:
    """RoBERTa "full-sentences" packing: ``<s> line </s>`` back to back, cut into ``seq_len`` blocks.

    Packing wastes no compute on padding; the last partial block is dropped.
    """
    ids: list[int] = []
    for start in range(0, len(lines), 10_000):
        enc = tokenizer(
            lines[start : start + 10_000], add_special_tokens=True, truncation=False, verbose=False
        )
        for row in enc["input_ids"]:
            ids.extend(row)
    n = len(ids) // seq_len
    if n == 0:
        raise DataError(f"{source}: {len(ids)} tokens is less than one block of seq_len={seq_len}")
    return torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)


class BlockBatches:
    """Step -> this process's slice of the global batch; epochs are seeded permutations of the blocks."""

    def __init__(self, blocks: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise ConfigError(f"batch_size={batch_size} is not divisible by the {world} processes")
        self.blocks, self.batch_size, self.seed = blocks, batch_size, seed
        self.rank, self.world = rank, world
        self._perm: tuple[int, torch.Tensor] | None = None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._perm = (epoch, torch.randperm(len(self.blocks), generator=g))
        return self._perm[1]

    def indices(self, step: int) -> torch.Tensor:
        n, out, pos = len(self.blocks), [], step * self.batch_size
        while sum(len(t) for t in out) < self.batch_size:
            epoch, offset = divmod(pos, n)
            take = self._permutation(epoch)[offset : offset + self.batch_size - sum(len(t) for t in out)]
            out.append(take)
            pos += len(take)
        idx = torch.cat(out)
        per = self.batch_size // self.world
        return idx[self.rank * per : (self.rank + 1) * per]

    def __call__(self, step: int) -> torch.Tensor:
        return self.blocks[self.indices(step)]


def mask_batch(collator: Any, blocks: torch.Tensor) -> dict[str, torch.Tensor]:
    """15% of tokens chosen, 80/10/10 mask/random/keep (transformers' collator, global torch RNG)."""
    return collator([{"input_ids": row} for row in blocks])


def make_collator(tokenizer: Any, mlm_probability: float) -> Any:
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)


class SparseMaskedLM(nn.Module):
    """Masked-LM loss with vocabulary logits only at the masked positions.

    The same loss as ``model(input_ids, labels=labels).loss``, but the LM head (a large share of a
    small model's compute) runs on the ~15% of positions that carry a label instead of all of
    them. A module of its own, so Accelerate/DDP wrap its forward and gradients still sync.
    """

    def __init__(self, mlm: nn.Module):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        head = getattr(self.mlm, "lm_head", None)
        if head is None:  # not a RoBERTa-style head: let the model compute every logit
            return self.mlm(input_ids=input_ids, labels=labels).loss
        hidden = self.mlm.base_model(input_ids=input_ids).last_hidden_state
        chosen = labels != -100
        if not chosen.any():
            return hidden.sum() * 0.0
        logits = head(hidden[chosen])
        return nn.functional.cross_entropy(logits.float(), labels[chosen])


def body_fingerprint(model: nn.Module) -> str:
    """Hash of every parameter except the vocabulary matrices: ties adapted parts to their pretrained body.

    Target embeddings only fit the body they were learned against, so assembly checks that the
    language adaptation and the task adaptation started from the same pretrained body.
    """
    base = getattr(model, "base_model", model)
    skip = {id(p) for p in token_embedding_parameters(model)}
    h = hashlib.sha256()
    for name, p in base.named_parameters():
        if id(p) not in skip:
            h.update(name.encode())
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- config and model


@dataclass
class PretrainConfig:
    """Masked-LM pretraining. ``reset_every`` = K of active forgetting; None/0 = standard pretraining."""

    corpus: str = ""
    out: str = ""
    # tokenizer (trained on the corpus) and data
    vocab_size: int = 8192
    tokenizer_lines: int | None = 200_000  # lines used to train the tokenizer
    max_lines: int | None = None  # cap on corpus lines (smoke runs)
    seq_len: int = 128
    # model
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int | None = None  # default 4 * hidden
    dropout: float = 0.1
    # optimisation
    steps: int = 10_000
    batch_size: int = 32  # global, across processes
    lr: float = 5e-4
    warmup_steps: int = 500
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.98
    adam_eps: float = 1e-6
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    bf16: bool = True
    seed: int = 0
    # active forgetting
    reset_every: int | None = None
    embedding_lr: float | None = None  # default: lr
    embedding_warmup_steps: int | None = None  # default: a tenth of an episode
    # bookkeeping
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 50
    resume: bool = False
    stop_at_step: int | None = None  # end this invocation early (after a checkpoint) to split long runs

    def check(self) -> None:
        if not self.corpus:
            raise ConfigError("pretraining needs a corpus path")
        if not self.out:
            raise ConfigError("pretraining needs an output folder (out)")
        for key in ("steps", "batch_size", "seq_len", "layers", "hidden", "heads", "vocab_size"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key {key} must be positive, got {getattr(self, key)}")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} is not divisible by heads={self.heads}")
        if self.reset_every is not None and self.reset_every < 0:
            raise ConfigError(f"reset_every must be >= 0, got {self.reset_every}")
        if not 0 < self.mlm_probability < 1:
            raise ConfigError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")


# keys that may change between a run and its resumption without changing what is computed
_RESUMABLE_KEYS = {
    "corpus",
    "out",
    "checkpoint_every",
    "keep_checkpoints",
    "log_every",
    "resume",
    "stop_at_step",
}


def build_model(cfg: PretrainConfig, tokenizer: Any) -> nn.Module:
    from transformers import RobertaConfig, RobertaForMaskedLM

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
    return RobertaForMaskedLM(config)


def build_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    """Three groups: token embeddings (own LR schedule, reset with the weights), body with and without decay."""
    emb = token_embedding_parameters(model)
    emb_ids = {id(p) for p in emb}
    body = [p for p in model.parameters() if id(p) not in emb_ids and p.requires_grad]
    groups = [
        {
            "params": emb,
            "lr": cfg.embedding_lr or cfg.lr,
            "weight_decay": cfg.weight_decay,
            "name": "embeddings",
        },
        {
            "params": [p for p in body if p.ndim >= 2],
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "name": "body",
        },
        {
            "params": [p for p in body if p.ndim < 2],
            "lr": cfg.lr,
            "weight_decay": 0.0,
            "name": "body_no_decay",
        },
    ]
    return torch.optim.AdamW(groups, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: PretrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """Body: one warm-up + decay over all steps. Embeddings: the same shape restarted every episode."""
    body = WarmupDecay(min(cfg.warmup_steps, cfg.steps), cfg.steps, cfg.min_lr_ratio)
    if cfg.reset_every:
        k = cfg.reset_every
        warm = cfg.embedding_warmup_steps if cfg.embedding_warmup_steps is not None else max(1, k // 10)
        emb = WarmupDecay(min(max(1, warm), k), k, cfg.min_lr_ratio, period=k)
    else:
        emb = WarmupDecay(body.warmup, body.total, body.min_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [emb, body, body])


# ---------------------------------------------------------------- checkpoints


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:08d}"


def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    return path if path.is_dir() else None


def save_checkpoint(accelerator: Any, out: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Weights (safetensors), optimizer, scheduler and every process's RNG, then the step; all-or-nothing."""
    final = checkpoint_dir(out, step)
    tmp = final.with_name(f".{final.name}.tmp")  # same name on every process: they all write into it
    if accelerator.is_main_process:
        _remove(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        _remove(final)
        os.replace(tmp, final)
        with atomic_path(out / "checkpoints" / "latest") as p:
            p.write_text(final.name + "\n")
        old = sorted(final.parent.glob("step-*"))[: -max(1, keep)]
        for path in old:
            _remove(path)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: Path, cfg: PretrainConfig) -> dict[str, Any]:
    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    saved = state.get("config", {})
    for key, value in dataclasses.asdict(cfg).items():
        if key not in _RESUMABLE_KEYS and key in saved and saved[key] != value:
            raise ConfigError(
                f"cannot resume from {path}: config key {key} was {saved[key]!r}, now {value!r} "
                "(start a new output folder, or set it back)"
            )
    accelerator.load_state(str(path))
    return state


# ---------------------------------------------------------------- the loop


@dataclass
class PretrainResult:
    out: Path
    steps: int
    resets: list[int] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    tokens_per_second: float = 0.0


def _prepare_tokenizer(cfg: PretrainConfig, out: Path, accelerator: Any) -> Any:
    """Train once on the main process and save; everyone (and every resumption) loads the saved one."""
    from transformers import AutoTokenizer

    tok_dir = out / "tokenizer"
    if accelerator.is_main_process and not (tok_dir / "tokenizer.json").is_file():
        lines = read_lines(cfg.corpus, cfg.tokenizer_lines)
        tokenizer = train_tokenizer(lines, cfg.vocab_size, cfg.seq_len)
        with atomic_path(tok_dir) as tmp:
            tokenizer.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    return AutoTokenizer.from_pretrained(tok_dir)


def _prepare_blocks(cfg: PretrainConfig, out: Path, tokenizer: Any, accelerator: Any) -> torch.Tensor:
    """Tokenize once and cache next to the run (keyed by corpus, length cap and seq_len)."""
    from safetensors.torch import load_file, save_file

    corpus = Path(cfg.corpus)
    if not corpus.is_file():
        raise DataError(f"corpus not found: {corpus}")
    st = corpus.stat()
    key = f"{corpus.resolve()}|{st.st_size}|{st.st_mtime_ns}|{cfg.max_lines}|{cfg.seq_len}|{len(tokenizer)}"
    cache = out / f"blocks-{hashlib.sha256(key.encode()).hexdigest()[:12]}.safetensors"
    if accelerator.is_main_process and not cache.is_file():
        blocks = pack_blocks(tokenizer, read_lines(corpus, cfg.max_lines), cfg.seq_len, source=str(corpus))
        with atomic_path(cache) as tmp:
            save_file({"blocks": blocks}, str(tmp))
    accelerator.wait_for_everyone()
    return load_file(str(cache))["blocks"]


def pretrain(cfg: PretrainConfig) -> PretrainResult:
    """Train a masked LM; resets the token embeddings every ``reset_every`` updates if set.

    Writes ``out/`` = final model + tokenizer (``from_pretrained``-ready), ``pretrain_log.json``
    (loss curve, reset steps, throughput, body fingerprint) and ``checkpoints/``.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from lifelong.training.context import cpu_only

    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # precision is our explicit autocast below, not Accelerator(mixed_precision=...): that setting
    # is process-wide in Accelerate and could not differ between two runs in one process
    accelerator = Accelerator(cpu=cpu_only())
    set_seed(cfg.seed)  # same init everywhere ...
    tokenizer = _prepare_tokenizer(cfg, out, accelerator)
    blocks = _prepare_blocks(cfg, out, tokenizer, accelerator)
    batches = BlockBatches(
        blocks, cfg.batch_size, cfg.seed, accelerator.process_index, accelerator.num_processes
    )
    model = SparseMaskedLM(build_model(cfg, tokenizer))
    optimizer = build_optimizer(model.mlm, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    # the scheduler stays unprepared: Accelerate would step it once per process, breaking episodes
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    set_seed(cfg.seed, device_specific=True)  # ... but different masks/dropout per process
    collator = make_collator(tokenizer, cfg.mlm_probability)
    forgetting = ForgettingSchedule(cfg.reset_every, cfg.steps)
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
        with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = model(batch["input_ids"], batch["labels"])
        accelerator.backward(loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
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
            bar.set_postfix(loss=f"{mean:.3f}", lr=f"{scheduler.get_last_lr()[1]:.2e}")
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
        write_json(out / "pretrain_log.json", log)
    accelerator.wait_for_everyone()
    return PretrainResult(out, final_step, resets, losses, tps)
