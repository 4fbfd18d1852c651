"""The benchmark grid keeps finished runs as small records and restores them instead of rerunning, so a
table can be finished across sessions whose scratch folders are lost."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _grid import (  # noqa: E402
    RECORD_LOG,
    RunGrid,
    copy_record,
    first_task_groups,
    is_complete,
    load_run,
    names_in,
    seeds_in,
    status,
    write_tables_file,
)

CONFIG = {
    "model": {"name": "tiny-bert", "max_length": 32},
    "method": "finetune",
    "stream": {"max_train": 40, "max_eval": 16, "max_dev": 8, "tasks": ["topic", "sentiment"]},
    "training": {"epochs": 1, "batch_size": 16},
}


def test_a_finished_run_is_recorded_and_restored_only_for_the_same_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, records = tmp_path / "out", tmp_path / "records"
    assert RunGrid(out, threads=1, records=records).run("s0/finetune", CONFIG)
    record = records / "s0" / "finetune"
    assert is_complete(record)
    assert not (record / "checkpoint").exists()  # small files only
    assert "ACC" in (record / RECORD_LOG).read_text()  # the log, for the tables' stage times
    metrics = load_run(out / "s0" / "finetune")

    shutil.rmtree(out)  # a new session: the scratch folder is gone
    capsys.readouterr()
    grid = RunGrid(out, threads=1, records=records)
    assert grid.run("s0/finetune", {**CONFIG, "data_dir": "/elsewhere"})  # the data folder may differ
    assert "restored" in capsys.readouterr().out
    assert load_run(out / "s0" / "finetune") == metrics
    assert (out / "s0" / "finetune.log").read_text() == (record / RECORD_LOG).read_text()
    assert not (out / "timings.json").exists()  # nothing ran

    shutil.rmtree(out)  # --tables-only in a new session: restore what is recorded, start nothing else
    tables_only = RunGrid(out, threads=1, records=records, launch=False)
    assert tables_only.run("s0/finetune", CONFIG) and load_run(out / "s0" / "finetune") == metrics
    assert not tables_only.run("s0/other", CONFIG)
    assert not (out / "s0" / "other").exists() and not (out / "timings.json").exists()
    assert "[run]" not in capsys.readouterr().out

    shutil.rmtree(out)
    changed = {**CONFIG, "training": {"epochs": 2, "batch_size": 16}}
    RunGrid(out, threads=1, dry_run=True, records=records).run("s0/finetune", changed)
    assert "[run] s0/finetune" in capsys.readouterr().out  # another config is run, not restored
    assert json.loads((record / "metrics.json").read_text()) == metrics


def test_a_record_keeps_per_stage_statistics_and_samples_but_not_checkpoints_or_plots(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "stages" / "02-agnews").mkdir(parents=True)
    (run / "stages" / "02-agnews" / "replay_stats.json").write_text('{"kept": 30}')
    (run / "stages" / "02-agnews" / "pseudo_samples.jsonl").write_text("{}\n")
    (run / "checkpoint").mkdir()
    (run / "checkpoint" / "progress.json").write_text("{}")
    (run / "heatmap.png").write_bytes(b"png")
    (run / "metrics.json").write_text("{}")
    (run / "status.json").write_text('{"status": "complete"}')
    copy_record(run, tmp_path / "record")
    kept = sorted(
        str(f.relative_to(tmp_path / "record")) for f in (tmp_path / "record").rglob("*") if f.is_file()
    )
    assert kept == [
        "metrics.json",
        "stages/02-agnews/pseudo_samples.jsonl",  # sample_tasks.py's diagnostic outlives the scratch folder
        "stages/02-agnews/replay_stats.json",
        "status.json",
    ]


def test_tables_name_the_starting_weights_and_warn_when_runs_differ(tmp_path: Path) -> None:
    grid = RunGrid(tmp_path, threads=1, keep=False)
    for key, digest in (("s0/a", "aaaa"), ("s0/b", "aaaa")):
        (tmp_path / key).mkdir(parents=True)
        (tmp_path / key / "environment.json").write_text(json.dumps({"weights_digest": digest}))
    text = write_tables_file(tmp_path, "| t |", grid).read_text()
    assert "`aaaa` (weights_digest) for 2 runs" in text and "WARNING" not in text

    (tmp_path / "s0/c").mkdir()
    (tmp_path / "s0/c/environment.json").write_text(json.dumps({"python": "3.11"}))  # an older record
    text = write_tables_file(tmp_path, "| t |", grid).read_text()
    assert "WARNING" not in text and "not recorded (runs made before the digest was): s0/c" in text

    (tmp_path / "s0/b/environment.json").write_text(json.dumps({"weights_digest": "bbbb"}))
    text = write_tables_file(tmp_path, "| t |", grid).read_text()
    assert "WARNING: runs started from different weights" in text
    assert "- `aaaa`: s0/a" in text and "- `bbbb`: s0/b" in text


def test_grids_sharing_an_out_folder_keep_every_wall_time(tmp_path: Path) -> None:
    """One invocation per core writes to one timings.json: no entry may be lost to the other."""
    from concurrent.futures import ThreadPoolExecutor

    grids = [RunGrid(tmp_path, threads=1, keep=False) for _ in range(6)]
    with ThreadPoolExecutor(len(grids)) as pool:
        ok = list(pool.map(lambda g: g[1]._execute(f"k{g[0]}", [sys.executable, "-c", "pass"],
                                                   tmp_path / f"k{g[0]}.log"), enumerate(grids)))  # fmt: skip
    assert all(ok)
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert sorted(timings) == [f"k{i}" for i in range(6)]
    assert all(t["returncode"] == 0 for t in timings.values())


TABLE_SCRIPTS = sorted(
    p
    for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*/*.py")
    if "from _grid import" in p.read_text()
)


@pytest.mark.parametrize("script", TABLE_SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_table_script_imports_what_it_uses_from_the_grid(script: Path) -> None:
    """A table script runs for hours in the background: a broken import must fail here, not there."""
    import subprocess

    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]


def test_tables_cover_every_seed_and_finished_run_in_the_folder_not_only_the_ones_asked_for(
    tmp_path: Path,
) -> None:
    for name in ("tc-i-seed0/finetune", "tc-i-seed2/lamol-task", "tc-iv-seed5/finetune"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "tc-i-seed0/finetune/metrics.json").write_text("{}")
    (tmp_path / "tc-i-seed7.log").write_text("")  # a file, not a seed's folder
    assert seeds_in(tmp_path, "tc-i", [1]) == [0, 1, 2]  # tc-iv's seed 5 is another stream's
    known = ["multitask", "finetune", "lamol-task", "ewc"]
    folders = [tmp_path / "tc-i-seed0", tmp_path / "tc-i-seed2"]
    # finetune finished; lamol-task's folder holds no metrics.json yet (running): only if asked for
    assert names_in(folders, known, ["ewc"]) == ["finetune", "ewc"]
    assert names_in(folders, known, ["lamol-task", "multitask"]) == ["multitask", "finetune", "lamol-task"]


def _fake_lamol_run(
    folder: Path, final: list[float], kept: list[float] | None = None, first: float | None = 0.8
) -> None:
    """A finished 2-task TC run: task 1 scores ``first`` after stage 1, then ``final`` after stage 2."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("stream:\n  benchmark: tc\n")
    (folder / "status.json").write_text(json.dumps({"status": "complete"}))
    tables = []
    if kept is not None:
        rows = [[k + 2, "agnews", "task", 10, 0, share, {}, {}] for k, share in enumerate(kept)]
        columns = ["stage", "task", "mode", "asked", "kept", "kept %", "rejected by reason", "x"]
        tables = [{"title": "LAMOL pseudo-samples per stage", "columns": columns, "rows": rows}]
    acc = [[0.0, 0.0], [first, None], final]
    (folder / "metrics.json").write_text(
        json.dumps({"tasks": ["yelp", "agnews"], "matrices": {"accuracy": acc}, "method_tables": tables})
    )


