"""LAMOL (Sun, Ho and Lee, ICLR 2020): one causal LM is both the task solver and the generator of
pseudo-samples of earlier tasks, which are replayed together with each new task.

Every example trains in two formats in the same step, L = L_QA + λ·L_LM:
QA ``context question ANS answer EOS`` (loss on answer + EOS) and LM ``START GEN context question ANS
answer EOS`` (loss on every token after GEN); the LM rows ride in the QA rows' batches (``paired``) with
the method's loss weighs them by λ. Before task i > 1 the model writes ⌈γ·|T_i|⌉ samples by top-k sampling from GEN,
or, with task tokens, an equal share from each old task's own GEN token, so old tasks do not fade
away exponentially. ``real_samples`` replays as many real old examples instead (LAMOL_real).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import nn

from lifelong.data.task import Task
from lifelong.errors import ConfigError
from lifelong.io import write_json, write_text
from lifelong.methods.base import Method, MethodConfig, StepInfo, register_method
from lifelong.methods.pseudo_samples import (
    GEN,
    KEPT,
    STRICT_CHECKS,
    SampleCache,
    SamplingConfig,
    attribute,
    generate,
    generated_length,
    lm_row,
    model_fingerprint,
    parse_sample,
    qa_row,
    replay_quota,
    sample_stats,
    task_gen_token,
)
from lifelong.models.base import Row
from lifelong.models.text2text import CausalTextToText
from lifelong.schema import AT_LEAST_1, NON_NEGATIVE, POSITIVE, REPLAY_SETTING

log = logging.getLogger("lifelong")
CACHE_FORMAT = 2  # bump when the meaning of cached ids changes


@dataclass
class LamolConfig(MethodConfig):
    """The replay and generation settings (``REPLAY_SETTING``) are not read during the first task, which
    has nothing to replay: variants that differ only in them can share it (``lifelong run --fork``)."""

    lm_weight: Annotated[float, NON_NEGATIVE] = 0.25  # λ, the weight of the LM loss
    gamma: Annotated[float, NON_NEGATIVE, REPLAY_SETTING] = (
        0.2  # replayed samples per example of the new task (the paper also uses 0.05)
    )
    task_tokens: bool = True  # one GEN token per task, an equal replay share per old task
    # What precedes GEN: "auto", the token that separates documents in pretraining (learner
    # .document_separator); a token of the vocabulary; or null for GEN first (the runs before
    # 2026-12-06). At position 0 a pretrained LM's token is an attention sink (smollm2: hidden norm
    # ~4,000 against ~700 elsewhere) whose output barely depends on which token it is: with task tokens
    # there, each token wrote the same mixture of tasks (docs/results.md, 5b).
    start_token: str | None = "auto"
    # Each task token starts as GEN plus noise of this share of the embeddings' per-dimension spread. At 1
    # the tokens start as unlike each other as two words of the vocabulary (LAMOL's were new random GPT-2
    # rows); at 0.05 (the runs before 2026-12-06) they stayed nearly one vector through the stream
    # (smollm2, TC: cosine 0.98-0.99 against 0.45 for word pairs) and one task's token came to write
    # another task's samples (docs/results.md, 5a).
    task_token_noise: Annotated[float, NON_NEGATIVE] = 1.0
    real_samples: Annotated[bool, REPLAY_SETTING] = False  # LAMOL_real: as many real old examples instead
    top_k: Annotated[int, AT_LEAST_1, REPLAY_SETTING] = 20
    temperature: Annotated[float, POSITIVE, REPLAY_SETTING] = 1.0
    # tokens generated after GEN; default twice the training length (model.max_length). The paper
    # generates up to the length its rows were trained at (GPT-2's 1024-token context); a longer sample is
    # kept with the start of its context cut. Up to the model's whole context, one sample that never
    # ends holds its batch for a thousand steps (smollm2: 11 tokens/s instead of 136).
    max_gen_length: Annotated[int | None, AT_LEAST_1, REPLAY_SETTING] = None
    gen_batch_size: Annotated[int, AT_LEAST_1, REPLAY_SETTING] = 32
    # stricter than the paper (which keeps every sample with one ANS): any of no_eos, special_token,
    # empty_answer also rejects; every stage's stats count them either way
    strict: Annotated[list[str], REPLAY_SETTING] = field(default_factory=list)
    cache: Annotated[bool, REPLAY_SETTING] = (
        True  # keep generated ids under a key of everything that produced them
    )
    cache_dir: Annotated[str | None, REPLAY_SETTING] = (
        None  # where the cache lives; default the run's stage folder
    )
    show_examples: Annotated[int, NON_NEGATIVE, REPLAY_SETTING] = (
        5  # decoded samples kept in each stage's stats
    )


@register_method("lamol")
class Lamol(Method):
    """LAMOL: the LM also generates pseudo-samples of old tasks, replayed with each new task (Sun et al., 2020).

    On a LoRA learner (``model.lora``) the body is frozen, but LAMOL must learn to read its GEN tokens and
    to write ANS: the rows of the added special tokens train beside the adapters (without weight decay;
    every other row stays as it was). The paper fine-tunes the whole GPT-2."""

    config_class = LamolConfig
    learner_kinds = frozenset({"text2text"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not isinstance(self.learner, CausalTextToText):
            raise ConfigError("lamol needs a causal text-to-text learner")
        unknown = set(self.config.strict) - set(STRICT_CHECKS)
        if unknown:
            raise ConfigError(
                f"method_args.strict: unknown check(s) {sorted(unknown)}; known: {list(STRICT_CHECKS)}"
            )
        self.lm: CausalTextToText = self.learner
        self.start_id = self._start_id(self.config.start_token)
        self.history: list[dict[str, Any]] = []

    def _start_id(self, start: str | None) -> int | None:
        if start is None:
            return None
        if start == "auto":
            return self.lm.start_id
        vocab = self.lm.tokenizer.get_vocab()
        if start not in vocab:
            raise ConfigError(
                f"method_args.start_token: {start!r} is not one token of the model's vocabulary; "
                "use 'auto', null, or a token such as the tokenizer's BOS"
            )
        return vocab[start]

    # ---- structure ---------------------------------------------------------------------------
    def grow(self, task: Task) -> None:
        """GEN once; with task tokens, the task's own GEN: GEN's current row plus ``task_token_noise``
        spreads of noise seeded by the token's name."""
        super().grow(task)
        self.lm.add_special_tokens([GEN])
        if self.config.task_tokens:
            self.lm.add_special_tokens(
                [task_gen_token(task.name)], init_from=GEN, noise=self.config.task_token_noise
            )

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        params = self.learner.default_trainable()
        if self.learner.lora is not None:
            params += self.lm.special_token_tables()
        return iter(params)

    def undecayed(self) -> frozenset[int]:
        if self.learner.lora is None:
            return frozenset()
        return frozenset(id(t) for t in self.lm.embedding_tables())

    def gen_id(self, task_name: str | None) -> int:
        token = task_gen_token(task_name) if self.config.task_tokens and task_name else GEN
        return self.lm.tokenizer.convert_tokens_to_ids(token)

    def gen_prompt(self, task_name: str | None) -> list[int]:
        """What precedes a task's LM rows and prompts its samples: its GEN, after the start token."""
        gen = self.gen_id(task_name)
        return [gen] if self.start_id is None else [self.start_id, gen]

    def _with_lm(self, row: Row, task_name: str | None) -> Row:
        return {**row, "paired": [lm_row(row, self.gen_prompt(task_name))]} if self.config.lm_weight else row

    def loss(self, batch: dict[str, Any], output: Any, step: StepInfo) -> torch.Tensor:
        """QA loss + λ · LM loss, each the mean over its own tokens (the learner reports both)."""
        return output.group_losses[0] + self.config.lm_weight * output.group_losses[1]

    # ---- data --------------------------------------------------------------------------------
    def before_task(self, task: Task, rows: list[Row]) -> list[Row]:
        stage = len(self.tasks) - 1
        own = [self._with_lm(r, task.name) for r in rows]
        old = [t.name for t in self.tasks[:-1]]
        per_task = self.config.task_tokens or self.config.real_samples
        quota = replay_quota(len(rows), self.config.gamma, old, per_task)
        if not quota:
            return own
        if self.config.real_samples:
            return own + self._real_replay(quota, stage, task)
        return own + self._pseudo_replay(quota, stage, task)

    def _real_replay(self, quota: dict[str | None, int], stage: int, task: Task) -> list[Row]:
        """LAMOL_real: as many real examples of each old task as would have been generated."""
        rng = random.Random(f"lamol-real:{self.ctx.seed}:{stage}")
        out: list[Row] = []
        kept: Counter[str] = Counter()
        shown: list[dict[str, Any]] = []
        for name, n in quota.items():
            if n <= 0:  # fewer samples than old tasks: the later ones get none
                continue
            old = next(t for t in self.tasks if t.name == name)
            pool = old.split("train")
            for row in self.lm.encode(old, rng.sample(pool, min(n, len(pool)))):
                out.append(self._with_lm({**row, "replayed": True}, name))
                kept[str(name)] += 1
                if len(shown) < self.config.show_examples:
                    shown.append({"task": name, "text": self.lm.tokenizer.decode(row["input_ids"])})
        reasons = {str(k): [KEPT] * kept[str(k)] for k in quota}
        stats = sample_stats(quota, reasons, kept, 0, 0.0)
        self._record(stage, task, {"mode": "real", **stats, "examples": shown}, [])
        return out

    def _pseudo_replay(self, quota: dict[str | None, int], stage: int, task: Task) -> list[Row]:
        cfg, tok = self.config, self.lm.tokenizer
        sampling = SamplingConfig(
            top_k=cfg.top_k,
            temperature=cfg.temperature,
            max_length=cfg.max_gen_length
            or min(self.lm.context_length, 2 * self.lm.max_length) - len(self.gen_prompt(None)),
            batch_size=cfg.gen_batch_size,
        )
        labels = {name: name if name is not None else GEN for name in quota}
        raw, run = self._generate(quota, labels, sampling, stage, task)

        gen_ids = {self.gen_id(t.name) for t in self.tasks} | {self.gen_id(None)}
        old_tasks = self.tasks[:-1]
        rows: list[Row] = []
        reasons: dict[str, list[str]] = {}
        kept_by_task: Counter[str] = Counter()
        flags_of_kept: Counter[str] = Counter()
        kept_lines: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        n_tokens = 0
        for name, label in labels.items():
            reasons[label] = []
            for ids in raw[label]:
                n_tokens += generated_length(ids, self.lm.eos_id)
                parsed, why, flags = parse_sample(
                    ids,
                    self.lm.ans_id,
                    self.lm.eos_id,
                    strict=cfg.strict,
                    forbidden=gen_ids,
                    max_length=self.lm.max_length - len(self.gen_prompt(name)),  # its LM row adds them
                )
                reasons[label].append(why)
                if parsed is None:
                    if len(rejected) < cfg.show_examples:
                        real = ids[: generated_length(ids, self.lm.eos_id)]  # without the padding
                        rejected.append({"asked": label, "reason": why, "text": tok.decode(real)})
                    continue
                text = tok.decode(parsed.ids)
                owner = name if name is not None else attribute(text, old_tasks)
                index = self.lm.task_index(owner) if owner in {t.name for t in old_tasks} else stage
                row = {**qa_row(parsed, index), "replayed": True, "pseudo": True}
                rows.append(self._with_lm(row, name))
                kept_by_task[owner] += 1
                flags_of_kept.update(flags)
                kept_lines.append({"asked": label, "task": owner, "text": text, "ids": parsed.ids})
        stats = {
            "mode": "generated",
            "gamma": cfg.gamma,
            "task_tokens": cfg.task_tokens,
            "cache": run["cache"],
            "cache_key": run["key"],
            "strict": list(cfg.strict),
            **sample_stats(quota, reasons, kept_by_task, n_tokens, run["seconds"], flags_of_kept),
            "examples": [{k: v for k, v in line.items() if k != "ids"} for line in kept_lines][
                : cfg.show_examples
            ],
            "rejected_examples": rejected,
        }
        self._record(stage, task, stats, kept_lines)
        return rows

    def _generate(
        self,
        quota: dict[str | None, int],
        labels: dict[str | None, str],
        sampling: SamplingConfig,
        stage: int,
        task: Task,
    ) -> tuple[dict[str, list[list[int]]], dict[str, Any]]:
        """Sample every share of the quota, or reuse the cached ids when all that produced them matches."""
        cfg = self.config
        seed = self.ctx.seed * 1_000_003 + 7919 * (stage + 1)
        folder = (
            (Path(cfg.cache_dir).expanduser() if cfg.cache_dir else self.ctx.stage_dir(stage, task.name))
            if cfg.cache
            else None
        )
        cache = SampleCache(folder) if folder is not None else None
        parts: dict[str, Any] = {}
        key = None
        if cache is not None:
            parts = {
                "format": CACHE_FORMAT,
                "model": model_fingerprint(self.lm),
                "vocab": len(self.lm.tokenizer),
                "gamma": cfg.gamma,
                "task_tokens": cfg.task_tokens,
                "quota": {labels[k]: n for k, n in quota.items()},
                "prompts": {labels[k]: self.gen_prompt(k) for k in quota},
                "seed": seed,
                "sampling": asdict(sampling),
            }
            key = cache.key(**parts)
            raw = cache.load(key, parts)
            if raw is not None:
                return raw, {"cache": "hit", "key": key, "seconds": 0.0}
        start = time.perf_counter()
        prompts = [self.gen_prompt(name) for name, n in quota.items() for _ in range(n)]
        samples = iter(generate(self.lm, prompts, sampling, seed))  # all old tasks in shared batches
        raw = {labels[name]: [next(samples) for _ in range(n)] for name, n in quota.items()}
        seconds = time.perf_counter() - start
        if cache is not None and key is not None and self.ctx.is_main:
            cache.save(key, parts, raw)
        return raw, {"cache": "miss" if cache else "off", "key": key, "seconds": seconds}

    def _record(self, stage: int, task: Task, stats: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        """Log the stage's replay and keep the samples and stats in the stage folder."""
        log.info(
            "stage %d/%s: replaying %d %s samples of %d requested (rejection rate %.1f%%, share %s)%s",
            stage + 1,
            task.name,
            stats["kept"],
            stats["mode"],
            stats["requested"],
            100 * stats["rejection_rate"],
            {k: round(v, 2) for k, v in stats["share_per_task"].items()},
            f", {stats['tokens_per_s']:.0f} tokens/s" if stats.get("tokens_per_s") else "",
        )
        summary = {k: v for k, v in stats.items() if k not in ("examples", "rejected_examples")}
        self.history.append({"stage": stage + 1, "task": task.name, **summary})
        folder = self.ctx.stage_dir(stage, task.name)
        if folder is None or not self.ctx.is_main:
            return
        write_json(folder / "replay_stats.json", {"stage": stage + 1, "task": task.name, **stats})
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        write_text(folder / "pseudo_samples.jsonl", text)

    def report_tables(self) -> list[dict[str, Any]]:
        """Per stage: samples asked, kept, rejected by reason, and what a stricter check would drop."""
        stages = [h for h in self.history if "requested" in h]
        if not stages:
            return []
        columns = [
            "stage",
            "task",
            "mode",
            "asked",
            "kept",
            "kept %",
            "rejected by reason",
            "kept, strict would reject",
        ]
        rows = [
            [
                h["stage"],
                h["task"],
                h["mode"],
                h["requested"],
                h["kept"],
                100 * h.get("kept_share", 1 - h["rejection_rate"]),
                h.get("rejected_by_reason", {}),
                {k: v for k, v in h.get("kept_but_strict_would_reject", {}).items() if v},
            ]
            for h in stages
        ]
        note = (
            "Kept: exactly one ANS (the paper's rule)"
            + (f", and passes {', '.join(self.config.strict)}" if self.config.strict else "")
            + ". Examples of each stage's samples are in stages/*/replay_stats.json."
        )
        plot = {"x": "stage", "y": "kept %", "ylabel": "pseudo-samples kept (%)"}
        return [
            {
                "title": "LAMOL pseudo-samples per stage",
                "columns": columns,
                "rows": rows,
                "note": note,
                "plot": plot,
            }
        ]

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"history": json.dumps(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = json.loads(state.get("history", "[]"))
