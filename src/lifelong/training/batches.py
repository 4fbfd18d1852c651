"""Training batches that waste little compute on padding.

A batch is padded to its longest row, so a shuffled batch of reviews that run from 10 to 300 tokens
spends most of its matrix products on padding. :class:`LengthGroupedBatches` shuffles the rows, cuts the
order into windows of ``window`` batches, sorts each window by length and cuts it into batches, then
shuffles the batches: every batch holds rows of similar length (within ``granularity`` tokens, ties in
random order), and the order is still random (the trick of ``transformers``' ``group_by_length``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from lifelong.models.base import Row


def row_length(row: Row) -> int:
    """Tokens a row puts into its batch (with the rows collated alongside it)."""
    return len(row["input_ids"]) + sum(len(p["input_ids"]) for p in row.get("paired", ()))


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of row indices, grouped by length within random windows; reproducible from ``generator``."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        generator: torch.Generator,
        window: int = 50,
        granularity: int = 8,
    ):
        self.lengths = list(lengths)
        self.granularity = granularity  # lengths within the same multiple of this count as equal
        self.batch_size = batch_size
        self.generator = generator
        self.window = window

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]  # already in random order: the sort keeps ties random
            chunk = sorted(chunk, key=lambda i: -(self.lengths[i] // self.granularity))
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]
