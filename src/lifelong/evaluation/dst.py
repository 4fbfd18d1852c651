"""decaNLP's dialogue-state metric dsEM: the mean of joint-goal and turn-request exact match.

A prediction is a state change in the format of :func:`lifelong.data.woz.state_change_text`. The
predicted belief state is accumulated over a dialogue's turns (reset at every dialogue boundary), so
one wrong change keeps costing joint-goal matches until the slot is set right again.

Two deliberate differences from the decaNLP script: turns are ordered numerically (decaNLP sorted
``"dialogue_turn"`` strings, so turn 10 came before turn 2) and requests are compared as sets. When
the previous turn of a dialogue is not among the scored examples (a subsampled test split), the
accumulation starts from the gold state before the turn, so a missing turn costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifelong.data.task import Example


def _clean(text: str) -> str:
    return " ".join(text.lower().replace('"', "").replace("'", "").split())


def parse_state_change(text: str) -> tuple[dict[str, str], frozenset[str]]:
    """``"food: chinese, area: east; phone"`` -> ({food: chinese, area: east}, {phone}).

    Text without ``;`` is no valid change: nothing informed, nothing requested (as in decaNLP).
    """
    text = _clean(text)
    if ";" not in text:
        return {}, frozenset()
    inform_part, request_part = text.split(";", 1)
    inform: dict[str, str] = {}
    for item in inform_part.split(","):
        if ":" in item:
            slot, value = item.split(":", 1)
            if slot.strip():
                inform[slot.strip()] = value.strip()
    requests = frozenset(r.strip() for r in request_part.replace(";", ",").split(",") if r.strip())
    return inform, requests


def _state(raw: Any) -> dict[str, str]:
    return {_clean(str(k)): _clean(str(v)) for k, v in dict(raw or {}).items()}


def score_dst(examples: Sequence[Example], predictions: Sequence[str]) -> dict[str, float]:
    """``ds_em`` = (joint_goal_em + turn_request_em) / 2, all fractions in [0, 1].

    Examples carry ``meta`` from :func:`lifelong.data.woz.load_woz`; without a dialogue id, every
    example is a one-turn dialogue scored from its gold answer text.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    if not examples:
        raise ValueError("no examples to score")

    def position(i: int) -> tuple[str, int, int]:
        meta = examples[i].meta
        dialogue = meta.get("dialogue")
        return (str(dialogue) if dialogue is not None else f"#{i}", int(meta.get("turn", 0)), i)

    joint = request = 0
    last: tuple[str, int, int] | None = None
    predicted: dict[str, str] = {}
    for i in sorted(range(len(examples)), key=position):
        ex, here = examples[i], position(i)
        gold_change, gold_requests = parse_state_change(ex.target)
        if last is None or (last[0], last[1] + 1) != here[:2]:  # a new dialogue, or a turn is missing
            predicted = _state(ex.meta.get("prev_belief_state"))
        pred_change, pred_requests = parse_state_change(predictions[i])
        predicted = {**predicted, **pred_change}
        if "belief_state" in ex.meta:
            gold_state = _state(ex.meta["belief_state"])
        else:
            gold_state = {**_state(ex.meta.get("prev_belief_state")), **gold_change}
        if "turn_requests" in ex.meta:
            gold_requests = frozenset(_clean(r) for r in ex.meta["turn_requests"])
        joint += predicted == gold_state
        request += pred_requests == gold_requests
        last = here
    n = len(examples)
    joint_em, request_em = joint / n, request / n
    return {
        "ds_em": (joint_em + request_em) / 2,
        "joint_goal_em": joint_em,
        "turn_request_em": request_em,
    }
