"""WOZ 2.0 loading (decaNLP format) and the dsEM metric."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lifelong.data import StreamConfig, load_stream
from lifelong.data.task import Example, Task
from lifelong.data.woz import QUESTION, load_woz, state_change_text
from lifelong.errors import DataError
from lifelong.evaluation.dst import parse_state_change, score_dst
from lifelong.evaluation.scoring import METRIC_KEYS, primary_metric, score_task

SHARED_WOZ = Path("/work/shared/data/decanlp/woz")


def turn(transcript: str, inform: list[tuple[str, str]], requests: list[str] = ()) -> dict:
    state = [{"slots": [list(s)], "act": "inform"} for s in inform]
    state += [{"slots": [["slot", r]], "act": "request"} for r in requests]
    return {"transcript": transcript, "belief_state": state, "turn_label": [], "system_transcript": ""}


DIALOGUES = [
    {
        "dialogue_idx": 7,
        "dialogue": [
            turn("I want  eritrean food.", [("food", "eritrean")]),
            turn("How about chinese?", [("food", "chinese")]),
            turn("In the east , please", [("food", "chinese"), ("area", "east")]),
            turn("Phone and address?", [("food", "chinese"), ("area", "east")], ["phone", "address"]),
        ],
    },
    {
        "dialogue_idx": 8,
        "dialogue": [
            turn("Cheap places in the north", [("pricerange", "cheap"), ("area", "north")]),
            turn("Thanks, bye", [("pricerange", "cheap"), ("area", "north")]),
        ],
    },
]


def write_woz(path: Path, dialogues=DIALOGUES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dialogues))
    return path


@pytest.fixture
def examples(tmp_path) -> list[Example]:
    return load_woz(write_woz(tmp_path / "test.json"))


# ---- loading ---------------------------------------------------------------------------------------
def test_one_example_per_user_turn_with_the_state_change(examples):
    assert [ex.target for ex in examples] == [
        "food: eritrean;",
        "food: chinese;",
        "area: east;",
        "; phone, address",
        "pricerange: cheap, area: north;",
        ";",
    ]
    assert examples[0].text == "I want eritrean food."  # whitespace normalised
    assert all(ex.question == QUESTION for ex in examples)


def test_meta_carries_dialogue_turn_and_gold_states(examples):
    ex = examples[3]
    assert ex.meta["dialogue"] == 7 and ex.meta["turn"] == 3 and ex.meta["id"] == "7-3"
    assert ex.meta["belief_state"] == {"food": "chinese", "area": "east"}
    assert ex.meta["prev_belief_state"] == {"food": "chinese", "area": "east"}
    assert ex.meta["turn_requests"] == ["phone", "address"]
    assert examples[4].meta["prev_belief_state"] == {}  # a new dialogue starts empty


def test_state_change_text_round_trips():
    text = state_change_text({"food": "modern european", "area": "dontcare"}, ["phone"])
    assert text == "food: modern european, area: dontcare; phone"
    assert parse_state_change(text) == ({"food": "modern european", "area": "dontcare"}, frozenset({"phone"}))
    assert parse_state_change("food chinese") == ({}, frozenset())  # no ';': not a state change


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="list of dialogues"):
        load_woz(write_woz(tmp_path / "a.json", {"dialogue": []}))
    with pytest.raises(DataError, match="transcript"):
        load_woz(write_woz(tmp_path / "b.json", [{"dialogue": [{"belief_state": []}]}]))
    with pytest.raises(DataError, match="not found"):
        load_woz(tmp_path / "missing.json")


def test_decanlp_stream_loads_woz_with_ds_em(tmp_path):
    for split in ("train", "dev", "test"):
        write_woz(tmp_path / "decanlp" / "woz" / f"{split}.json")
    task = load_stream(StreamConfig(benchmark="decanlp", tasks=["woz"]), tmp_path).tasks[0]
    assert task.kind == "dst" and task.metric == "ds_em" and primary_metric(task) == "ds_em"
    assert len(task.split("test")) == 6
    assert set(score_task(task, task.split("test"), [ex.target for ex in task.split("test")])) == set(
        METRIC_KEYS["dst"]
    )


# ---- dsEM ------------------------------------------------------------------------------------------
def test_gold_predictions_score_one(examples):
    assert score_dst(examples, [ex.target for ex in examples]) == {
        "ds_em": 1.0,
        "joint_goal_em": 1.0,
        "turn_request_em": 1.0,
    }


def test_a_wrong_change_persists_in_the_accumulated_state(examples):
    preds = [ex.target for ex in examples]
    preds[1] = "food: korean;"  # wrong at turn 1: turns 1, 2 and 3 miss the joint goal
    scores = score_dst(examples, preds)
    assert scores["joint_goal_em"] == pytest.approx(3 / 6)
    assert scores["turn_request_em"] == 1.0
    preds[2] = "food: chinese, area: east;"  # setting the slot right again repairs later turns
    assert score_dst(examples, preds)["joint_goal_em"] == pytest.approx(5 / 6)


def test_state_resets_at_dialogue_boundaries(examples):
    preds = [ex.target for ex in examples]
    preds[3] = "area: west; phone, address"  # the last turn of dialogue 7 is wrong ...
    scores = score_dst(examples, preds)
    assert scores["joint_goal_em"] == pytest.approx(5 / 6)  # ... and dialogue 8 is not affected


def test_requests_are_their_own_component(examples):
    preds = [ex.target for ex in examples]
    preds[3] = "; address, phone"  # same set, other order: right
    assert score_dst(examples, preds)["turn_request_em"] == 1.0
    preds[3] = "; phone"
    scores = score_dst(examples, preds)
    assert scores["turn_request_em"] == pytest.approx(5 / 6) and scores["joint_goal_em"] == 1.0
    assert scores["ds_em"] == pytest.approx((1.0 + 5 / 6) / 2)


def test_invalid_prediction_changes_nothing(examples):
    preds = [ex.target for ex in examples]
    preds[5] = "thanks"  # the gold change is empty anyway
    assert score_dst(examples, preds)["ds_em"] == 1.0
    preds[0] = "eritrean"  # no ';' -> nothing informed: turn 0 misses
    assert score_dst(examples, preds)["joint_goal_em"] == pytest.approx(5 / 6)


def test_order_of_examples_does_not_matter(examples):
    preds = [ex.target for ex in examples]
    preds[1] = "food: korean;"
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    shuffled = score_dst([examples[i] for i in order], [preds[i] for i in order])
    assert shuffled == score_dst(examples, preds)


def test_missing_previous_turn_starts_from_the_gold_state(examples):
    kept = [examples[i] for i in (0, 2, 3, 5)]  # a subsampled test split
    assert score_dst(kept, [ex.target for ex in kept])["joint_goal_em"] == 1.0


def test_examples_without_meta_are_single_turns():
    exs = [Example("a", answers=("food: thai;",)), Example("b", answers=("; phone",))]
    assert score_dst(exs, ["food: thai;", "; phone"])["ds_em"] == 1.0
    assert score_dst(exs, ["food: thai;", ";"])["turn_request_em"] == 0.5


def test_score_task_delegates_for_dst(examples):
    task = Task(name="woz", kind="dst", metric="ds_em")
    assert score_task(task, examples, [ex.target for ex in examples])["ds_em"] == 1.0


@pytest.mark.skipif(not (SHARED_WOZ / "test.json").is_file(), reason="shared WOZ data not available")
def test_shared_woz_files():
    examples = load_woz(SHARED_WOZ / "test.json")
    assert len(examples) == 1646
    assert score_dst(examples, [ex.target for ex in examples])["ds_em"] == 1.0
    assert all(";" in ex.target for ex in examples)
