"""The life of a run folder: checked before anything is created, created only once the config, model
and data are valid, resumed only with the config it was started with, and never touched by a command
that only reads it. ``status.json`` says where a run stands (running, complete, failed)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from accelerate import PartialState

from lifelong.context import cpu_only
from lifelong.errors import LifelongError, RunFolderExistsError
from lifelong.io import read_json, remove, replace, write_json
from lifelong.schema import flatten

STATUS = "status.json"
CONFIG = "config.yaml"
# settings that cannot change a run's results: a resume may change them when asked (--allow-change)
RESULT_NEUTRAL = frozenset(
    {"training.eval_batch_size", "training.log_every", "training.trackers", "data_dir"}
)


def write_status(run_dir: Path, status: str, **info: Any) -> None:
    write_json(run_dir / STATUS, {"status": status, "time": time.strftime("%Y-%m-%d %H:%M:%S"), **info})


def read_status(run_dir: Path) -> str | None:
    path = Path(run_dir) / STATUS
    return read_json(path).get("status") if path.is_file() else None


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Before anything is built: a new run needs an empty or absent folder, a resume a run folder."""
    if run_dir.exists() and not run_dir.is_dir():
        raise LifelongError(f"--out {run_dir} is a file, not a folder")
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise RunFolderExistsError(
            f"run folder {run_dir} already exists; pass --resume to continue it or choose another --out"
        )
    if resume and not (run_dir / CONFIG).exists():
        raise LifelongError(f"--resume: {run_dir} is not a run folder (no {CONFIG})")


def create_run_dir(run_dir: Path) -> None:
    """Make the folder (the main process only; the others wait for it)."""
    state = PartialState(cpu=cpu_only())
    if state.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
    state.wait_for_everyone()


def config_changes(saved_config: dict[str, Any], config: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings whose value differs between a run's saved config and ``config``: key -> (saved, given).
    Both are full configs (defaults filled in), so a key added to the library since the run started
    is a change only if it is set to something other than its default."""
    saved, given = flatten(saved_config), flatten(config)
    keys = sorted(set(saved) | set(given))
    return {k: (saved.get(k), given.get(k)) for k in keys if saved.get(k) != given.get(k)}


def _extends(saved: Any, given: Any) -> bool:
    return isinstance(saved, list) and isinstance(given, list) and given[: len(saved)] == saved


def check_resume_config(
    run_dir: Path,
    saved: dict[str, Any],
    config: dict[str, Any],
    allow: frozenset[str] = frozenset(),
    flag: str = "--resume",
) -> bool:
    """A resume continues the run that was started: any other setting would train the rest of it
    differently while ``config.yaml`` still shows the old one. The one change allowed without asking
    is more tasks at the end of ``stream.tasks`` (the stream goes on); returns whether it did.
    ``flag`` names the command-line option in the error (a fork is checked the same way)."""
    changes = config_changes(saved, config)
    extended = "stream.tasks" in changes and _extends(*changes["stream.tasks"])
    refused = {k: v for k, v in changes.items() if k not in allow and not (k == "stream.tasks" and extended)}
    if not refused:
        return extended
    lines = [f"  {k}: {saved!r} in the run, {given!r} now" for k, (saved, given) in refused.items()]
    neutral = sorted(set(refused) & RESULT_NEUTRAL)
    hint = f" ({', '.join(neutral)} cannot change results: allow with --allow-change KEY)" if neutral else ""
    raise LifelongError(
        f"{flag}: the config differs from the one {run_dir} was started with{hint}:\n" + "\n".join(lines)
    )


def copy_run_folder(source: Path, run_dir: Path) -> None:
    """What a run continues from -- ``source``'s config, environment, checkpoint and stage files -- into
    the new, empty ``run_dir``; never its status or results, so the copy cannot pass for a finished run
    (the main process only; the others wait)."""
    state = PartialState(cpu=cpu_only())
    if state.is_main_process:
        for name in (CONFIG, "environment.json"):
            if (source / name).is_file():
                shutil.copyfile(source / name, run_dir / name)
        for name in ("checkpoint", "stages"):
            if (source / name).is_dir():
                shutil.copytree(source / name, run_dir / name)
    state.wait_for_everyone()


def check_allowed_changes(keys: list[str]) -> frozenset[str]:
    bad = [k for k in keys if k not in RESULT_NEUTRAL]
    if bad:
        raise LifelongError(
            f"--allow-change {', '.join(bad)}: only settings that cannot change results may change on a "
            f"resume ({', '.join(sorted(RESULT_NEUTRAL))})"
        )
    return frozenset(keys)


def work_copy(folder: Path) -> Path:
    """A private copy of ``folder`` to change; :func:`commit` puts it in place, :func:`discard` drops it.
    Under several processes the main one copies and the others wait."""
    work = folder.with_name(f".{folder.name}.work")
    state = PartialState(cpu=cpu_only())
    if state.is_main_process:
        remove(work)
        shutil.copytree(folder, work)
    state.wait_for_everyone()
    return work


def commit(work: Path, folder: Path) -> None:
    state = PartialState(cpu=cpu_only())
    if state.is_main_process:
        replace(work, folder)
    state.wait_for_everyone()


def discard(work: Path) -> None:
    if PartialState(cpu=cpu_only()).is_main_process:
        remove(work)