def test_the_lamol_claims_table_states_each_claim_with_the_mean_over_seeds(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "lamol"))
    from run_table import claims_table  # noqa: E402

    for seed, (lamol, finetune) in enumerate([([0.6, 0.8], [0.2, 0.8]), ([0.7, 0.9], [0.3, 0.7])]):
        _fake_lamol_run(tmp_path / f"tc-i-seed{seed}" / "lamol-task", lamol, kept=[95.0 - 10 * seed])
        _fake_lamol_run(tmp_path / f"tc-i-seed{seed}" / "finetune", finetune)
    _fake_lamol_run(tmp_path / "tc-i-seed0" / "multitask", [0.8, 0.9])
    # final-only multitask stands in for seeds without an every-stage run, and only for those
    _fake_lamol_run(tmp_path / "tc-i-seed0" / "multitask-final", [0.1, 0.1], first=None)
    _fake_lamol_run(tmp_path / "tc-i-seed1" / "multitask-final", [0.6, 0.8], first=None)
    text = claims_table("tc-i", [0, 1], tmp_path)
    # (70 + 80) / 2, std of 70 and 80; forgetting: yelp falls from 80 to 60 and to 70
    assert "| lamol-task | 75.0 ± 7.1 | 15.0 ± 7.1 | 70.0 / 80.0 |" in text
    assert "| finetune | 50.0 ± 0.0 | 55.0 ± 7.1 | 50.0 / 50.0 |" in text
    # a final-only multitask has no forgetting to measure: only seed 0's every-stage run counts
    assert "| multitask | 77.5 ± 10.6 | 0.0 | 85.0 / 70.0 |" in text
    assert "multitask-final" not in text
    # a seed asked for but not run adds no column
    assert "| ACC seeds 0 / 1 |" in claims_table("tc-i", [0, 1, 2], tmp_path)
    assert "lamol-task − finetune = +25.0 ± 7.1 (seeds 0, 1)" in text  # paired: 70 − 50 and 80 − 50
    assert "lamol-task − multitask = -2.5 ± 17.7 (seeds 0, 1)" in text
    assert "n/a (lamol-gen has not finished)" in text
    # a variant finished on one seed only is compared on that seed, not against the two-seed mean
    _fake_lamol_run(tmp_path / "tc-i-seed1" / "lamol-gen", [0.5, 0.5])
    text = claims_table("tc-i", [0, 1], tmp_path)
    assert "(seeds 1): task tokens 80.0 / 80.0; shared GEN 80.0 / 50.0" in text  # seen-task means per stage
    assert "min 85 %, stages 95 / 85" in text
    assert "final ACC: n/a (not every γ has finished); γ 0.2 − γ 0 = n/a" in text
    # γ 0 finished on seed 0 only: compared with γ 0.2 on that seed, before γ 0.05 has run at all
    _fake_lamol_run(tmp_path / "tc-i-seed0" / "lamol-gamma0", [0.2, 0.4])
    text = claims_table("tc-i", [0, 1], tmp_path)
    assert "γ 0.2 − γ 0 = +40.0 (seeds 0); γ 0.2 − γ 0.05 = n/a" in text  # 70 − 30
    assert claims_table("tc-iv", [0], tmp_path).startswith("(LAMOL with task tokens has not finished)")


