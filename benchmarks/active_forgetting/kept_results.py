"""Where the active-forgetting scripts keep their small result files across sessions.

An output folder such as ``benchmarks/out/af/minilm`` is scratch space: it holds the bodies (hundreds of
MB) and does not outlive the session. Its small JSON results -- each variant's ``results.json`` and
pretraining log, each ``control.py`` result -- are copied, under the same relative paths, to
``benchmarks/records/af-<name of the output folder>`` (kept in git), and the table and plot scripts read a
file from the output folder when it is there and from its record otherwise. The bodies themselves are
not kept: a later session that needs one (a new language, say) pretrains it again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lifelong.io import atomic_path

RECORDS = Path(__file__).resolve().parents[1] / "records"


def record_folder(out: Path) -> Path:
    """The record of output folder ``out``; named after it, so two runs in two folders never mix."""
    return RECORDS / f"af-{out.resolve().name}"


def keep(file: Path, out: Path) -> Path:
    """Copy ``file`` (inside ``out``) to the same place under ``out``'s record; returns the copy."""
    target = record_folder(out) / file.relative_to(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(file, tmp)
    return target


def find(out: Path, relative: str | Path) -> Path | None:
    """``out / relative`` if it exists, else its record if that exists, else None."""
    for root in (out, record_folder(out)):
        if (root / relative).is_file():
            return root / relative
    return None


def glob_kept(out: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` in ``out`` and in its record, one per name (``out``'s first), sorted."""
    found: dict[str, Path] = {}
    for root in (record_folder(out), out):
        found.update({p.name: p for p in root.glob(pattern) if p.is_file()})
    return [found[name] for name in sorted(found)]
