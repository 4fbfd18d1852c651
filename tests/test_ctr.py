"""CTR: transfer routing with frozen earlier capsules, bit-identical old tasks, checkpoints that keep
masks, capsules and heads, and ``lifelong learn`` on a saved CTR learner."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from _plugins_util import learn_three_tasks_checking_old_answers, masked_weights, session, task_logits
from safetensors.torch import load_file

from lifelong.cli import main
from lifelong.data.task import Task
from lifelong.models.plugins import KnowledgeSharing, TaskSelector, TransferRouter, plugins
from lifelong.runs import open_learner
from lifelong.session import Session


def test_transfer_routing_freezes_earlier_capsules_and_gates_binarily() -> None:
    torch.manual_seed(0)
    selector = TaskSelector()
    ksm = KnowledgeSharing(16, selector, capsule_mid=8, capsule_dim=4, channels=6)
    for _ in range(3):
        ksm.add_task()
    ksm.out.gate.add_task()  # the HAT gate of the output projection grows with the model, not the KSM
    ksm.out.gate.add_task()
    ksm.out.gate.add_task()
    selector.task = 2
    x = torch.randn(5, 7, 16)
    ksm.train()
    ksm(x).pow(2).sum().backward()
    assert all(p.grad is None for c in ksm.capsules[:2] for p in c.parameters())  # earlier capsules: blocked
    assert all(p.grad is not None for p in ksm.capsules[2].parameters())
    assert ksm.routers[2].fc_gate.weight.grad is not None  # straight-through: the detector learns
    assert all(p.grad is None for r in ksm.routers[:2] for p in r.parameters())

    router: TransferRouter = ksm.routers[2]
    seen = []
    router.register_forward_hook(lambda m, i, o: seen.append(i))
    ksm.eval()
    with torch.no_grad():
        a, b = ksm(x), ksm(x)
    assert torch.equal(a, b)  # inference is deterministic (argmax instead of Gumbel noise)
    current, earlier = seen[0]
    assert current.shape == (5, 7, 4) and earlier.shape == (2, 5, 7, 4)


def test_ctr_answers_old_tasks_bit_identically_after_new_ones() -> None:
    sess = learn_three_tasks_checking_old_answers("ctr")
    ksm = plugins(sess.method.learner)[0].ksm
    assert len(ksm.capsules) == 3 and ksm.routers[2].route.shape[0] == 3


def _saved_ctr_learner(out: Path) -> tuple[Session, list[Task]]:
    """A CTR learner trained on two tasks and saved in ``out`` as ``lifelong run`` leaves it."""
    sess, tasks = session("ctr", "stream.tasks=[topic, sentiment]")
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(sess.config.to_dict(), sort_keys=False))
    sess.ctx.run_dir = out
    for task in tasks:
        sess.learn_task(task)
    sess.checkpoint(out)
    return sess, tasks


def test_checkpoint_round_trip_keeps_masks_capsules_and_heads(tmp_path: Path) -> None:
    out = tmp_path / "ctr"
    original, tasks = _saved_ctr_learner(out)
    saved = load_file(str(out / "checkpoint" / "learner.safetensors"))
    reopened, _ = open_learner(out)
    state = reopened.method.learner.state_dict()
    assert saved.keys() == state.keys() == original.method.learner.state_dict().keys()
    assert all(torch.equal(saved[k], state[k]) for k in saved)
    learner = reopened.method.learner
    assert len(learner.heads) == 2
    ksm = plugins(learner)[0].ksm
    assert len(ksm.capsules) == 2 and ksm.out.gate.num_tasks() == 2
    assert float(ksm.out.gate.used.sum()) > 0  # the cumulative masks came back
    for task in tasks:  # and the reopened learner answers every task exactly as the original did
        rows = original.method.learner.encode(task, task.split(task.eval_split()))
        assert torch.equal(task_logits(reopened.method, task, rows), task_logits(original.method, task, rows))


def test_lifelong_learn_adds_a_task_to_a_saved_ctr_learner(tmp_path: Path) -> None:
    out = tmp_path / "ctr"
    _saved_ctr_learner(out)
    before, _ = open_learner(out)
    old = before.method
    assert main(["learn", str(out), "--task", "color"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tasks"] == ["topic", "sentiment", "color"] and len(metrics["matrix"]) == 4
    after, tasks = open_learner(out)
    new = after.method
    assert len(plugins(new.learner)[0].ksm.capsules) == 3 and len(new.learner.heads) == 3
    for task in tasks[:2]:  # the old tasks answer exactly as before
        rows = old.learner.encode(task, task.split(task.eval_split()))
        assert torch.equal(task_logits(new, task, rows), task_logits(old, task, rows))
    assert sum(int((a != b).sum()) for a, b in zip(masked_weights(old), masked_weights(new), strict=True)) > 0
