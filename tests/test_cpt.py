"""CPT: masked-LM post-training with HAT-masked CL-plugins on corpus tasks scored by their end tasks.

Masking proportions; only plugins and masks change during post-training; earlier domains' masked-LM
outputs under their masks are bit-identical after a later domain; end-task fine-tuning leaves the
post-trained model untouched; a checkpoint round trip keeps everything; the baselines run."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lifelong.config import load_config
from lifelong.data.stream import load_stream
from lifelong.data.task import Task
from lifelong.models.end_task import EndTaskConfig, end_task_scores, few_shot_sample
from lifelong.models.masked_lm import mask_tokens
from lifelong.models.plugins import plugins
from lifelong.runs import open_learner, run
from lifelong.session import Session, open_session
from lifelong.training.trainer import train_task

WORDS = {
    "tools": "hammer drill wrench saw screw bolt nail clamp level tape",
    "pets": "dog cat leash collar treat bowl litter toy fish bird",
}
GOOD, BAD = "great excellent love perfect sturdy", "awful broken hate poor flimsy"


def _write_domain(root: Path, name: str, seed: int) -> None:
    rng = random.Random(seed)
    words = WORDS[name].split()
    folder = root / name
    folder.mkdir(parents=True)
    for split, n in (("train", 48), ("dev", 16), ("test", 24)):
        with open(folder / f"{split}.jsonl", "w") as fh:
            for i in range(n):
                label = "positive" if i % 2 else "negative"
                mood = (GOOD if label == "positive" else BAD).split()
                text = " ".join(
                    rng.choice(words) if rng.random() < 0.7 else rng.choice(mood) for _ in range(12)
                )
                fh.write(json.dumps({"text": text, "label": label}) + "\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cpt-data")
    for i, name in enumerate(WORDS):
        _write_domain(root, name, i)
    return root


def _overrides(data_dir: Path, method: str) -> list[str]:
    tasks = [
        {
            "name": name,
            "kind": "corpus",
            "path": str(data_dir / name),
            "splits": ["train", "dev"],
            "metric": "accuracy",
            "end_task": {
                "name": name,
                "kind": "classification",
                "path": str(data_dir / name),
                "splits": ["train", "test"],
                "labels": ["negative", "positive"],
            },
        }
        for name in WORDS
    ]
    return [
        "model.name=tiny-bert",
        "model.max_length=32",
        f"method={method}",
        "training.epochs=2",
        "training.lr=5e-3",
        "training.batch_size=16",
        "training.eval_batch_size=32",
        "end_task.epochs=2",
        "end_task.shots=8",
        "end_task.max_eval=12",
        f"stream.tasks={json.dumps(tasks)}",
    ]


def _session(data_dir: Path, method: str, *extra: str) -> tuple[Session, list[Task]]:
    cfg = load_config(None, [*_overrides(data_dir, method), *extra])
    stream = load_stream(cfg.stream, data_dir)
    return open_session(cfg, stream.tasks, stream.scenario, None), stream.tasks


def _post_train(sess: Session, task: Task, grow: bool = True) -> None:
    method = sess.method
    if grow:
        method.grow(task)
    rows = method.before_task(task, method.learner.encode(task, task.split("train")))
    train_task(method, task, len(method.tasks) - 1, rows, sess.ctx)
    method.after_task(task, rows)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@torch.no_grad()
def _mlm_logits(sess: Session, task: Task) -> torch.Tensor:
    learner = sess.method.learner
    rows = learner.encode(task, task.split("dev"))
    batch = learner.collate(rows, generator=torch.Generator().manual_seed(7))
    learner.eval()
    with sess.method.eval_context(task), learner.autocast():
        logits = learner(batch).logits.float()
    learner.train()
    return logits


def test_mlm_masking_proportions() -> None:
    ids = torch.randint(10, 1000, (400, 250))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    gen = torch.Generator().manual_seed(0)
    inputs, labels = mask_tokens(ids, ~special, mask_id=3, vocab_size=1000, probability=0.15, generator=gen)
    chosen = labels != -100
    assert not chosen[special].any()  # special tokens are never predicted
    assert torch.equal(labels[chosen], ids[chosen])
    assert chosen.float().mean().item() == pytest.approx(0.15 * 248 / 250, abs=0.005)
    n = chosen.sum().item()
    masked = (inputs == 3) & chosen
    kept = (inputs == ids) & chosen
    replaced = chosen & ~masked & ~kept
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.01)
    # a random replacement draws the original token 1 time in 1000: "kept" is 10 % plus that
    assert kept.sum().item() / n == pytest.approx(0.1, abs=0.01)
    assert replaced.sum().item() / n == pytest.approx(0.1, abs=0.01)
    assert torch.equal(inputs[~chosen], ids[~chosen])
    again = mask_tokens(ids, ~special, 3, 1000, 0.15, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)  # seeded


def test_few_shot_sample_sizes(data_dir: Path) -> None:
    _, tasks = _session(data_dir, "cpt")
    end = tasks[0].end_task
    assert end is not None
    cfg = EndTaskConfig(shots=8)
    sample = few_shot_sample(end, end.split("train"), cfg)
    assert len(sample) == 8 and {ex.label for ex in sample} == {"negative", "positive"}
    assert sample == few_shot_sample(end, end.split("train"), cfg)  # seeded
    many = Task("many", "classification", labels=tuple("abcde"))
    from lifelong.data.task import Example

    examples = [Example(text=str(i), label="abcde"[i % 5]) for i in range(100)]
    assert (
        len(few_shot_sample(many, examples, EndTaskConfig(shots_per_class=3))) == 15
    )  # > 4 classes: per class
    assert len(few_shot_sample(end, end.split("train"), EndTaskConfig(full_data=True))) == 48


def test_cpt_trains_only_plugins_and_masks_and_protects_earlier_domains(data_dir: Path) -> None:
    sess, tasks = _session(data_dir, "cpt")
    learner = sess.method.learner
    _post_train(sess, tasks[0])
    before_logits = _mlm_logits(sess, tasks[0])
    sess.method.grow(tasks[1])  # the new domain's mask embeddings exist before the snapshot
    before = _snapshot(learner)
    plugin_ids = {id(p) for plugin in plugins(learner) for p in plugin.parameters()}
    names = {id(p): n for n, p in learner.named_parameters()}
    plugin_names = {names[i] for i in plugin_ids}
    _post_train(sess, tasks[1], grow=False)
    after = _snapshot(learner)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "post-training changed nothing"
    buffers = {k for k in changed if k.endswith(".used")}  # HAT's cumulative masks: bookkeeping
    assert changed - buffers <= plugin_names  # backbone and MLM head untouched on a later domain
    assert any("embeddings" in k for k in changed - buffers)  # the mask embeddings trained
    # the first domain's masked-LM outputs under its mask are bit-identical
    assert torch.equal(before_logits, _mlm_logits(sess, tasks[0]))


def test_end_task_finetuning_leaves_the_model_untouched(data_dir: Path) -> None:
    sess, tasks = _session(data_dir, "cpt")
    _post_train(sess, tasks[0])
    method = sess.method
    before = _snapshot(method.learner)
    grads = {n: p.requires_grad for n, p in method.learner.named_parameters()}
    selector = (method.selector.task, method.selector.s)
    scores = method.evaluate(tasks[0], tasks[0].split("dev"))
    assert set(scores) >= {"accuracy", "macro_f1", "mlm_loss", "perplexity"}
    assert 0.0 <= scores["accuracy"] <= 1.0 and math.isfinite(scores["mlm_loss"])
    after = _snapshot(method.learner)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert grads == {n: p.requires_grad for n, p in method.learner.named_parameters()}
    assert (method.selector.task, method.selector.s) == selector
    # the same evaluation twice gives the same numbers (seeded masks, sample, head and batch order)
    assert method.evaluate(tasks[0], tasks[0].split("dev")) == scores


def test_checkpoint_round_trip(data_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(None, [*_overrides(data_dir, "cpt"), f"data_dir={data_dir}"])
    out = tmp_path / "run"
    metrics = run(cfg, out=out)
    assert metrics["tasks"] == list(WORDS)
    saved = json.loads((out / "checkpoint" / "progress.json").read_text())["scores"]["data"]
    assert {"accuracy", "macro_f1", "mlm_loss", "perplexity"} <= set(saved)
    sess, tasks = open_learner(out)
    from safetensors.torch import load_file

    stored = load_file(str(out / "checkpoint" / "learner.safetensors"))
    now = sess.method.learner.state_dict()
    assert set(stored) <= set(now)  # safetensors stores tied weights (the MLM decoder) once
    assert all(torch.equal(stored[k], now[k]) for k in stored)
    assert any(k.endswith(".used") and stored[k].any() for k in stored)  # HAT's protection travels too
    loss = saved["mlm_loss"][-1][0]
    with sess.method.eval_context(tasks[0]):
        assert sess.method.learner.mlm_loss(tasks[0], tasks[0].split("dev")) == pytest.approx(loss, abs=1e-6)


def test_baselines_none_ncl_demix(data_dir: Path) -> None:
    off = "end_task.enabled=false"
    sess, tasks = _session(data_dir, "none", off)
    before = _snapshot(sess.method.learner)
    _post_train(sess, tasks[0])  # the trainer skips a method that does not train
    assert all(torch.equal(before[k], v) for k, v in _snapshot(sess.method.learner).items())

    sess, tasks = _session(data_dir, "ncl", off)
    first = sess.method.learner.mlm_loss(tasks[0], tasks[0].split("dev"))
    _post_train(sess, tasks[0])
    assert sess.method.learner.mlm_loss(tasks[0], tasks[0].split("dev")) < first

    sess, tasks = _session(data_dir, "demix", off)
    for task in tasks:
        _post_train(sess, task)
    assert sess.method.parents == {tasks[1].name: tasks[0].name}
    assert sess.method.state_dict() == {"parents": {tasks[1].name: tasks[0].name}}


def test_end_task_repeats_average_fine_tunings_with_consecutive_seeds(data_dir: Path) -> None:
    sess, tasks = _session(data_dir, "none")
    learner = sess.method.learner
    end = tasks[0].end_task
    assert end is not None
    base = EndTaskConfig(shots=8, epochs=2, max_eval=12, seed=3)
    single = {
        seed: end_task_scores(
            learner.encoder, learner.tokenizer, learner.max_length, end, replace(base, seed=seed)
        )
        for seed in (3, 4)
    }
    both = end_task_scores(
        learner.encoder, learner.tokenizer, learner.max_length, end, replace(base, repeats=2)
    )
    for name in ("accuracy", "macro_f1"):
        assert both[f"{name}_seed3"] == single[3][name] and both[f"{name}_seed4"] == single[4][name]
        assert both[name] == pytest.approx((single[3][name] + single[4][name]) / 2)
    assert not any("_seed" in name for name in single[3])  # one fine-tuning: no per-seed copies


def test_a_saved_learner_is_rescored_under_another_end_task_protocol(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifelong.cli import main

    cfg = load_config(None, [*_overrides(data_dir, "ncl"), "training.score_before=false"])
    out = tmp_path / "run"
    metrics = run(cfg, out=out)
    saved = (out / "checkpoint" / "learner.safetensors").read_bytes()
    last = {t: metrics["matrices"]["accuracy"][-1][j] for j, t in enumerate(metrics["tasks"])}

    assert main(["evaluate", str(out), "--output", str(tmp_path / "same.json")]) == 0
    same = json.loads((tmp_path / "same.json").read_text())["scores"]
    assert {t: s["accuracy"] for t, s in same.items()} == pytest.approx(last)  # the run's own last row

    more = tmp_path / "more.json"
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--set",
                "end_task.shots=24",
                "--set",
                "end_task.repeats=2",
                "--output",
                str(more),
            ]
        )
        == 0
    )
    rescored = json.loads(more.read_text())
    assert rescored["scoring"] == ["end_task.shots=24", "end_task.repeats=2"]
    assert all({"accuracy_seed0", "accuracy_seed1"} <= set(s) for s in rescored["scores"].values())
    assert (out / "checkpoint" / "learner.safetensors").read_bytes() == saved  # the learner is untouched

    capsys.readouterr()
    assert main(["evaluate", str(out), "--set", "training.lr=1.0"]) == 2  # not a scoring key
    assert "end_task" in capsys.readouterr().err


def test_a_run_without_end_tasks_is_reported_by_masked_lm_loss(data_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(None, [*_overrides(data_dir, "ncl"), "end_task.enabled=false"])
    metrics = run(cfg, out=tmp_path / "run")  # the tasks' metric is accuracy, which is never scored
    assert metrics["primary_metric"] == "mlm_loss" and "accuracy" not in metrics["matrices"]
    assert all(math.isfinite(v) for v in metrics["matrices"]["mlm_loss"][-1])
