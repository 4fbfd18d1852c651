"""Readers for local data files (JSONL, CSV, TSV, JSON arrays, text, SQuAD) and Hugging Face datasets.

Every reader turns a file into a list of :class:`Example` and reports problems as ``FILE:LINE: ...``
so a user can open the file at the bad row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lifelong.data.task import Example
from lifelong.errors import ConfigError, DataError, UnknownNameError
from lifelong.io import read_text

ROW_FORMATS = ("jsonl", "csv", "tsv", "json", "txt")
SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json-lines": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".txt": "txt",
}
# Example field -> default column (the identity names)
FIELD_DEFAULTS = {
    "text": "text",
    "text_pair": "text_pair",
    "aspect": "aspect",
    "label": "label",
    "question": "question",
    "answers": "answers",
    "id": "id",
}
REQUIRED = {
    "classification": ("text", "label"),
    "qa": ("text", "question", "answers"),
    "corpus": ("text",),
}


_ROW_RANGE = re.compile(r"^(?P<file>.+)\[(?P<start>-?\d*):(?P<stop>-?\d*)\]$")


def split_row_range(path: str | os.PathLike[str]) -> tuple[Path, slice]:
    """``file.jsonl[a:b]`` -> (``file.jsonl``, rows a..b-1 by Python slice rules); a plain path -> all rows.

    Lets one file serve as two splits, e.g. XNLI's English dev: ``dev.jsonl[:1245]`` to train and
    ``dev.jsonl[1245:]`` to test. A file whose real name ends in brackets is taken as it is.
    """
    text = os.fspath(path)
    match = _ROW_RANGE.match(text)
    if match is None or Path(text).is_file():
        return Path(text), slice(None)
    start, stop = (int(match[k]) if match[k] else None for k in ("start", "stop"))
    return Path(match["file"]), slice(start, stop)


def infer_format(path: Path) -> str:
    """The row format from the file suffix (``.jsonl``/``.json-lines``, ``.csv``, ``.tsv``, ``.json``, ``.txt``)."""
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot tell the format of {path} from its suffix; set format to one of {', '.join(ROW_FORMATS)}"
        )
    return fmt


def _open(path: Path) -> io.StringIO:
    """The file's text (a leading BOM dropped, line endings kept for the csv module); a file that is
    missing, unreadable or not UTF-8 is a DataError naming it (and the line of the first bad byte)."""
    try:
        text = read_text(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return io.StringIO(text.removeprefix("\ufeff"), newline="")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: malformed JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
            yield line_no, row


def _json_array_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """A JSON file holding a list of objects; the number is the 1-based record index."""
    with _open(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of objects (one per example), got {type(data).__name__}"
        )
    for i, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: record {i}: expected a JSON object, got {type(row).__name__}")
        yield i, row


def _delimited_rows(
    path: Path, delimiter: str, columns: Sequence[str] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    # TSV files are not quoted in practice (reviews contain stray quotes), so quotes are kept as text.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with _open(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting)
        header = list(columns) if columns else None
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header is None:
                    header = [h.strip() for h in row]
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}:{reader.line_num}: expected {len(header)} columns ({', '.join(header)}), "
                        f"got {len(row)}"
                    )
                yield reader.line_num, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: malformed row: {exc}") from None


def _text_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.strip()
            if line:
                yield line_no, {"text": line}


def read_rows(
    path: str | Path, format: str | None = None, columns: Sequence[str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, row dict)`` from a JSONL, CSV, TSV, JSON-array or text file.

    CSV and TSV use their first row as header unless ``columns`` is given (headerless files).
    """
    path = Path(path)
    fmt = format or infer_format(path)
    if fmt == "jsonl":
        return _jsonl_rows(path)
    if fmt == "csv":
        return _delimited_rows(path, ",", columns)
    if fmt == "tsv":
        return _delimited_rows(path, "\t", columns)
    if fmt == "json":
        return _json_array_rows(path)
    if fmt == "txt":
        return _text_rows(path)
    raise UnknownNameError("row format", fmt, ROW_FORMATS)


def field_columns(fields: Mapping[str, str] | None) -> dict[str, str]:
    """Example field -> file column, starting from the identity names; unknown keys are a ConfigError."""
    mapping = dict(FIELD_DEFAULTS)
    for key, column in (fields or {}).items():
        if key not in FIELD_DEFAULTS:
            raise ConfigError(f"unknown field {key!r} in fields; allowed: {', '.join(FIELD_DEFAULTS)}")
        mapping[key] = str(column)
    return mapping


