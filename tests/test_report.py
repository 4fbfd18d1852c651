"""Run folder outputs, atomic writes, the comparison table and the plots."""

import csv
import json
import math

import numpy as np
import pytest

from lifelong.errors import LifelongError
from lifelong.evaluation import plots
from lifelong.evaluation.report import (
    compare_runs,
    load_metrics,
    plot_comparison,
    write_run_results,
)
from lifelong.io import write_json as write_json_atomic
from lifelong.io import write_text as write_text_atomic
from lifelong.methods import METHODS

nan = float("nan")
TASKS = ["sst", "ag", "yelp"]
R3 = np.array(
    [
        [0.10, 0.20, 0.30],
        [0.80, 0.30, 0.35],
        [0.60, 0.90, 0.40],
        [0.50, 0.70, 0.85],
    ]
)
PNG = b"\x89PNG\r\n\x1a\n"


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]


@pytest.fixture
def no_plots(monkeypatch):
    """Comparison tests only need metrics.json: skip drawing to keep them fast."""
    monkeypatch.setattr(plots, "plot_heatmap", lambda *a, **k: None)
    monkeypatch.setattr(plots, "plot_task_curves", lambda *a, **k: None)


def run(tmp_path, name, R, method, model="bert", seed=0, tasks=TASKS):
    write_run_results(
        tmp_path / name,
        tasks=tasks,
        matrices={"accuracy": R},
        primary="accuracy",
        method=method,
        model=model,
        seed=seed,
        reference=METHODS.get(method).reference,
        extra={},
    )
    return tmp_path / name


# ---- atomic writes ------------------------------------------------------------------------------
def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_json_atomic(path, {"a": np.float32(0.5), "b": [nan, 1], "c": np.arange(2), "d": math.inf})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [None, 1], "c": [0, 1], "d": None}
    assert leftovers(path.parent) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert leftovers(tmp_path) == []


