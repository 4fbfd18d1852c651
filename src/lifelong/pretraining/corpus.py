"""The masked-LM data path every stage shares: corpus lines, a trained tokenizer, packed blocks,
step-indexed batches and masking.

Pretraining and language adaptation read text the same way, so their losses are comparable. A
batch is a pure function of (seed, step): resuming needs no data-loader state and 1 or N processes
see the same global batches.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast

from lifelong.errors import ConfigError, DataError
from lifelong.io import read_text

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # RoBERTa's ids 0..4 in every vocabulary
PAD_ID = 1
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends Python's text mode reads


def read_lines(path: str | os.PathLike[str], max_lines: int | None = None) -> list[str]:
    """Non-empty, stripped lines of a UTF-8 corpus; a missing, empty or non-UTF-8 file is a DataError."""
    lines = [line for line in (raw.strip() for raw in _NEWLINE.split(read_text(path))) if line]
    if not lines:
        raise DataError(f"corpus {path} has no non-empty lines")
    return lines[:max_lines] if max_lines is not None else lines


def train_tokenizer(
    lines: list[str], vocab_size: int, max_length: int, min_frequency: int = 2, pad_id: int = PAD_ID
) -> Any:
    """A byte-level BPE tokenizer with RoBERTa's special tokens (ids 0..4) and ``<s> x </s>`` framing.

    Byte-level means any script (Chinese, Devanagari, Arabic...) is covered without unknown tokens.
    ``pad_id`` puts ``<pad>`` where a pretrained body expects it (BERT: 0; RoBERTa's order otherwise).
    """
    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ConfigError(
            f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (specials + bytes), got {vocab_size}"
        )
    if not 0 <= pad_id < len(SPECIAL_TOKENS):
        raise ConfigError(f"pad_id must be one of the first {len(SPECIAL_TOKENS)} ids, got {pad_id}")
    specials = [t for t in SPECIAL_TOKENS if t != "<pad>"]
    specials.insert(pad_id, "<pad>")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    ids = {t: specials.index(t) for t in specials}
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", ids["</s>"]), ("<s>", ids["<s>"]), add_prefix_space=True
    )
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


def make_collator(tokenizer: Any, mlm_probability: float) -> Any:
    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)


def mask_batch(collator: Any, blocks: torch.Tensor) -> dict[str, torch.Tensor]:
    """15% of tokens chosen, 80/10/10 mask/random/keep (transformers' collator, global torch RNG)."""
    return collator([{"input_ids": row} for row in blocks])
