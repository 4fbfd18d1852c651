"""WOZ 2.0 dialogue state tracking as decaNLP casts it to QA (McCann et al., 2018).

Every user turn is one example: the context is the user's utterance, the question asks for the
change in state, and the answer is that change as text, ``slot: value, slot: value; request, request``
(the informed slots whose value is new in this turn, then the slots the user requests now).
The gold states ride along in ``Example.meta`` so the metric can accumulate the belief state over a
dialogue (see :mod:`lifelong.evaluation.dst`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lifelong.data.task import Example
from lifelong.errors import DataError
from lifelong.io import read_text

QUESTION = "What is the change in state?"


def state_change_text(inform: dict[str, str], requests: list[str]) -> str:
    """decaNLP's answer format: ``food: chinese, area: east; phone, address`` (``;`` always present)."""
    text = ", ".join(f"{slot}: {value}" for slot, value in inform.items()) + ";"
    if requests:
        text += " " + ", ".join(requests)
    return text


def _turn_state(turn: dict[str, Any], where: str) -> tuple[dict[str, str], list[str]]:
    """The accumulated informed slots and this turn's requests, from a WOZ ``belief_state``."""
    inform: dict[str, str] = {}
    requests: list[str] = []
    for item in turn.get("belief_state") or []:
        if not isinstance(item, dict) or "slots" not in item:
            raise DataError(f"{where}: belief_state items need 'act' and 'slots'")
        for slot in item["slots"]:
            if not isinstance(slot, list | tuple) or len(slot) != 2:
                raise DataError(f"{where}: a slot must be a [name, value] pair, got {slot!r}")
            name, value = (" ".join(str(s).split()) for s in slot)
            if item.get("act") == "request":
                if value not in requests:
                    requests.append(value)
            else:
                inform[name] = value
    return inform, requests


def load_woz(path: str | Path) -> list[Example]:
    """One split file of the original WOZ 2.0 JSON -> one example per user turn, in dialogue order.

    ``meta``: ``dialogue`` (id), ``turn`` (index), ``belief_state`` (informed slots after the turn),
    ``prev_belief_state`` (before it) and ``turn_requests``.
    """
    path = Path(path)
    try:
        dialogues = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(dialogues, list):
        raise DataError(f"{path}: expected the WOZ 2.0 list of dialogues, got {type(dialogues).__name__}")
    out: list[Example] = []
    for d, dialogue in enumerate(dialogues):
        where_d = f"{path}: dialogue {d}"
        if not isinstance(dialogue, dict) or not isinstance(dialogue.get("dialogue"), list):
            raise DataError(f"{where_d}: expected an object with a 'dialogue' list of turns")
        dialogue_id = dialogue.get("dialogue_idx", d)
        previous: dict[str, str] = {}
        for t, turn in enumerate(dialogue["dialogue"]):
            where = f"{where_d}, turn {t}"
            if not isinstance(turn, dict) or not isinstance(turn.get("transcript"), str):
                raise DataError(f"{where}: a turn needs a 'transcript' string")
            inform, requests = _turn_state(turn, where)
            change = {slot: value for slot, value in inform.items() if previous.get(slot) != value}
            meta = {
                "id": f"{dialogue_id}-{turn.get('turn_idx', t)}",
                "dialogue": dialogue_id,
                "turn": int(turn.get("turn_idx", t)),
                "belief_state": inform,
                "prev_belief_state": previous,
                "turn_requests": requests,
            }
            out.append(
                Example(
                    text=" ".join(turn["transcript"].split()),
                    question=QUESTION,
                    answers=(state_change_text(change, requests),),
                    meta=meta,
                )
            )
            previous = inform
    if not out:
        raise DataError(f"{path}: no dialogue turns")
    return out