def test_write_text_atomic_overwrites(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two → ü")
    assert path.read_text(encoding="utf-8") == "two → ü"
    assert leftovers(tmp_path) == []


# ---- one run ------------------------------------------------------------------------------------
def test_write_run_results(tmp_path):
    R = R3.copy()
    R[0, 2] = nan
    run_dir = tmp_path / "run"
    metrics = write_run_results(
        run_dir,
        tasks=TASKS,
        matrices={"accuracy": R, "macro_f1": R3 * 0.5},
        primary="accuracy",
        method="ewc",
        model="bert-base",
        seed=3,
        extra={"scenario": "task", "config": {"lr": 0.001}},
    )
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "heatmap.png",
        "matrix.csv",
        "metrics.json",
        "report.md",
        "task_curves.png",
    ]

    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved == metrics == load_metrics(run_dir)
    for key in ("tasks", "matrix", "matrices", "primary_metric", "acc", "aia", "bwt", "fwt", "forgetting"):
        assert key in saved
    assert saved["tasks"] == TASKS
    assert saved["matrix"][0] == [0.1, 0.2, None]
    assert saved["matrix"][3] == [0.5, 0.7, 0.85]
    assert saved["matrices"]["macro_f1"][1] == pytest.approx([0.4, 0.15, 0.175])
    assert saved["primary_metric"] == "accuracy"
    assert (saved["method"], saved["model"], saved["seed"]) == ("ewc", "bert-base", 3)
    assert saved["scenario"] == "task" and saved["config"] == {"lr": 0.001}
    assert saved["acc"] == pytest.approx(2.05 / 3)
    assert saved["bwt"] == pytest.approx(-0.25)
    assert saved["forgetting"] == pytest.approx(0.25)
    assert saved["fwt"] == pytest.approx(0.30 - 0.20)  # task 2's before-score is missing
    assert saved["final_scores"] == [0.5, 0.7, 0.85]

    with open(run_dir / "matrix.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["stage", "sst", "ag", "yelp"]
    assert [r[0] for r in rows[1:]] == ["before", "sst", "ag", "yelp"]
    assert rows[1] == ["before", "0.1", "0.2", ""]
    assert [float(v) for v in rows[4][1:]] == [0.5, 0.7, 0.85]

    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "ewc" in report and "bert-base" in report and "| Seed | 3 |" in report
    assert "| 68.3 | 74.4 | -25.0 | 10.0 | 25.0 |" in report  # ACC AIA BWT FWT Forgetting
    assert "| before | 10.0 | 20.0 | n/a |" in report
    assert "| yelp | 50.0 | 70.0 | 85.0 |" in report
    assert "### macro_f1" in report and "| yelp | 25.0 | 35.0 | 42.5 |" in report
    assert "](heatmap.png)" in report and "](task_curves.png)" in report

    for name in ("heatmap.png", "task_curves.png"):
        assert (run_dir / name).read_bytes()[:8] == PNG
    assert leftovers(run_dir) == []


def test_write_run_results_validates(tmp_path, no_plots):
    kwargs = dict(tasks=TASKS, primary="accuracy", method="m", model="x", seed=0)
    with pytest.raises(ValueError, match="primary"):
        write_run_results(tmp_path / "a", matrices={"macro_f1": R3}, extra={}, **kwargs)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        write_run_results(tmp_path / "b", matrices={"accuracy": np.zeros((3, 2))}, extra={}, **kwargs)
    with pytest.raises(ValueError, match="acc"):
        write_run_results(tmp_path / "c", matrices={"accuracy": R3}, extra={"acc": 1.0}, **kwargs)


# ---- loading ------------------------------------------------------------------------------------
def test_load_metrics_errors_name_the_file(tmp_path):
    with pytest.raises(LifelongError, match="metrics.json"):
        load_metrics(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("{not json")
    with pytest.raises(LifelongError, match=r"bad/metrics.json"):
        load_metrics(tmp_path / "bad")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "metrics.json").write_text('{"tasks": ["a"]}')
    with pytest.raises(LifelongError, match=r"partial/metrics.json.*missing"):
        load_metrics(tmp_path / "partial")
    (tmp_path / "shape").mkdir()
    (tmp_path / "shape" / "metrics.json").write_text(
        '{"tasks": ["a"], "matrix": [[0.1, 0.2]], "method": "m"}'
    )
    with pytest.raises(LifelongError, match=r"shape/metrics.json"):
        load_metrics(tmp_path / "shape")


def test_load_metrics_accepts_the_file_itself(tmp_path, no_plots):
    path = run(tmp_path, "r", R3, "ewc") / "metrics.json"
    assert load_metrics(path)["method"] == "ewc"


# ---- comparing runs -----------------------------------------------------------------------------
def test_compare_runs_table(tmp_path, no_plots):
    ewc = run(tmp_path, "ewc", R3, "ewc")
    mtl = run(tmp_path, "mtl", np.full((4, 3), 0.9), "multitask")
    one = np.array([[0.0, 0.0, 0.0], [0.6, 0.0, 0.0], [0.6, 0.8, 0.0], [0.6, 0.8, 0.8]])
    sep = run(tmp_path, "sep", one, "separate")
    lines = compare_runs([ewc, mtl, sep]).strip().splitlines()
    assert (
        lines[0]
        == "| Run | ACC | BWT | Forgetting | FWT | sst | ag | yelp | gap to MTL | transfer vs ONE (separate) |"
    )
    # ewc: acc 68.3, bwt -25.0, forgetting 25.0, fwt 10.0; gap 90 - 68.3 = 21.7;
    # transfer: mean(50 - 60, 70 - 80, 85 - 80) = -5.0
    assert lines[2] == "| ewc | 68.3 | -25.0 | 25.0 | 10.0 | 50.0 | 70.0 | 85.0 | 21.7 | -5.0 |"
    # multitask: transfer mean(90 - 60, 90 - 80, 90 - 80) = 16.7
    assert lines[3] == "| multitask | 90.0 | 0.0 | 0.0 | 0.0 | 90.0 | 90.0 | 90.0 | 0.0 | 16.7 |"
    # separate: acc 73.3 (gap 16.7); bwt 0.0; forgetting 0.0; fwt mean(0 - 0, 0 - 0) = 0.0
    assert lines[4] == "| separate | 73.3 | 0.0 | 0.0 | 0.0 | 60.0 | 80.0 | 80.0 | 16.7 | 0.0 |"
    # knowledge transfer per task, as CTR and HAT report it: each final score minus ONE's
    assert lines[6].startswith("Knowledge transfer per task")
    assert lines[8:] == ["| Run | sst | ag | yelp |", "|---|---|---|---|", "| ewc | -10.0 | -10.0 | 5.0 |",
                         "| multitask | 30.0 | 10.0 | 10.0 |"]  # fmt: skip


def test_compare_runs_without_references_and_with_models(tmp_path, no_plots):
    a = run(tmp_path, "a", R3, "ewc", model="bert")
    b = run(tmp_path, "b", np.full((4, 3), 0.5), "ewc", model="gpt2")
    table = compare_runs([a, b])
    assert "gap to MTL" not in table and "transfer vs ONE" not in table
    assert "| ewc (bert) | 68.3 |" in table
    assert "| ewc (gpt2) | 50.0 |" in table


def test_compare_runs_reference_needs_the_same_tasks(tmp_path, no_plots):
    a = run(tmp_path, "a", R3, "ewc")
    mtl = run(tmp_path, "mtl", np.full((3, 2), 0.9), "multitask", tasks=["sst", "ag"])
    lines = compare_runs([a, mtl]).strip().splitlines()
    assert lines[0].endswith("| gap to MTL |")
    assert lines[2].endswith("| n/a |")  # different task list: no gap
    assert lines[3] == "| multitask | 90.0 | 0.0 | 0.0 | 0.0 | 90.0 | 90.0 | n/a | 0.0 |"


def test_compare_runs_same_method_twice_shows_seeds(tmp_path, no_plots):
    a = run(tmp_path, "a", R3, "ewc", seed=1)
    b = run(tmp_path, "b", R3, "ewc", seed=2)
    table = compare_runs([a, b])
    assert "| ewc [seed 1] |" in table and "| ewc [seed 2] |" in table


def test_compare_runs_errors(tmp_path, no_plots):
    good = run(tmp_path, "good", R3, "ewc")
    with pytest.raises(LifelongError, match="nothere/metrics.json"):
        compare_runs([good, tmp_path / "nothere"])
    with pytest.raises(LifelongError, match="no runs"):
        compare_runs([])


def test_compare_runs_over_seeds_gives_mean_and_std_with_each_seeds_own_reference(tmp_path, no_plots):
    later = R3.copy()
    later[-1] = [0.30, 0.50, 0.65]  # seed 1 ends 20 points lower on every task
    runs = [
        run(tmp_path, "e0", R3, "ewc", seed=0),
        run(tmp_path, "e1", later, "ewc", seed=1),
        run(tmp_path, "m0", np.full((4, 3), 0.9), "multitask", seed=0),
        run(tmp_path, "m1", np.full((4, 3), 0.7), "multitask", seed=1),
    ]
    lines = compare_runs(runs, over_seeds=True).strip().splitlines()
    assert lines[0] == "| Run | runs | ACC | BWT | Forgetting | FWT | sst | ag | yelp | gap to MTL |"
    # ACC 68.3 and 48.3; BWT -25 and -45; forgetting 25 and 45; FWT 10 both; each gap to its own seed's
    # multitask: 90 - 68.3 and 70 - 48.3 (against seed 0's multitask seed 1 would be 41.7 behind)
    assert lines[2] == (
        "| ewc | 2 | 58.3 ± 14.1 | -35.0 ± 14.1 | 35.0 ± 14.1 | 10.0 ± 0.0 | 40.0 ± 14.1 | 60.0 ± 14.1 "
        "| 75.0 ± 14.1 | 21.7 ± 0.0 |"
    )
    assert lines[3].startswith("| multitask | 2 | 80.0 ± 14.1 |")
    assert len(lines) == 4
    one = compare_runs(runs[:1], over_seeds=True).strip().splitlines()
    assert one[2] == "| ewc | 1 | 68.3 | -25.0 | 25.0 | 10.0 | 50.0 | 70.0 | 85.0 |"  # one run: no spread


# ---- plots ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("plot", [plots.plot_heatmap, plots.plot_task_curves])
def test_plots_single_task_with_nan(tmp_path, plot):
    path = tmp_path / "fig.png"
    plot(np.array([[0.3], [nan]]), ["only"], path, "one task")
    assert path.read_bytes()[:8] == PNG
    assert leftovers(tmp_path) == []


def test_plot_rejects_mismatched_names(tmp_path):
    with pytest.raises(ValueError, match="2 task names"):
        plots.plot_heatmap(R3, ["a", "b"], tmp_path / "x.png")


def test_plots_of_one_task_with_a_long_name_keep_their_layout(tmp_path):
    import warnings

    R = np.array([[np.nan], [0.68]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when the labels leave the axes no room
        plots.plot_heatmap(R, ["tools_and_home_improvement"], tmp_path / "h.png")
        plots.plot_task_curves(R, ["tools_and_home_improvement"], tmp_path / "c.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_the_comparison_plot_follows_each_runs_mean_over_the_tasks_seen_so_far(
    tmp_path, no_plots, monkeypatch
):
    ewc = run(tmp_path, "ewc", R3, "ewc")
    short = run(
        tmp_path, "ft", np.array([[nan, nan], [0.5, nan], [0.5, 1.0]]), "finetune", tasks=["sst", "ag"]
    )
    drawn = {}

    def record(curves, stages, path, **kwargs):
        drawn.update(curves=curves, stages=stages)
        return path

    monkeypatch.setattr(plots, "plot_stage_curves", record)
    plot_comparison([ewc, short], tmp_path / "c.png")
    assert drawn["stages"] == ["stage 1", "stage 2", "stage 3"]  # different task lists: numbered
    assert drawn["curves"]["ewc"] == pytest.approx([80.0, 75.0, 205 / 3])
    assert drawn["curves"]["finetune"][:2] == pytest.approx([50.0, 75.0])
    assert math.isnan(drawn["curves"]["finetune"][2])  # it never reached stage 3
    plot_comparison([ewc], tmp_path / "c.png")
    assert drawn["stages"] == TASKS
    plot_comparison([ewc, ewc], tmp_path / "c.png")  # the same label and seed twice: two curves still
    assert list(drawn["curves"]) == ["ewc [seed 0]", "ewc [seed 0] (2)"]


def test_stage_curves_draw_gaps_and_bands_and_reject_a_wrong_length(tmp_path):
    path = tmp_path / "s.png"
    curves = {"a": [50.0, 60.0, 55.0], "final only": [nan, nan, 70.0]}
    plots.plot_stage_curves(curves, TASKS, path, bands={"a": ([45, 55, 50], [55, 65, 60])})
    assert path.read_bytes()[:8] == PNG and leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="2 values for 3 stages"):
        plots.plot_stage_curves({"a": [1.0, 2.0]}, TASKS, path)
