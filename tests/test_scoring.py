"""Per-task scoring: classification via scikit-learn, QA with SQuAD normalisation, dispatch by kind."""

import pytest

from lifelong.data.task import Example, Task
from lifelong.errors import ConfigError, DataError
from lifelong.evaluation import scoring
from lifelong.evaluation.scoring import (
    exact_match,
    normalize_answer,
    primary_metric,
    score_task,
    token_f1,
)


def sentiment() -> Task:
    return Task(name="sentiment", kind="classification", labels=("pos", "neg", "neu"))


def qa_task() -> Task:
    return Task(name="squad", kind="qa", metric="f1")


# ---- answer normalisation ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Cat's hat!", "cats hat"),
        ("An apple, a day.", "apple day"),
        ("theater then another", "theater then another"),  # articles only as whole words
        ("  Paris\n\tFrance ", "paris france"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_takes_the_best_gold():
    assert exact_match("the Eiffel Tower.", ["Paris", "Eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel tower"]) == 0.0
    assert exact_match("paris", "Paris") == 1.0  # a bare string is one answer


def test_token_f1_by_hand():
    # tokens: [big, red, dog] vs [red, dog, barks]: 2 shared, p = r = 2/3
    assert token_f1("the big red dog", ["red dog barks"]) == pytest.approx(2 / 3)
    # repeated tokens count once each: [x, x, y] vs [x, y]: 2 shared, p = 2/3, r = 1 -> 0.8
    assert token_f1("x x y", ["x y"]) == pytest.approx(0.8)
    # max over golds
    assert token_f1("red dog", ["cat", "red dog barks"]) == pytest.approx(0.8)
    assert token_f1("cat", ["dog"]) == 0.0


def test_token_f1_empty_answers():
    assert token_f1("", [""]) == 1.0
    assert token_f1("the", ["a"]) == 1.0  # both normalise to nothing
    assert token_f1("", ["dog"]) == 0.0
    assert token_f1("dog", []) == 0.0


# ---- classification -----------------------------------------------------------------------------
def test_classification_by_hand():
    examples = [
        Example("a", label="pos"),
        Example("b", label="pos"),
        Example("c", label="neg"),
        Example("d", label="neu"),
    ]
    preds = ["pos", "neg", "neg", "banana"]  # not a label: simply wrong
    scores = score_task(sentiment(), examples, preds)
    assert set(scores) == {"accuracy", "macro_f1"}
    assert scores["accuracy"] == pytest.approx(0.5)
    # pos: p=1, r=1/2 -> 2/3; neg: p=1/2, r=1 -> 2/3; neu: 0
    assert scores["macro_f1"] == pytest.approx(4 / 9)
    assert all(type(v) is float for v in scores.values())


def test_classification_perfect():
    examples = [Example("a", label="pos"), Example("b", label="neg"), Example("c", label="neu")]
    assert score_task(sentiment(), examples, ["pos", "neg", "neu"]) == {"accuracy": 1.0, "macro_f1": 1.0}


def test_classification_without_label_set_uses_gold_labels():
    task = Task(name="t", kind="classification")
    examples = [Example("a", label="x"), Example("b", label="y")]
    assert score_task(task, examples, ["x", "x"]) == {"accuracy": 0.5, "macro_f1": pytest.approx((2 / 3) / 2)}


def test_classification_needs_gold_labels():
    with pytest.raises(DataError, match="no label"):
        score_task(sentiment(), [Example("a")], ["pos"])


# ---- qa ------------------------------------------------------------------------------------------
def test_qa_by_hand():
    examples = [
        Example("ctx", question="q1", answers=("Eiffel Tower", "the tower")),
        Example("ctx", question="q2", answers=("red dog barks",)),
    ]
    scores = score_task(qa_task(), examples, ["the eiffel tower", "big red dog"])
    assert scores["em"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx((1.0 + 2 / 3) / 2)


# ---- dispatch and errors ------------------------------------------------------------------------
def test_length_mismatch():
    with pytest.raises(ValueError, match="2 examples but 1 predictions"):
        score_task(sentiment(), [Example("a", label="pos"), Example("b", label="neg")], ["pos"])


def test_empty_examples_name_the_task():
    with pytest.raises(DataError, match="sentiment"):
        score_task(sentiment(), [], [])


def test_dst_is_delegated(monkeypatch):
    calls = []

    def fake_score_dst(examples, predictions):
        calls.append((examples, predictions))
        return {"ds_em": 0.25}

    monkeypatch.setattr(scoring, "score_dst", fake_score_dst)
    task = Task(name="woz", kind="dst", metric="ds_em")
    examples = [Example("turn", answers=("hotel-area=north",))]
    assert score_task(task, examples, ["x"]) == {"ds_em": 0.25}
    assert calls == [(examples, ["x"])]


def test_corpus_is_scored_by_its_end_task():
    task = Task(name="domain", kind="corpus", metric="accuracy", end_task=sentiment())
    assert score_task(task, [Example("a", label="pos")], ["pos"])["accuracy"] == 1.0
    with pytest.raises(ConfigError, match="no end task|without an end task"):
        score_task(Task(name="raw", kind="corpus"), [Example("a")], ["a"])


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown kind"):
        score_task(Task(name="t", kind="regression"), [Example("a")], ["a"])  # type: ignore[arg-type]


# ---- primary metric -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "metric"),
    [
        ("classification", "accuracy"),
        ("classification", "macro_f1"),
        ("qa", "em"),
        ("qa", "f1"),
        ("dst", "ds_em"),
        ("corpus", "perplexity"),
    ],
)
def test_primary_metric_valid(kind, metric):
    assert primary_metric(Task(name="t", kind=kind, metric=metric)) == metric


@pytest.mark.parametrize(("kind", "metric"), [("classification", "f1"), ("qa", "accuracy"), ("dst", "jga")])
def test_primary_metric_invalid(kind, metric):
    with pytest.raises(ConfigError, match=metric):
        primary_metric(Task(name="t", kind=kind, metric=metric))


def test_rouge_l_scores_free_text_answers_by_their_longest_common_subsequence() -> None:
    from lifelong.evaluation.scoring import rouge_l

    assert rouge_l("the cat sat on the mat", ["a cat sat on a mat"]) == pytest.approx(2 / 3)
    assert rouge_l("completely different", ["a cat sat"]) == 0.0
    assert rouge_l("a cat sat", ["no", "a cat sat"]) == 1.0  # the best gold answer counts