def test_the_lamol_plot_shows_each_variants_seed_mean_and_how_many_seeds_are_behind_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "lamol"))
    import run_table  # noqa: E402

    assert run_table.plot_stream("tc-i", [0, 1], tmp_path) is None  # nothing finished yet
    for seed, (first, lamol) in enumerate([(0.8, [0.6, 0.8]), (0.9, [0.7, 0.9])]):
        _fake_lamol_run(tmp_path / f"tc-i-seed{seed}" / "lamol-task", lamol, first=first)
    _fake_lamol_run(tmp_path / "tc-i-seed0" / "multitask", [0.8, 0.9])
    _fake_lamol_run(tmp_path / "tc-i-seed1" / "multitask-final", [0.6, 0.8], first=None)
    drawn: dict = {}

    def record(curves, stages, path, **kwargs):
        drawn.update(curves=curves, stages=stages, bands=kwargs["bands"])
        return path

    monkeypatch.setattr(run_table, "plot_stage_curves", record)
    assert run_table.plot_stream("tc-i", [0, 1], tmp_path) == tmp_path / "tc-i-seen.png"
    assert drawn["stages"] == ["yelp", "agnews"]
    # seed means of the seen-task means: stage 1 (80 + 90) / 2, stage 2 ((60 + 80) / 2 + (70 + 90) / 2) / 2
    assert drawn["curves"]["lamol-task (2 seeds)"] == pytest.approx([85.0, 75.0])
    # the final-only run scores the last stage only: one seed behind the first point, two behind the last
    assert drawn["curves"]["multitask (1 or 2 seeds)"] == pytest.approx([80.0, 77.5])
    _fake_lamol_run(tmp_path / "tc-i-seed0" / "ewc", [0.5, 0.5], first=None)  # no early stage scored
    run_table.plot_stream("tc-i", [0, 1], tmp_path)
    assert np.isnan(drawn["curves"]["ewc (1 seed)"][0])  # a point nobody scored is not counted
    low, high = drawn["bands"]["lamol-task (2 seeds)"]
    assert list(low) == pytest.approx([80.0, 70.0]) and list(high) == pytest.approx([90.0, 80.0])


