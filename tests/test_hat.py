"""HAT task masks: the annealing schedule, the regulariser and gradient compensation, exact protection
under momentum and weight decay, and bit-identical answers for old tasks after new ones."""

from __future__ import annotations

import math

import pytest
import torch
from _plugins_util import learn_three_tasks_checking_old_answers, session
from transformers import BertConfig, BertModel

from lifelong.methods.base import StepInfo
from lifelong.models.plugins import (
    HAT,
    HATAdapter,
    HATGate,
    TaskSelector,
    add_task_everywhere,
    anneal_s,
    inject_plugins,
)
from lifelong.optim import build_optimizer, groups_by_lr


def test_annealing_schedule_values() -> None:
    s_max, batches = 400.0, 5
    values = [anneal_s(b, batches, s_max) for b in range(batches)]
    assert values[0] == pytest.approx(1 / 400)
    assert values[-1] == pytest.approx(400)
    step = (400 - 1 / 400) / 4
    assert values == pytest.approx([1 / 400 + k * step for k in range(5)])
    assert anneal_s(0, 1, s_max) == s_max  # a one-batch epoch trains at s_max

    sess, tasks = session("hat")
    method = sess.method
    method.grow(tasks[0])
    method.before_forward(StepInfo(task_index=0, epoch=1, batch=2, batches_per_epoch=5, global_step=7))
    assert method.selector.s == pytest.approx(values[2]) and method.selector.task == 0
    with method.eval_context(tasks[0]):  # inference uses s_max
        assert method.selector.s == 400.0
    assert method.selector.s == pytest.approx(values[2])


def _gates(values: list[list[float]]) -> tuple[torch.nn.Module, HAT, list[HATGate]]:
    selector = TaskSelector()
    holder = torch.nn.ModuleList([HATGate(len(v), selector) for v in values])
    for g, v in zip(holder, values, strict=True):
        g.add_task()
        with torch.no_grad():
            g.embeddings[0].copy_(torch.tensor(v))
    return holder, HAT(holder, s_max=400, lamb=0.75), list(holder)


def test_sparsity_regulariser_and_consolidation() -> None:
    _, hat, gates = _gates([[0.5, -0.5, 0.0], [1.0, -2.0]])
    s = 2.0
    a = [torch.sigmoid(s * g.embeddings[0].detach()) for g in gates]
    first = 0.75 * sum(float(x.sum()) for x in a) / 5  # first task: λ·Σa/N
    assert float(hat.regularizer(0, s).detach()) == pytest.approx(first)

    hat.consolidate(0)  # a_prev = a_prev ∪ the binary mask e > 0 (e = 0 is closed)
    assert gates[0].used.tolist() == [1.0, 0.0, 0.0]
    assert gates[1].used.tolist() == pytest.approx([1.0, 0.0])
    for g in gates:
        g.add_task()
        with torch.no_grad():
            g.embeddings[1].fill_(0.3)
    a1 = torch.sigmoid(torch.tensor(s * 0.3))
    free = [1 - g.used for g in gates]
    expected = 0.75 * sum(float((a1 * f).sum()) for f in free) / sum(float(f.sum()) for f in free)
    assert float(hat.regularizer(1, s).detach()) == pytest.approx(expected)


def test_gradient_compensation() -> None:
    _, hat, gates = _gates([[0.01, -0.2, 3.0]])
    e = gates[0].embeddings[0]
    e.grad = torch.ones_like(e)
    s = 7.0
    hat.compensate(0, s)
    for x, g in zip(e.tolist(), e.grad.tolist(), strict=True):
        sx = max(-50.0, min(50.0, s * x))
        assert g == pytest.approx(400 / s * (math.cosh(sx) + 1) / (math.cosh(x) + 1), rel=1e-5)
    hat.clamp(0)
    e.data.fill_(9.0)
    hat.clamp(0)
    assert e.tolist() == [6.0, 6.0, 6.0]


def _masked_model() -> tuple[BertModel, HAT, TaskSelector]:
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(
            vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
        )
    )
    model.requires_grad_(False)
    selector = TaskSelector()
    inject_plugins(model, lambda site: HATAdapter(site.hidden, 12, selector))
    add_task_everywhere(model)
    hat = HAT(model)
    with torch.no_grad():
        for g in hat.gates():  # task 0 uses about half of every layer's units
            g.embeddings[0].copy_(torch.where(torch.rand(g.units) < 0.5, 6.0, -6.0))
        for ml, _ in hat.links():
            ml.linear.weight.normal_(std=0.1)
            ml.linear.bias.normal_(std=0.1)
    hat.consolidate(0)
    add_task_everywhere(model)
    selector.task, selector.s = 1, 50.0
    return model, hat, selector


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    ],
    ids=["sgd-momentum", "adamw"],
)
def test_optimizer_with_momentum_and_weight_decay_leaves_protected_weights_unchanged(make_optimizer) -> None:
    model, hat, selector = _masked_model()
    params = [ml.linear.weight for ml, _ in hat.links()] + [ml.linear.bias for ml, _ in hat.links()]
    params += [g.embeddings[1] for g in hat.gates()]
    optimizer = make_optimizer(params)
    before = [
        (ml, ml.linear.weight.detach().clone(), ml.linear.bias.detach().clone()) for ml, _ in hat.links()
    ]
    hat.start_task()
    ids = torch.randint(0, 50, (4, 7))
    for _ in range(4):
        out = model(input_ids=ids).last_hidden_state
        loss = out.pow(2).mean() + hat.regularizer(1, selector.s)
        loss.backward()
        hat.compensate(1, selector.s)
        hat.block_gradients()
        optimizer.step()
        hat.restore()
        hat.clamp(1)
        optimizer.zero_grad()
    moved_free = 0
    for (ml, w, b), (_, in_gate) in zip(before, hat.links(), strict=True):
        out_used = ml.gate.used > 0
        w_used = out_used[:, None] if in_gate is None else out_used[:, None] & (in_gate.used > 0)[None, :]
        w_used = w_used.expand_as(w)
        assert torch.equal(ml.linear.weight[w_used], w[w_used])
        assert torch.equal(ml.linear.bias[out_used], b[out_used])
        moved_free += int((ml.linear.weight[~w_used] != w[~w_used]).sum())
    assert moved_free > 0  # the free units did train


