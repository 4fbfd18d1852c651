"""CTR: shared transfer routing over every capsule so far, earlier capsules kept, checkpoints that keep
masks, capsules and heads, and ``lifelong learn`` on a saved CTR learner."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from _plugins_util import masked_weights, session, task_logits
from safetensors.torch import load_file

from lifelong.cli import main
from lifelong.data.task import Task
from lifelong.methods.ctr import gate_shares
from lifelong.models.plugins import KnowledgeSharing, TaskSelector, plugins
from lifelong.models.plugins.capsules import all_capsules, knowledge_sharing_core
from lifelong.runs import open_learner
from lifelong.session import Session


def _ksm(tasks: int) -> tuple[KnowledgeSharing, TaskSelector]:
    torch.manual_seed(0)
    selector = TaskSelector()
    ksm = KnowledgeSharing(16, selector, capsule_mid=8, capsule_dim=4, channels=6)
    for _ in range(tasks):
        ksm.add_task()
        ksm.out.gate.add_task()  # the HAT gate of the output projection grows with the model
    selector.task = tasks - 1
    return ksm, selector


def test_every_capsule_is_routed_by_the_shared_routing_and_the_gradient_flows_through_old_ones() -> None:
    ksm, _ = _ksm(3)
    for capsule in ksm.capsules[:2]:  # as the method leaves them: earlier capsules keep their parameters
        capsule.requires_grad_(False)
    x = torch.randn(5, 7, 16, requires_grad=True)
    ksm.routing.gate_log = []
    ksm.train()
    ksm(x).pow(2).sum().backward()
    assert ksm.routing.gate_log[0].shape == (3, 5)  # a gate per example for tasks 0, 1 and the current one
    ksm.routing.gate_log = None
    assert all(p.grad is not None for p in ksm.capsules[2].parameters())
    assert ksm.routing.fc_gate.weight.grad is not None  # straight-through: the gate learns
    assert all(r.grad is not None for r in ksm.routing.routes)  # shared routing: every source trains
    # the gradient reaches the input through the earlier capsules too, not only through the current one
    ksm.zero_grad()
    x.grad = None
    only_old = all_capsules(list(ksm.capsules[:2]), x).pow(2).sum()
    only_old.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    ksm.eval()
    with torch.no_grad():
        assert torch.equal(ksm(x), ksm(x))  # inference is deterministic (argmax instead of Gumbel noise)


def test_the_compiled_routing_computes_what_the_eager_one_does() -> None:
    ksm, _ = _ksm(3)
    x = torch.randn(2, 5, 16, requires_grad=True)
    ksm.eval()
    with torch.no_grad():
        eager = ksm(x)
        ksm.core = torch.compile(knowledge_sharing_core, dynamic=True)
        assert torch.allclose(ksm(x), eager, atol=1e-5)
    ksm.train()
    ksm(x).pow(2).sum().backward()  # the compiled backward reaches the current capsule and every route
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in ksm.capsules[2].parameters())
    assert all(r.grad is not None for r in ksm.routing.routes) and x.grad is not None


def test_a_closed_gate_removes_the_current_tasks_own_capsule_too() -> None:
    ksm, _ = _ksm(2)
    ksm.eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        ksm.routing.fc_gate.bias.copy_(torch.tensor([-100.0, 100.0]))  # every gate closed
        assert float(ksm.routing(all_capsules(list(ksm.capsules), x)).abs().max()) == 0.0
        ksm.routing.fc_gate.bias.copy_(torch.tensor([100.0, -100.0]))
        assert float(ksm.routing(all_capsules(list(ksm.capsules), x)).abs().max()) > 0.0


def test_ctr_keeps_old_capsules_and_protected_units_while_routing_is_shared() -> None:
    sess, tasks = session("ctr")
    sess.learn_task(tasks[0])
    ksm = plugins(sess.method.learner)[0].ksm
    first_capsule = [p.detach().clone() for p in ksm.capsules[0].parameters()]
    routes = [r.detach().clone() for r in ksm.routing.routes]
    sess.learn_task(tasks[1])
    assert all(torch.equal(a, b) for a, b in zip(first_capsule, ksm.capsules[0].parameters(), strict=True))
    assert not torch.equal(routes[0], ksm.routing.routes[0])  # task 0's routing keeps learning
    assert len(ksm.capsules) == 2 and len(ksm.routing.routes) == 2
    row = sess.scores.array("accuracy")
    assert row[2, 0] >= row[1, 0] - 0.2  # shared routing may move an old task a little, not undo it


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
    assert sum(int((a != b).sum()) for a, b in zip(masked_weights(old), masked_weights(new), strict=True)) > 0


def test_routing_gates_are_measured_after_each_task_and_follow_the_gate() -> None:
    sess, tasks = session("ctr", "stream.tasks=[topic, sentiment]", "method_args.gate_probe=8")
    for task in tasks:
        sess.learn_task(task)
    usage = sess.method.routing_usage
    assert [row["stage"] for row in usage] == [1, 2] and usage[0]["earlier gates open %"] == "—"
    assert all(0.0 <= row["own gate open %"] <= 100.0 for row in usage)
    assert len(usage[1]["per earlier task %"].split()) == 1
    (table,) = [t for t in sess.method.report_tables() if t["title"].startswith("CTR transfer routing")]
    assert len(table["rows"]) == 2
    routings = [p.ksm.routing for p in plugins(sess.method.learner)]
    probe = tasks[1].split("train")[:8]
    with torch.no_grad():
        for bias in (torch.tensor([-100.0, 100.0]), torch.tensor([100.0, -100.0])):
            for r in routings:
                r.fc_gate.bias.copy_(bias)
            shares = gate_shares(sess.method, tasks[1], probe)
            assert len(shares) == 2 and shares == [float(bias[0] > 0)] * 2  # all closed, then all open
    assert all(r.gate_log is None for r in routings)  # measuring leaves no recording behind