def _ctr_tables():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "ctr"))
    import run_tables  # noqa: E402

    return run_tables


def test_runs_at_a_time_all_finish_and_each_wall_time_is_kept(tmp_path: Path) -> None:
    grid = RunGrid(tmp_path / "out", threads=1, keep=False)
    other = {**CONFIG, "seed": 1}
    assert grid.run_all([("s0/finetune", CONFIG), ("s1/finetune", other)], jobs=2) == [True, True]
    assert is_complete(tmp_path / "out" / "s0" / "finetune") and is_complete(
        tmp_path / "out" / "s1" / "finetune"
    )
    timings = json.loads((tmp_path / "out" / "timings.json").read_text())
    assert set(timings) == {"s0/finetune", "s1/finetune"}  # the locked file lost neither entry


def test_the_ctr_paper_protocol_uses_all_data_the_papers_epochs_and_a_final_only_upper_bound() -> None:
    from lifelong.config import RunConfig
    from lifelong.schema import build_dataclass

    tables = _ctr_tables()
    ap = __import__("argparse").Namespace(
        smoke=False,
        protocol="paper",
        max_train=None,
        max_eval=None,
        epochs=None,
        tasks=None,
        data_dir=None,
        model="minilm-l6",
        group_by_length=False,
    )
    asc = tables.run_config("asc", "multitask", 1, ap)
    assert asc["stream"]["max_train"] is None and asc["stream"]["max_eval"] is None
    assert asc["training"]["epochs"] == 30 and asc["training"]["batch_size"] == 32
    assert asc["training"]["epochs_by_task"] == {"semeval14_laptop": 10, "semeval14_restaurant": 10}
    assert asc["method_args"] == {"final_only": True} and asc["seed"] == 1
    assert asc["training"]["lr"] == tables.LR["full"]
    built = build_dataclass(RunConfig, asc)  # the schema accepts it
    assert built.training.epochs_for("semeval14_laptop") == 10 and built.training.epochs_for("router") == 30
    assert tables.run_config("dsc", "hat", 0, ap)["training"]["epochs"] == 1
    assert tables.run_config("asc", "hat", 0, ap)["training"]["lr"] == tables.LR["plugins"]
    assert asc["model"]["name"] == "minilm-l6"
    ap.model = "/models/my-minilm"  # a local copy, e.g. on a GPU machine without the preset's package
    assert tables.run_config("dsc", "ctr", 0, ap)["model"]["name"] == "/models/my-minilm"
    assert "group_by_length" not in asc["training"]  # the paper's random batches unless asked
    ap.group_by_length = True
    assert build_dataclass(RunConfig, tables.run_config("asc", "hat", 0, ap)).training.group_by_length


def _fake_ctr_run(folder: Path, final: list[float], f1: list[float]) -> None:
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"status": "complete"}))
    nan = None
    acc = [[0.5, 0.5], [final[0], nan], final]
    mf1 = [[0.5, 0.5], [f1[0], nan], f1]
    (folder / "metrics.json").write_text(
        json.dumps(
            {"tasks": ["a", "b"], "matrices": {"accuracy": acc, "macro_f1": mf1}, "wall_time_s": 120.0}
        )
    )


def test_the_ctr_summary_gives_mean_and_std_over_seeds_and_transfer_against_one(tmp_path: Path) -> None:
    tables = _ctr_tables()
    for seed, (hat, one) in enumerate([([0.8, 0.9], [0.7, 0.9]), ([0.6, 0.7], [0.6, 0.9])]):
        _fake_ctr_run(tmp_path / f"asc-seed{seed}" / "hat", hat, hat)
        _fake_ctr_run(tmp_path / f"asc-seed{seed}" / "adapter_one", one, one)
    args = __import__("argparse").Namespace(out=tmp_path)
    grid = RunGrid(tmp_path, threads=1, keep=False)
    text = tables.summary_table("asc", [0, 1], ["hat", "adapter_one", "ctr"], args, grid)
    # hat ACC 85 and 65: mean 75.0, std 14.1; transfer (+5, -10) -> -2.5 ± 10.6; wall 2 min
    assert "| hat | 2 | 75.0 ± 14.1 | 75.0 ± 14.1 | 0.0 ± 0.0 | -2.5 ± 10.6 | 2 ± 0 |" in text
    assert "| ctr |" not in text  # never ran
    per_task = tables.per_task_transfer_table("asc", [0, 1], ["hat", "adapter_one"], args)
    assert "| hat | 2 | +5.0 | -10.0 |" in per_task  # task a: (+10, 0) / 2; task b: (0, -20) / 2
    # the verdict compares on the seeds both methods finished: ctr ran on seed 1 only
    _fake_ctr_run(tmp_path / "asc-seed1" / "ctr", [0.7, 0.7], [0.7, 0.7])
    verdict = tables.verdict("asc", [0, 1], args)
    assert "- CTR >= HAT: 70.0 vs 65.0 (seeds 1)" in verdict  # not against hat's two-seed 75.0
    assert "- HAT < ONE: 75.0 vs 77.5 (seeds 0, 1)" in verdict


