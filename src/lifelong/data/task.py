"""Tasks and examples: the unit a continual learner sees, one after another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lifelong.errors import DataError

TaskKind = Literal["classification", "qa", "corpus", "dst"]
Scenario = Literal["task", "domain", "class"]
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Example:
    """One example of any kind.

    classification: ``text`` (+ ``text_pair`` for pairs and aspects) -> ``label``;
    qa: ``text`` is the context, ``question``, gold ``answers``;
    corpus: ``text`` only; dst: ``text`` is the dialogue context, ``answers[0]`` the state change,
    ``meta`` holds the dialogue id, turn index and gold states.
    """

    text: str
    label: str | None = None
    text_pair: str | None = None
    question: str | None = None
    answers: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def target(self) -> str:
        """The gold output as text (the label name, or the first answer)."""
        if self.label is not None:
            return self.label
        return self.answers[0] if self.answers else ""


@dataclass
class Task:
    """A named task with its splits, label set, metric and the prompt used to cast it to text-to-text.

    ``source`` is the (JSON-able) spec the task was loaded from, so a saved learner can reload its data.
    ``end_task`` is a labelled task attached to a corpus task (CPT evaluates a domain by its end task).
    """

    name: str
    kind: TaskKind
    splits: dict[str, list[Example]] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    metric: str = "accuracy"
    question: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    end_task: Task | None = None

    @property
    def eval_only(self) -> bool:
        """A held-out probe: scored at every stage, never trained."""
        return bool(self.source.get("eval_only"))

    def split(self, name: str) -> list[Example]:
        """A split that must exist and be non-empty."""
        rows = self.splits.get(name)
        if not rows:
            where = self.source.get("path", self.source.get("benchmark", "built-in"))
            raise DataError(f"task {self.name!r}: split {name!r} is empty or missing (source: {where})")
        return rows

    def eval_split(self) -> str:
        """Held-out split used for the score matrix: test if present, else dev. Never train."""
        for name in ("test", "dev"):
            if self.splits.get(name):
                return name
        raise DataError(f"task {self.name!r} has no non-empty test or dev split to evaluate on")

    def spec(self) -> dict[str, Any]:
        """What a saved learner keeps to rebuild its structure (heads, tokens) without the data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "labels": list(self.labels),
            "metric": self.metric,
            "question": self.question,
            "source": self.source,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Task:
        return cls(
            name=spec["name"],
            kind=spec["kind"],
            labels=tuple(spec.get("labels", ())),
            metric=spec.get("metric", "accuracy"),
            question=spec.get("question"),
            source=spec.get("source", {}),
        )

    def check_label(self, label: str, where: str) -> None:
        if self.labels and label not in self.labels:
            raise DataError(
                f"{where}: label {label!r} is not one of task {self.name!r}'s labels {list(self.labels)}"
            )
