"""The task spec: one dataclass that says which keys a task may have, their types and what they mean.

It is the single source for the checks (:func:`lifelong.data.benchmarks.validate_task_spec`), for
``lifelong list --spec`` and for the JSON schema ``lifelong list --spec --json`` prints. Specs stay
plain mappings in configs and run folders; this class describes them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

KINDS = ("classification", "qa", "corpus", "dst")
FORMATS = ("jsonl", "csv", "tsv", "json", "txt", "squad", "woz", "hf")
SPLIT_NAMES = ("train", "dev", "test")
FIELD_KEYS = ("text", "text_pair", "aspect", "label", "question", "answers", "id")


def _doc(text: str, default: Any = None) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class TaskSpec:
    """One task of a stream (``stream.tasks``) or of a benchmark YAML (``tasks: {name: spec}``)."""

    name: str | None = _doc("the task's name (stream.tasks only; a benchmark's tasks are named by their key)")
    kind: Literal["classification", "qa", "corpus", "dst"] | None = _doc(
        "classification (default) | qa | corpus | dst"
    )
    path: str | dict[str, str] | None = _doc(
        "a folder with train/dev/test files, one file (its split from its name, or `splits: [test]`), "
        "a mapping split -> file, or file.jsonl[a:b] for rows a..b-1; relative paths are under the data "
        "directory"
    )
    format: Literal["jsonl", "csv", "tsv", "json", "txt", "squad", "woz", "hf"] | None = _doc(
        "jsonl | csv | tsv | json | txt | squad | woz | hf (default: from the file suffix)"
    )
    fields: dict[str, str] | None = _doc(
        "example field -> file column (fields: text, text_pair, aspect, label, question, answers, id)"
    )
    columns: list[str] | None = _doc("column names of a headerless CSV/TSV file")
    labels: list[Any] | None = _doc(
        "the label set, in output order (default: the labels found in the first split read)"
    )
    label_map: dict[Any, Any] | None = _doc("file value -> label name (e.g. {1: positive, 0: negative})")
    question: str | None = _doc("the question a text-to-text model is asked (classification cast to QA)")
    metric: str | None = _doc(
        "the task's primary metric (default: accuracy; f1 for qa, perplexity for corpus, ds_em for dst)"
    )
    splits: list[str] | dict[str, str] | None = _doc(
        "which splits to read (default train, dev, test; for format hf: split -> hub split name)"
    )
    hf_config: str | None = _doc("the dataset configuration of a Hugging Face dataset (format hf)")
    end_task: dict[str, Any] | None = _doc(
        "corpus tasks: a labelled task spec that scores the domain by fine-tuning a copy"
    )
    test_fraction: float | None = _doc(
        "carve this share of the train rows into the test split (seeded by the task name)"
    )
    dev_fraction: float | None = _doc(
        "carve this share of the train rows into the dev split (seeded by the task name)"
    )
    eval_only: bool | None = _doc(
        "true: a held-out probe, scored at every stage and never trained (needs a test or dev split only)"
    )
    description: str | None = _doc("free text")


def spec_fields() -> dict[str, tuple[Any, str]]:
    """Key -> (type hint, meaning), in the order the dataclass declares them."""
    hints = typing.get_type_hints(TaskSpec)
    return {f.name: (hints[f.name], f.metadata["help"]) for f in dataclasses.fields(TaskSpec)}


def _json_type(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_json_type(a) for a in args if a is not type(None)]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is list or hint is list:
        return {"type": "array", **({"items": _json_type(args[0])} if args and args[0] is not Any else {})}
    if origin is dict or hint is dict:
        return {"type": "object"}
    names = {str: "string", bool: "boolean", int: "integer", float: "number"}
    return {"type": names[hint]} if hint in names else {}


def json_schema() -> dict[str, Any]:
    """The task spec as a JSON schema (draft 2020-12), for editors and other tools."""
    properties = {
        key: {**_json_type(hint), "description": meaning} for key, (hint, meaning) in spec_fields().items()
    }
    properties["end_task"] = {"$ref": "#", "description": properties["end_task"]["description"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lifelong task spec",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