def test_a_ctr_runs_wall_time_is_its_own_sum_over_sessions_not_its_last_invocation(tmp_path: Path) -> None:
    """A run resumed in a second session: the grid timed only that session (60 s); the run's metrics
    hold the sum of both (120 s), which is what the tables show."""
    tables = _ctr_tables()
    _fake_ctr_run(tmp_path / "asc-seed0" / "hat", [0.8, 0.9], [0.8, 0.9])
    (tmp_path / "timings.json").write_text(json.dumps({"asc-seed0/hat": {"seconds": 60.0, "returncode": 0}}))
    args = __import__("argparse").Namespace(out=tmp_path)
    grid = RunGrid(tmp_path, threads=1, keep=False)
    assert "| hat | 85.0 | 85.0 | 0.0 | 0.0 | n/a | n/a | 120 |" in tables.method_table(
        "asc", 0, ["hat"], args, grid
    )
    assert "| hat | 1 | 85.0 | 85.0 | 0.0 | n/a | 2 |" in tables.summary_table(
        "asc", [0], ["hat"], args, grid
    )


TINY_LAMOL = {
    "model": {"name": "tiny-gpt2", "max_length": 64, "max_answer_length": 6},
    "method": "lamol",
    "method_args": {"max_gen_length": 12, "gamma": 0.2},
    "stream": {"max_train": 16, "max_eval": 8, "max_dev": 8, "tasks": ["topic", "sentiment"]},
    "training": {"epochs": 1, "batch_size": 8, "bf16": False},
}


def test_lamol_variants_that_differ_in_replay_settings_share_their_first_task(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "lamol"))
    import run_table  # noqa: E402

    args = __import__("argparse").Namespace(
        smoke=True, max_train=None, max_eval=None, epochs=None, data_dir=None
    )
    configs = {v: run_table.run_config("tc-i", v, 0, args) for v in run_table.VARIANTS}
    # task tokens with γ 0.2 / 0.05 / 0 and real samples learn the first task alike; a shared GEN does not
    assert first_task_groups(configs) == [["lamol-task", "lamol-task-g0.05", "lamol-gamma0", "lamol-real"]]

    grid = RunGrid(tmp_path / "out", threads=1, keep=False)
    start = grid.shared_start("s0/_first-task", TINY_LAMOL, 1)
    assert start is not None and status(start) == "stopped"
    other = {**TINY_LAMOL, "method_args": {**TINY_LAMOL["method_args"], "gamma": 0.5}}
    assert grid.pending("s0/g05", other)
    assert grid.run("s0/g05", other, fork=start)
    assert is_complete(tmp_path / "out" / "s0" / "g05")
    assert json.loads((tmp_path / "out" / "s0" / "g05" / "fork.json").read_text())["after_tasks"] == 1
    assert not grid.pending("s0/g05", other)
    assert grid.shared_start("s0/_first-task", TINY_LAMOL, 1) == start  # already there: not rerun


class _PlanningGrid:
    """A grid whose runs not yet begun and shared starts already learned are given, for ``plan_stream``."""

    def __init__(self, waiting: set[str], learned: set[str]) -> None:
        self.waiting, self.learned = waiting, learned

    def pending(self, key: str, config: dict) -> bool:
        return key in self.waiting

    def started(self, key: str) -> bool:
        return key in self.learned