def test_without_the_restore_momentum_and_weight_decay_would_erode_protected_weights() -> None:
    model, hat, selector = _masked_model()
    weights = [ml.linear.weight for ml, _ in hat.links()]
    optimizer = torch.optim.SGD(weights, lr=0.1, momentum=0.9, weight_decay=0.1)
    before = [w.detach().clone() for w in weights]
    hat.start_task()
    loss = model(input_ids=torch.randint(0, 50, (2, 5))).last_hidden_state.pow(2).mean()
    loss.backward()
    hat.block_gradients()  # gradient blocking alone, as in the public implementations
    optimizer.step()
    used = hat.links()[0][0].gate.used > 0
    assert not torch.equal(weights[0][used], before[0][used])


def test_hat_answers_old_tasks_bit_identically_after_new_ones() -> None:
    sess = learn_three_tasks_checking_old_answers("hat")
    row = sess.scores.array("accuracy")
    assert row[1, 0] == row[2, 0] == row[3, 0] and row[2, 1] == row[3, 1]  # no forgetting at all


def test_mask_lr_gives_the_task_embeddings_their_own_learning_rate() -> None:
    def open_fraction(method, task: int) -> float:
        masks = method.hat.masks(task)
        return float(sum(int((m > 0.5).sum()) for m in masks) / sum(m.numel() for m in masks))

    plain, tasks = session("hat", "training.lr=1e-3", "method_args.mask_lr=null")
    fast, _ = session("hat", "training.lr=1e-3", "method_args.mask_lr=0.1")
    for sess in (plain, fast):
        sess.learn_task(tasks[0])
    current = fast.method.hat.task_embeddings(0)
    assert set(fast.method.learning_rates()) == {id(p) for p in current}
    assert plain.method.learning_rates() == {}
    groups = groups_by_lr(list(fast.method.trainable_parameters()), fast.method.learning_rates())
    assert [g.lr for g in groups] == [None, 0.1]  # None: training.lr
    assert {id(p) for p in groups[1].params} == {id(p) for p in current}
    optimizer, _ = build_optimizer(groups, fast.config.training, 10)
    assert sorted({g["initial_lr"] for g in optimizer.param_groups}) == [1e-3, 0.1]
    # at lr 1e-3 the sparsity regulariser cannot move N(0, 1) embeddings: about half the units stay
    # open; with the larger mask learning rate it closes most of them, leaving capacity for later tasks
    assert open_fraction(fast.method, 0) < open_fraction(plain.method, 0) - 0.1


def test_learned_tasks_answer_with_binary_masks_and_only_their_units_are_frozen() -> None:
    """A unit no earlier task opened contributes exactly zero to them, so it stays trainable: HAT's
    real-valued a_prev = sigmoid(400·e) > 0 would freeze it too (58 % frozen for 49 % open)."""
    sess, tasks = session("hat")
    sess.learn_task(tasks[0])
    hat = sess.method.hat
    for g in hat.gates():
        assert set(g.used.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(g.used, g.open_units(0))
    with sess.method.eval_context(tasks[0]):
        assert all(set(g().unique().tolist()) <= {0.0, 1.0} for g in hat.gates())
    closed = [(ml.linear.weight.detach().clone(), ml.gate.used == 0) for ml, _ in hat.links()]
    assert any(bool(free.any()) for _, free in closed)
    sess.learn_task(tasks[1])
    for (before, free), (ml, _) in zip(closed, hat.links(), strict=True):
        if free.any():  # rows of units task 0 left closed did train for task 1
            assert not torch.equal(ml.linear.weight[free], before[free])
    usage = sess.method.mask_usage
    assert [u["stage"] for u in usage] == [1, 2]
    total = sum(g.units for g in hat.gates())
    assert usage[1]["used so far %"] == pytest.approx(
        100 * sum(float(g.used.sum()) for g in hat.gates()) / total
    )
    assert 0 < usage[0]["open %"] < 100 and usage[0]["overlap with earlier %"] == 0


def test_the_task_embeddings_gradients_are_not_clipped() -> None:
    sess, tasks = session("hat")
    sess.method.grow(tasks[0])
    params = list(sess.method.trainable_parameters())
    clipped = {id(p) for p in sess.method.clipped(params)}
    embeddings = {id(p) for p in sess.method.hat.task_embeddings(0)}
    assert embeddings and not embeddings & clipped and clipped == {id(p) for p in params} - embeddings
