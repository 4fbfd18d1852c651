"""Files that are either whole or absent: every result, status, config and checkpoint goes through here.

A reader (a person, ``--resume``, a report) never sees a half-written file or folder: each is written
under a temporary sibling name, flushed to disk, and moved onto its final name in one rename.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lifelong.errors import DataError

PathLike = str | os.PathLike[str]


def _sibling(path: Path, tag: str) -> Path:
    # our own unique name (not mkstemp) so the final file gets the usual umask permissions
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def remove(path: Path) -> None:
    """Remove a file or a folder, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_tree(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write a file or a folder into; on success it replaces
    ``path`` (a folder is swapped with two renames, the old one removed last). On error ``path`` is
    left exactly as it was and the temporary is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        replace(tmp, path)
    finally:
        remove(tmp)


def replace(new: Path, path: Path) -> None:
    """Move the file or folder ``new`` onto ``path`` after flushing it to disk; a folder is swapped with
    two renames and the old one removed last (:func:`recover` undoes a crash between the renames)."""
    _fsync_tree(new)
    if path.is_dir() and not path.is_symlink():
        old = _sibling(path, "old")
        os.replace(path, old)
        os.replace(new, path)
        remove(old)
    else:
        os.replace(new, path)


def recover(path: PathLike) -> Path:
    """``path``, put back from the previous version when a crash came between the two renames of a
    folder swap (the new one was not in place yet, the old one not yet removed)."""
    path = Path(path)
    if not path.exists():
        old = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if old:
            os.replace(old[-1], path)
    return path


def write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy -> python, NaN/inf -> None (JSON has no NaN), paths -> str."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json(path: PathLike, obj: Any) -> None:
    write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def write_yaml(path: PathLike, obj: Any) -> None:
    write_text(path, yaml.safe_dump(to_jsonable(obj), sort_keys=False))


def read_json(path: PathLike) -> Any:
    """A JSON file, or a DataError that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: line {e.lineno}: malformed JSON ({e.msg})") from None


def read_text(path: PathLike) -> str:
    """A UTF-8 text file, or a DataError naming the file and the line of the first bad byte."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a file") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}: line {line}: not UTF-8 text (byte {e.start}); save the file as UTF-8"
        ) from None