@pytest.mark.parametrize(
    ("waiting", "learned", "expected"),
    [
        ({"lamol-task", "lamol-real"}, set(), "_first-task-lamol-task"),  # two to begin: learn one start
        ({"lamol-real"}, set(), None),  # one alone learns its own first task
        ({"lamol-real"}, {"_first-task-lamol-task-g0.05"}, "_first-task-lamol-task-g0.05"),  # reuse it
        (set(), {"_first-task-lamol-task"}, None),  # nothing left to begin
    ],
)
def test_lamol_plan_forks_what_has_not_begun_from_a_shared_start(
    waiting: set[str], learned: set[str], expected: str | None
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "lamol"))
    import run_table  # noqa: E402

    args = __import__("argparse").Namespace(
        smoke=True,
        max_train=None,
        max_eval=None,
        epochs=None,
        data_dir=None,
        variants=list(run_table.VARIANTS),
    )
    grid = _PlanningGrid({f"tc-iv-seed0/{v}" for v in waiting}, {f"tc-iv-seed0/{k}" for k in learned})
    starts, jobs = run_table.plan_stream("tc-iv", 0, args, grid)
    assert list(starts) == ([f"tc-iv-seed0/{expected}"] if expected else [])
    forked = {job.key.split("/")[1]: job.start for job in jobs if job.start}
    assert forked == ({v: f"tc-iv-seed0/{expected}" for v in waiting} if expected else {})


class _RecordingGrid:
    """A grid that only records what it was asked to do, and when, for ``run_table.execute``."""

    def __init__(self, start_result: Path | None) -> None:
        self.events: list[tuple] = []
        self.start_result = start_result

    def shared_start(self, key: str, config: dict, tasks: int) -> Path | None:
        __import__("time").sleep(0.2)  # long enough that an unsynchronised forked run would overtake it
        self.events.append(("start done", key))
        return self.start_result

    def run(self, key: str, config: dict, fork: Path | None = None) -> bool:
        self.events.append(("run", key, fork))
        return key != "bad"


@pytest.mark.parametrize("start_result", [Path("out/s0/_first-task"), None])
def test_lamol_table_runs_two_at_a_time_and_a_forked_run_waits_for_its_start(
    start_result: Path | None,
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "lamol"))
    from run_table import Job, execute  # noqa: E402

    grid = _RecordingGrid(start_result)
    jobs = [Job("a", {}, "s0/_first-task"), Job("b", {}), Job("bad", {}), Job("c", {}, "s0/_first-task")]
    assert execute({"s0/_first-task": {}}, jobs, grid, parallel=2) == [True, True, False, True]
    done = grid.events.index(("start done", "s0/_first-task"))
    runs = {e[1]: (i, e[2]) for i, e in enumerate(grid.events) if e[0] == "run"}
    # the second worker runs what needs no start meanwhile, instead of waiting for the start
    assert runs["b"][0] < done and runs["bad"][0] < done
    for forked in ("a", "c"):  # after the start, from it; from nothing (None) when the start failed
        assert runs[forked] == (runs[forked][0], start_result) and runs[forked][0] > done
    assert runs["b"][1] is None and runs["bad"][1] is None


def test_active_forgetting_results_are_kept_and_read_back_after_the_output_folder_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "active_forgetting"))
    import kept_results  # noqa: E402

    monkeypatch.setattr(kept_results, "RECORDS", tmp_path / "records")
    out = tmp_path / "scratch" / "minilm"
    (out / "standard").mkdir(parents=True)
    (out / "standard" / "results.json").write_text('{"a": 1}')
    (out / "de-standard-1221.json").write_text('{"de": 1}')
    for name in ("standard/results.json", "de-standard-1221.json"):
        kept_results.keep(out / name, out)
    (out / "sw-standard-1221.json").write_text('{"sw": 1}')  # not kept
    assert kept_results.find(out, "standard/results.json") == out / "standard" / "results.json"
    assert [p.name for p in kept_results.glob_kept(out, "*-standard-*.json")] == [
        "de-standard-1221.json",
        "sw-standard-1221.json",
    ]

    shutil.rmtree(tmp_path / "scratch")  # a new session
    record = tmp_path / "records" / "af-minilm"
    assert kept_results.find(out, "standard/results.json") == record / "standard" / "results.json"
    assert json.loads(kept_results.find(out, "de-standard-1221.json").read_text()) == {"de": 1}
    assert kept_results.find(out, "sw-standard-1221.json") is None
    assert kept_results.glob_kept(out, "*-standard-*.json") == [record / "de-standard-1221.json"]
