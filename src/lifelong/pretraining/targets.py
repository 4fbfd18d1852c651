"""The target languages and zero-shot tasks of the active-forgetting pipeline, and where their files
sit; a module of names only, so the command line can list them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("de", "es", "fr", "ru", "zh", "ar", "hi", "sw")


@dataclass(frozen=True)
class ZeroShotTask:
    """Where a cross-lingual task's files sit: ``multilingual/<folder>/<lang>/<file>`` (row ranges allowed)."""

    folder: str
    train: str  # English rows that task adaptation trains on
    test: str  # every language's test rows (English included)
    dev: str | None = None  # English rows scored after task adaptation, if present


ZERO_SHOT_TASKS = {
    "sib200": ZeroShotTask("sib200", "train.jsonl", "test.jsonl", "dev.jsonl"),
    # The shared data has XNLI dev splits only; they are row-by-row translations of one another, so
    # English rows 0..1244 train and every language is tested on rows 1245.. (415 per label in each).
    "xnli": ZeroShotTask("xnli", "dev.jsonl[:1245]", "dev.jsonl[1245:]"),
}
