"""Where a file task's data lives and how its splits are read: the data directory ($LIFELONG_DATA or
--data-dir), split files found by name and suffix, each read by the loader its format needs."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lifelong.data.hub import load_hf
from lifelong.data.loaders import SUFFIX_FORMATS, infer_format, load_examples, load_squad, split_row_range
from lifelong.data.task import SPLITS, Example
from lifelong.data.woz import load_woz
from lifelong.errors import DataError

DATA_ENV = "LIFELONG_DATA"


FORMAT_SUFFIXES = {
    "jsonl": (".jsonl", ".json-lines", ".ndjson"),
    "csv": (".csv",),
    "tsv": (".tsv",),
    "json": (".json",),
    "squad": (".json",),
    "woz": (".json",),
    "txt": (".txt",),
}


ANY_SUFFIXES = tuple(SUFFIX_FORMATS)


DATA_HINT = "e.g. DATA/tc/agnews/train.jsonl"


def _missing_dir_message(tried: str, origin: str, flag: str = "--data-dir") -> str:
    return (
        f"data directory not found: {tried} (from {origin}). Set it with {flag} DIR or the "
        f"{DATA_ENV} environment variable; benchmark files go under it, {DATA_HINT}. "
        f"The built-in stream (benchmark 'builtin') needs no data."
    )


def resolve_data_dir(
    cli_value: str | Path | None, env: Mapping[str, str] | None = None, flag: str = "--data-dir"
) -> Path:
    """The data directory: the CLI value, else $LIFELONG_DATA; it must exist. ``flag`` is the option
    the calling command takes it from, so the message names the one the user can actually pass."""
    env = os.environ if env is None else env
    if cli_value:
        path, origin = Path(cli_value).expanduser(), flag
    elif env.get(DATA_ENV):
        path, origin = Path(env[DATA_ENV]).expanduser(), DATA_ENV
    else:
        raise DataError(
            f"no data directory given. Set it with {flag} DIR or the {DATA_ENV} environment variable; "
            f"benchmark files go under it, {DATA_HINT}. The built-in stream (benchmark 'builtin') needs no data."
        )
    if not path.is_dir():
        raise DataError(_missing_dir_message(str(path), origin, flag))
    return path


def env_data_dir() -> Path | None:
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def _root(data_dir: Path | None) -> Path:
    """The data dir for relative paths: the given one (checked) or $LIFELONG_DATA."""
    if data_dir is None:
        return resolve_data_dir(None)
    if not Path(data_dir).is_dir():
        raise DataError(_missing_dir_message(str(data_dir), "the data_dir argument"))
    return Path(data_dir)


def _split_files(
    name: str, spec: Mapping[str, Any], fmt: str | None, data_dir: Path | None
) -> dict[str, tuple[Path, slice]]:
    """Split -> (existing file, its rows), from a folder (train/dev/test.<suffix>), one file, or an
    explicit split -> file map; a file may name a row range, ``file.jsonl[a:b]`` (rows a..b-1)."""
    raw = spec["path"]

    def resolve(rel: str) -> tuple[Path, Path | None]:
        p = Path(rel).expanduser()
        if p.is_absolute():
            return p, None
        root = _root(data_dir)
        return root / p, root

    def missing(tried: Sequence[Path], root: Path | None) -> DataError:
        also = f" (also tried {', '.join(t.name for t in tried[1:])})" if len(tried) > 1 else ""
        hint = (
            f" The data directory is {root} (set with --data-dir or {DATA_ENV}); files go under it, {DATA_HINT}."
            if root is not None
            else ""
        )
        return DataError(f"task {name!r}: file not found: {tried[0]}{also}.{hint}")

    if isinstance(raw, Mapping):
        out = {}
        for split, rel in raw.items():
            file, rows = split_row_range(str(rel))
            path, root = resolve(str(file))
            if not path.is_file():
                raise missing([path], root)
            out[split] = (path, rows)
        return out
    file, rows = split_row_range(str(raw))
    folder, root = resolve(str(file))
    if folder.is_file():  # one file: its split is given (``splits: [test]``) or is its name (test.jsonl)
        given = list(spec.get("splits") or [])
        split = given[0] if len(given) == 1 else folder.name.split(".")[0]
        if split not in SPLITS:
            raise DataError(
                f"task {name!r}: path {folder} is a file; say which split it is (splits: [test]) or map "
                f"splits to files (path: {{train: ..., test: ...}})"
            )
        return {split: (folder, rows)}
    suffixes = FORMAT_SUFFIXES.get(fmt or "", ANY_SUFFIXES)
    wanted = list(spec.get("splits") or SPLITS)
    required = set(spec.get("splits") or ("train",))
    out = {}
    for split in wanted:
        tried = [folder / f"{split}{suffix}" for suffix in suffixes]
        found = next((p for p in tried if p.is_file()), None)
        if found is not None:
            out[split] = (found, slice(None))
        elif split in required:
            raise missing(tried, root)
    carved = spec.get("test_fraction") or spec.get("dev_fraction")
    if not spec.get("splits") and "dev" not in out and "test" not in out and not carved:
        raise missing([folder / f"test{suffixes[0]}", folder / f"dev{suffixes[0]}"], root)
    return out


def _file_format(kind: str, fmt: str | None, path: Path) -> str:
    if fmt:
        return fmt
    if kind == "dst":
        return "woz"
    if kind == "qa" and path.suffix.lower() == ".json":
        return "squad"
    return infer_format(path)


def _read_split(
    name: str, spec: Mapping[str, Any], path: Path, labels: Sequence[str] | None
) -> list[Example]:
    kind = spec.get("kind", "classification")
    fmt = _file_format(kind, spec.get("format"), path)
    if fmt == "squad":
        return load_squad(path)
    if fmt == "woz":
        return load_woz(path)
    return load_examples(
        path,
        kind,
        spec.get("fields"),
        name,
        labels,
        label_map=spec.get("label_map"),
        format=fmt,
        columns=spec.get("columns"),
    )


def _hf_name(raw: str, data_dir: Path | None) -> str:
    """A local dataset path resolved against the data dir when it exists there; a hub name unchanged."""
    p = Path(raw).expanduser()
    if p.is_absolute() or p.exists():
        return str(p)
    root = data_dir if data_dir is not None else env_data_dir()
    if root is not None and (root / p).exists():
        return str(root / p)
    return raw


def load_splits(
    name: str, spec: Mapping[str, Any], data_dir: Path | None
) -> tuple[dict[str, list[Example]], dict[str, str], list[str] | None]:
    """All splits of a file task, label-checked; returns (splits, split -> file, labels)."""
    kind = spec.get("kind", "classification")
    labels = [str(lab) for lab in spec["labels"]] if spec.get("labels") else None
    splits: dict[str, list[Example]] = {}
    where: dict[str, str] = {}
    if spec.get("format") == "hf":
        hf_name = _hf_name(str(spec["path"]), data_dir)
        for split, hf_split in dict(spec.get("splits") or {"train": "train", "test": "test"}).items():
            rows = load_hf(
                hf_name,
                hf_split,
                spec.get("fields"),
                kind,
                task_name=name,
                labels=labels,
                label_map=spec.get("label_map"),
                config_name=spec.get("hf_config"),
            )
            splits[split], where[split] = rows, f"{hf_name}[{hf_split}]"
            if labels is None and kind == "classification":
                labels = sorted({ex.label for ex in rows if ex.label is not None})
        return _carve(name, spec, splits, where), where, labels
    files = _split_files(name, spec, spec.get("format"), data_dir)
    ordered = sorted(files, key=lambda s: SPLITS.index(s) if s in SPLITS else len(SPLITS))
    for split in ordered:
        path, part = files[split]
        rows = _read_split(name, spec, path, labels)[part]
        splits[split], where[split] = (
            rows,
            f"{path}" + ("" if part == slice(None) else f"[{part.start or ''}:{part.stop or ''}]"),
        )
        # Without declared labels, the first split read (train when present) defines the label set.
        if labels is None and kind == "classification":
            labels = sorted({ex.label for ex in rows if ex.label is not None})
    return _carve(name, spec, splits, where), where, labels


def _carve(
    name: str, spec: Mapping[str, Any], splits: dict[str, list[Example]], where: dict[str, str]
) -> dict[str, list[Example]]:
    """``test_fraction`` / ``dev_fraction``: that share of the file's train rows becomes the split, the
    same rows every time (a permutation seeded by the task's name), in file order."""
    total = len(splits.get("train", []))
    for split, key in (("test", "test_fraction"), ("dev", "dev_fraction")):
        fraction = spec.get(key)
        if fraction is None:
            continue
        if split in splits:
            raise DataError(f"task {name!r}: {key} carves a {split} split, but it has one ({where[split]})")
        if "train" not in splits:
            raise DataError(f"task {name!r}: {key} carves the {split} split from train, which it has not")
        train = splits["train"]
        order = list(range(len(train)))
        random.Random(f"{name}/{key}").shuffle(order)
        chosen = set(order[: max(1, round(fraction * total))])
        splits[split] = [ex for i, ex in enumerate(train) if i in chosen]
        splits["train"] = [ex for i, ex in enumerate(train) if i not in chosen]
        where[split] = f"{where['train']} ({key} {fraction:g})"
    return splits
