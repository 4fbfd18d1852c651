"""Forking a run from another's checkpoint: LAMOL variants that differ only in replay settings share
their first task, and the fork gives exactly what the unforked run gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _lamol_util import TINY_LAMOL

from lifelong.config import load_config
from lifelong.errors import LifelongError
from lifelong.run_folder import copy_run_folder, read_status
from lifelong.runs import run


def _config(*extra: str):
    return load_config(None, [*TINY_LAMOL, "stream.tasks=[topic,sentiment]", *extra])


def test_a_fork_after_the_first_task_equals_the_unforked_run(tmp_path: Path) -> None:
    start = run(_config("method_args.gamma=0.2"), out=tmp_path / "start", stop_after=1)
    assert start == {"stopped_after": 1}
    assert read_status(tmp_path / "start") == "stopped"
    assert not (tmp_path / "start" / "metrics.json").exists()

    forked = run(_config("method_args.gamma=1.0"), out=tmp_path / "forked", fork=tmp_path / "start")
    direct = run(_config("method_args.gamma=1.0"), out=tmp_path / "direct")
    assert forked["matrix"] == direct["matrix"]  # the second task replayed with γ = 1 in both
    stats = json.loads((tmp_path / "forked" / "stages" / "02-sentiment" / "replay_stats.json").read_text())
    assert stats["requested"] == 16  # γ = 1.0 of 16 rows: the fork's own setting, not the start's 0.2
    record = json.loads((tmp_path / "forked" / "fork.json").read_text())
    assert record["after_tasks"] == 1 and record["changed"] == {"method_args.gamma": [0.2, 1.0]}
    assert read_status(tmp_path / "start") == "stopped"  # the start is left as it was


def test_the_copy_a_fork_starts_from_never_passes_for_a_finished_run(tmp_path: Path) -> None:
    """A fork killed before it writes its own status must not look finished: the copy of a finished
    run leaves its status and results behind."""
    run(_config(), out=tmp_path / "done")
    (tmp_path / "copy").mkdir()
    copy_run_folder(tmp_path / "done", tmp_path / "copy")
    assert (tmp_path / "copy" / "checkpoint").is_dir() and (tmp_path / "copy" / "config.yaml").is_file()
    assert read_status(tmp_path / "copy") is None
    assert (
        not (tmp_path / "copy" / "metrics.json").exists() and not (tmp_path / "copy" / "report.md").exists()
    )


def test_a_fork_refuses_a_setting_its_tasks_did_read(tmp_path: Path) -> None:
    run(_config(), out=tmp_path / "start", stop_after=1)
    with pytest.raises(LifelongError, match="(?s)--fork: .*method_args.lm_weight"):
        run(_config("method_args.lm_weight=0.5"), out=tmp_path / "lm", fork=tmp_path / "start")
    assert not (tmp_path / "lm").exists()  # refused before any folder
    with pytest.raises(LifelongError, match="not a run folder with a checkpoint"):
        run(_config(), out=tmp_path / "x", fork=tmp_path / "nothing")
    with pytest.raises(LifelongError, match="does not go with --resume"):
        run(_config(), out=tmp_path / "y", fork=tmp_path / "start", resume=True)