def _answers(value: Any, where: str) -> tuple[str, ...]:
    """Accept a string, a list of strings, SQuAD dicts or the HF ``{"text": [...]}`` form."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) and "text" in value:
        return _answers(value["text"], where)
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            text = item.get("text") if isinstance(item, Mapping) else item
            if not isinstance(text, str):
                raise DataError(f"{where}: an answer must be a string or {{'text': ...}}, got {item!r}")
            if text not in out:
                out.append(text)
        return tuple(out)
    raise DataError(f"{where}: answers must be a string or a list, got {type(value).__name__}")


def row_to_example(
    row: Mapping[str, Any],
    kind: str,
    columns: Mapping[str, str],
    where: str,
    *,
    explicit: frozenset[str] = frozenset(),
    label_map: Mapping[str, str] | None = None,
    line: int | None = None,
) -> Example:
    """Map one row to an Example. Fields in ``explicit`` were named by the user and so must be present."""
    if kind not in REQUIRED:
        raise ConfigError(f"kind {kind!r} is not read from rows (use a dedicated loader)")

    def get(key: str) -> Any:
        column = columns[key]
        if column not in row or row[column] is None:
            have = ", ".join(map(str, row)) or "nothing"
            raise DataError(f"{where}: missing field {column!r} (have: {have})")
        return row[column]

    def optional(key: str) -> Any:
        if key in explicit:
            return get(key)
        return row.get(columns[key])

    text = str(get("text"))
    if not text.strip():
        raise DataError(f"{where}: empty text in field {columns['text']!r}")
    meta: dict[str, Any] = {}
    if line is not None:
        meta["line"] = line
    row_id = row.get(columns["id"])  # ids are bookkeeping: optional even when mapped
    if row_id is not None:
        meta["id"] = row_id
    if kind == "corpus":
        return Example(text=text, meta=meta)
    if kind == "qa":
        answers = _answers(get("answers"), where)
        return Example(text=text, question=str(get("question")), answers=answers, meta=meta)
    label = str(get("label"))
    if label_map:
        label = label_map.get(label, label)
    pair = optional("text_pair")
    if pair is None:
        pair = optional("aspect")
    return Example(text=text, label=label, text_pair=None if pair is None else str(pair), meta=meta)


def check_labels(
    examples: Sequence[Example], labels: Sequence[str], path: Any, task_name: str | None
) -> None:
    """Every label must be in the task's label set; the error names the file and line of the first stray."""
    known = set(labels)
    for ex in examples:
        if ex.label is not None and ex.label not in known:
            line = ex.meta.get("line")
            where = f"{path}:{line}" if line is not None else str(path)
            task = f"task {task_name!r}'s" if task_name else "the task's"
            raise DataError(f"{where}: label {ex.label!r} is not one of {task} labels {list(labels)}")


def load_examples(
    path: str | Path,
    kind: str = "classification",
    fields: Mapping[str, str] | None = None,
    task_name: str | None = None,
    labels: Sequence[str] | None = None,
    *,
    label_map: Mapping[Any, Any] | None = None,
    format: str | None = None,
    columns: Sequence[str] | None = None,
) -> list[Example]:
    """Read a JSONL/CSV/TSV/JSON/text file into Examples, mapping columns via ``fields``.

    Classification labels are ``str()``-ed, then mapped with ``label_map``, then checked against
    ``labels`` (if given).
    """
    path = Path(path)
    mapping = field_columns(fields)
    explicit = frozenset(fields or ())
    lmap = {str(k): str(v) for k, v in label_map.items()} if label_map else None
    examples = [
        row_to_example(row, kind, mapping, f"{path}:{line}", explicit=explicit, label_map=lmap, line=line)
        for line, row in read_rows(path, format, columns)
    ]
    if labels is not None and kind == "classification":
        check_labels(examples, labels, path, task_name)
    return examples


def _squad_part(value: Any, key: str, expected: type, where: str) -> Any:
    if not isinstance(value, dict) or key not in value:
        raise DataError(f"{where}: missing {key!r} (not SQuAD v1.1 JSON)")
    item = value[key]
    if not isinstance(item, expected):
        raise DataError(f"{where}: {key!r} must be a {expected.__name__}, got {type(item).__name__}")
    return item


def load_squad(path: str | Path) -> list[Example]:
    """SQuAD v1.1 JSON -> QA examples (text = context, question, gold answers; meta: id, title)."""
    path = Path(path)
    with _open(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    articles = _squad_part(data, "data", list, str(path))
    out: list[Example] = []
    for a, article in enumerate(articles):
        where_a = f"{path}: data[{a}]"
        title = article.get("title") if isinstance(article, dict) else None
        for p, para in enumerate(_squad_part(article, "paragraphs", list, where_a)):
            where_p = f"{where_a}.paragraphs[{p}]"
            context = _squad_part(para, "context", str, where_p)
            for q, qa in enumerate(_squad_part(para, "qas", list, where_p)):
                where_q = f"{where_p}.qas[{q}]"
                question = _squad_part(qa, "question", str, where_q)
                answers = _answers(_squad_part(qa, "answers", list, where_q), where_q)
                if not answers:
                    raise DataError(f"{where_q}: no answers (SQuAD v1.1 questions all have one)")
                meta = {"id": qa.get("id", f"{a}-{p}-{q}"), "title": title}
                out.append(Example(text=context, question=question, answers=answers, meta=meta))
    return out


def load_inputs(path: str | Path) -> list[Example]:
    """Unlabelled inputs for prediction: ``text`` (required), ``text_pair``/``aspect``, ``question``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    examples = []
    for line, row in read_rows(path):
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataError(
                f"{path}:{line}: missing field 'text' (have: {', '.join(map(str, row)) or 'nothing'})"
            )
        pair = row.get("text_pair", row.get("aspect"))
        question = row.get("question")
        examples.append(
            Example(
                text=row["text"],
                text_pair=None if pair is None else str(pair),
                question=None if question is None else str(question),
                meta={"line": line},
            )
        )
    if not examples:
        raise DataError(f"{path}: no inputs")
    return examples
