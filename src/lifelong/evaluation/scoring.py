"""Score one task's predictions: the numbers that fill one cell of each score matrix.

Scores are fractions in [0, 1]. Classification uses scikit-learn; QA uses the SQuAD v1.1 answer
normalisation so numbers are comparable with the papers; DST lives in its own module.
"""

from __future__ import annotations

import functools
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from lifelong.data.task import Example, Task
from lifelong.errors import ConfigError, DataError
from lifelong.evaluation.dst import score_dst

METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "qa": ("em", "f1", "rouge_l"),
    "dst": ("ds_em", "joint_goal_em", "turn_request_em"),
}
"""The keys ``score_task`` returns for each kind; a task's primary metric must be one of them."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


# ---- QA answer matching (SQuAD v1.1) ------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (SQuAD v1.1)."""
    text = text.lower().translate(_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(golds: Sequence[str] | str) -> Sequence[str]:
    # a bare string is one answer, not a sequence of characters; no answer means "the empty answer"
    if isinstance(golds, str):
        return (golds,)
    return golds if len(golds) else ("",)


def exact_match(pred: str, golds: Sequence[str] | str) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    pred_norm = normalize_answer(pred)
    return float(any(pred_norm == normalize_answer(g) for g in _golds(golds)))


def _f1_one(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # both empty is a perfect match; one empty is a miss (SQuAD v1.1 would score both-empty 0)
        return float(pred_tokens == gold_tokens)
    n_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if n_same == 0:
        return 0.0
    precision = n_same / len(pred_tokens)
    recall = n_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(pred: str, golds: Sequence[str] | str) -> float:
    """Bag-of-tokens F1 between the normalised prediction and the best-matching gold answer."""
    pred_tokens = normalize_answer(pred).split()
    return max(_f1_one(pred_tokens, normalize_answer(g).split()) for g in _golds(golds))


def rouge_l(pred: str, golds: Sequence[str] | str) -> float:
    """ROUGE-L F-measure (Google's ``rouge-score``) against the best-matching gold answer: the metric of
    free-text answers in the LoRA-family papers."""
    return max(_rouge_l_scorer().score(g, pred)["rougeL"].fmeasure for g in _golds(golds))


@functools.cache
def _rouge_l_scorer() -> Any:
    """One scorer for the process: building it logs a line and costs more than scoring an answer."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


# ---- per-kind scorers ---------------------------------------------------------------------------
def _score_classification(task: Task, examples: list[Example], predictions: list[str]) -> dict[str, float]:
    golds = []
    for i, ex in enumerate(examples):
        if ex.label is None:
            raise DataError(f"task {task.name!r}: example {i} has no label to score against")
        golds.append(ex.label)
    # a prediction outside the label set never equals a gold label, so it just counts as wrong
    labels = list(task.labels) if task.labels else sorted(set(golds))
    return {
        "accuracy": float(accuracy_score(golds, predictions)),
        "macro_f1": float(f1_score(golds, predictions, average="macro", labels=labels, zero_division=0)),
    }


def _score_qa(task: Task, examples: list[Example], predictions: list[str]) -> dict[str, float]:
    em = [exact_match(p, ex.answers) for ex, p in zip(examples, predictions, strict=True)]
    f1 = [token_f1(p, ex.answers) for ex, p in zip(examples, predictions, strict=True)]
    rl = [rouge_l(p, ex.answers) for ex, p in zip(examples, predictions, strict=True)]
    return {"em": sum(em) / len(em), "f1": sum(f1) / len(f1), "rouge_l": sum(rl) / len(rl)}


def score_task(task: Task, examples: list[Example], predictions: list[str]) -> dict[str, float]:
    """All metrics of ``task``'s kind for these predictions (fractions in [0, 1])."""
    if len(examples) != len(predictions):
        raise ValueError(f"task {task.name!r}: {len(examples)} examples but {len(predictions)} predictions")
    if not examples:
        raise DataError(f"task {task.name!r}: no examples to score")
    if task.kind == "classification":
        return _score_classification(task, examples, predictions)
    if task.kind == "qa":
        return _score_qa(task, examples, predictions)
    if task.kind == "dst":
        return score_dst(examples, predictions)
    if task.kind == "corpus":
        if task.end_task is None:
            raise ConfigError(
                f"task {task.name!r} is a corpus task without an end task: there are no answers to score"
            )
        return score_task(task.end_task, examples, predictions)
    raise ConfigError(f"task {task.name!r} has unknown kind {task.kind!r}; known: {sorted(METRIC_KEYS)}")


def primary_metric(task: Task) -> str:
    """The key of ``task``'s headline metric, checked against what its kind actually produces."""
    if task.kind == "corpus":
        return task.metric  # corpus tasks are scored elsewhere (end task, perplexity): any key goes
    if task.kind not in METRIC_KEYS:
        raise ConfigError(f"task {task.name!r} has unknown kind {task.kind!r}; known: {sorted(METRIC_KEYS)}")
    keys = METRIC_KEYS[task.kind]
    if task.metric not in keys:
        raise ConfigError(
            f"task {task.name!r}: metric {task.metric!r} is not produced for {task.kind} tasks; "
            f"choose one of {list(keys)}"
        )
    return task.metric
