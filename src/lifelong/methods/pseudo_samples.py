"""LAMOL's pseudo-samples: sampling them from the model, parsing them by token ids, the per-task quota,
their stats, and a cache keyed by everything that produced them.

A pseudo-sample is what the model writes after a GEN token: ``context question ANS answer EOS``.
LAMOL keeps every sample with exactly one ANS (where the answer starts); that is the rule here. Three
stricter checks are always counted and drop a sample only when asked for (``strict``): no EOS before
the length cap, an empty answer (ANS right before EOS), a generation token inside the sample. The
checks run on token ids, because a decoded string may contain ``__ans__`` typed by the model as text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lifelong.data.task import Task
from lifelong.io import write_json
from lifelong.models.base import Row
from lifelong.models.text2text import CausalTextToText

log = logging.getLogger("lifelong")

GEN = "__gen__"
KEPT = "kept"
STRICT_CHECKS = ("no_eos", "special_token", "empty_answer")  # counted always, applied on request
REJECT_REASONS = ("no_ans", "multiple_ans", "too_long", *STRICT_CHECKS)


def task_gen_token(task_name: str) -> str:
    """The generation token of one task (LAMOL with task-specific tokens)."""
    return f"__gen_{task_name}__"


# ---- parsing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedSample:
    ids: list[int]  # context question ANS answer EOS
    ans_pos: int  # index of ANS in ids


def parse_sample(
    ids: Sequence[int],
    ans_id: int,
    eos_id: int,
    *,
    strict: Iterable[str] = (),
    forbidden: Iterable[int] = (),
    max_length: int | None = None,
) -> tuple[ParsedSample | None, str, list[str]]:
    """Generated ids (after GEN) -> (the usable sample or None, ``"kept"`` or why it was rejected, the
    stricter checks it fails). Everything after the first EOS is padding; a sample without one ran into
    the cap and gets EOS appended. A sample longer than ``max_length`` loses the start of its context;
    one whose answer alone is that long is rejected as ``too_long``."""
    ids = list(ids)
    flags = []
    if eos_id in ids:
        ids = ids[: ids.index(eos_id) + 1]
    else:
        ids = ids + [eos_id]
        flags.append("no_eos")
    n_ans = ids.count(ans_id)
    if n_ans != 1:
        return None, "no_ans" if n_ans == 0 else "multiple_ans", flags
    ans_pos = ids.index(ans_id)
    blocked = set(forbidden)
    if any(t in blocked for t in ids):
        flags.append("special_token")
    if ans_pos == len(ids) - 2:  # ANS directly followed by EOS: nothing to learn as an answer
        flags.append("empty_answer")
    applied = [f for f in flags if f in set(strict)]
    if applied:
        return None, applied[0], flags
    if max_length is not None and len(ids) > max_length:
        drop = len(ids) - max_length
        if drop > ans_pos:
            return None, "too_long", flags
        ids, ans_pos = ids[drop:], ans_pos - drop
    return ParsedSample(ids, ans_pos), KEPT, flags


def qa_row(sample: ParsedSample, task_index: int) -> Row:
    """QA format: everything up to ANS is the prompt, the loss covers the answer and EOS."""
    labels = [-100] * (sample.ans_pos + 1) + sample.ids[sample.ans_pos + 1 :]
    return {"input_ids": list(sample.ids), "labels": labels, "task_index": task_index, "group": 0}


def lm_row(qa: Row, prompt: Sequence[int]) -> Row:
    """LM format of a QA row: the generation prompt (``GEN``, after the start token) + the same ids,
    the loss on every token after the prompt (group 1)."""
    ids = list(qa["input_ids"])
    return {
        "input_ids": [*prompt, *ids],
        "labels": [-100] * len(prompt) + ids,
        "task_index": qa["task_index"],
        "group": 1,
    }


# ---- how many -----------------------------------------------------------------------------------
def split_quota(total: int, parts: int) -> list[int]:
    """``total`` as evenly as possible over ``parts``; the remainder goes to the earliest parts."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def replay_quota(n_new: int, gamma: float, old_tasks: Sequence[str], per_task: bool) -> dict[str | None, int]:
    """⌈γ·|T_i|⌉ samples in all: one share per old task, or all from the shared GEN (key None)."""
    total = math.ceil(gamma * n_new - 1e-9) if gamma > 0 else 0
    if not old_tasks or total == 0:
        return {}
    if not per_task:
        return {None: total}
    return dict(zip(old_tasks, split_quota(total, len(old_tasks)), strict=True))


# ---- sampling -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplingConfig:
    top_k: int = 20
    temperature: float = 1.0
    max_length: int = 127  # tokens after the prompt (GEN)
    batch_size: int = 32


def generate(
    learner: CausalTextToText, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, seed: int
) -> list[list[int]]:
    """One sample per generation prompt in ``prompts`` by top-k sampling: batched (across tasks too),
    with the KV cache, reproducible. The seed applies inside a forked RNG, so sampling leaves the
    training randomness untouched."""
    device = learner.device
    devices = [device.index or 0] if device.type == "cuda" else []
    out: list[list[int]] = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, len(prompts), sampling.batch_size):
            out += learner.generate_from(
                [list(p) for p in prompts[start : start + sampling.batch_size]],
                sampling.max_length,
                do_sample=True,
                top_k=sampling.top_k,
                top_p=1.0,
                temperature=sampling.temperature,
            )
    return out


def attribute(text: str, tasks: Sequence[Task]) -> str:
    """Which task a shared-GEN sample imitates: the one whose fixed question it contains."""
    hits = [t.name for t in tasks if t.question and t.question in text]
    return "+".join(hits) if hits else "unattributed"


# ---- stats --------------------------------------------------------------------------------------
def sample_stats(
    requested: dict[str | None, int],
    reasons: dict[str, list[str]],
    kept_by_task: Counter[str],
    n_tokens: int,
    seconds: float,
    flags_of_kept: Counter[str] | None = None,
) -> dict[str, Any]:
    """Counts, the rejection rate and reasons, the share of the kept samples per task, and how many kept
    samples a stricter check would have dropped."""
    all_reasons = Counter(r for rs in reasons.values() for r in rs)
    generated = sum(all_reasons.values())
    kept = all_reasons[KEPT]
    return {
        "requested": sum(requested.values()),
        "requested_per_task": {str(k) if k is not None else GEN: v for k, v in requested.items()},
        "generated": generated,
        "kept": kept,
        "kept_share": kept / generated if generated else 0.0,
        "rejection_rate": (generated - kept) / generated if generated else 0.0,
        "rejected_by_reason": {r: all_reasons[r] for r in REJECT_REASONS if all_reasons[r]},
        "kept_but_strict_would_reject": {c: (flags_of_kept or Counter())[c] for c in STRICT_CHECKS},
        "share_per_task": {k: v / kept for k, v in sorted(kept_by_task.items())} if kept else {},
        "kept_per_task": dict(sorted(kept_by_task.items())),
        "generated_tokens": n_tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": n_tokens / seconds if seconds > 0 else None,
    }


def generated_length(ids: Sequence[int], eos_id: int) -> int:
    """Tokens actually produced (up to and including EOS; the rest is padding)."""
    return ids.index(eos_id) + 1 if eos_id in ids else len(ids)


# ---- cache --------------------------------------------------------------------------------------
def model_fingerprint(module: torch.nn.Module) -> str:
    """A hash of every weight (shared tensors once): the model state that generated the samples."""
    h = hashlib.blake2b(digest_size=16)
    seen: set[int] = set()
    for name, tensor in sorted(module.state_dict().items()):
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        h.update(name.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        if flat.numel():
            h.update(flat.view(torch.uint8).numpy())  # the buffer itself, no copy
    return h.hexdigest()


class SampleCache:
    """Generated ids stored under a key of everything that produced them; a hit is logged, never silent."""

    def __init__(self, folder: Path):
        self.folder = folder

    @staticmethod
    def key(**parts: Any) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def path(self, key: str) -> Path:
        return self.folder / f"pseudo-cache-{key}.json"

    def load(self, key: str, parts: dict[str, Any]) -> dict[str, list[list[int]]] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("ignoring unreadable pseudo-sample cache %s", path)
            return None
        if data.get("parts") != json.loads(json.dumps(parts, sort_keys=True, default=str)):
            log.warning("ignoring pseudo-sample cache %s: it was made by other settings", path)
            return None
        log.info("reusing pseudo-samples from the cache %s (key %s)", path, key)
        return data["samples"]

    def save(self, key: str, parts: dict[str, Any], samples: dict[str, list[list[int]]]) -> None:
        write_json(self.path(key), {"key": key, "parts": parts, "samples": samples})
