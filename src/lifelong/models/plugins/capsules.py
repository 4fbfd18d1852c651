"""CTR's CL-plugin (Ke, Liu, Ma, Xu and Shu, NeurIPS 2021): a knowledge sharing module (task capsules +
transfer routing) followed by a task specific module (HAT-masked fully connected layers).

Knowledge sharing module (KSM), for the current task t and every token:

- *task capsule layer*: one small two-layer capsule per task, ``p_i = squash(W2_i (W1_i x))``; a new one
  is added for every task. Earlier tasks' capsules keep their parameters (they train only with their
  own task) but stay in the graph, so the gradient flows through them to the layers below.
- *transfer capsule layer*, shared by all tasks: a routing matrix per source task, ``u_i = p_i R_i``, and
  one comparator (1-D convolutions over the sequence) that contrasts every ``u_i`` (i <= t, the current
  task included) with the current task's ``u_t``; from that comparison a similarity vector ``sim_i`` and
  a task-sharing gate ``δ_i`` (two logits, Gumbel-softmax with a straight-through estimator in training,
  the argmax at inference) decide how much of task i is routed: ``v = Σ_{i<=t} δ_i·sim_i ⊙ u_i``, mapped
  back to the hidden size by a HAT-masked linear layer.

Task specific module (TSM): ``x + g2·gelu(up(g1·gelu(down(x + KSM(x)))))`` with HAT masks g1, g2.

What is per task: the capsules, the HAT task embeddings and the head. What is shared: the routing
matrices (R_i is created with task i and keeps training with every later task) and the comparator, as
in the paper; the KSM's output layer and the TSM are shared and HAT-protected. Because routing and
comparator keep training, an earlier task's answers can drift (CTR's forgetting is small, not zero).

Deviations from the paper: the routing matrices start as the identity (the capsules themselves) rather
than at random; one comparator kernel width instead of three (``kernel``); capsule sizes are config
values (``capsule_mid``, ``capsule_dim``) sized for MiniLM rather than BERT-base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.models.plugins.base import PerTask, TaskSelector
from lifelong.models.plugins.hat import HATGate, HATMasked, MaskedLinear


def squash(x: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Capsule non-linearity: keeps the direction, maps the length into [0, 1)."""
    n2 = (x * x).sum(dim, keepdim=True)
    return n2 / (1 + n2) * x / torch.sqrt(n2 + eps)


class TaskCapsule(nn.Module):
    """One task's capsule: two linear layers applied to every token (no activation between them)."""

    def __init__(self, hidden: int, mid: int, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, mid)
        self.fc2 = nn.Linear(mid, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return squash(self.fc2(self.fc1(x)))


def capsule_outputs(
    x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """Every capsule's output, (T, B, L, dim), from the capsules' weights stacked by task: the first layers
    of all capsules as one matrix product over the shared input, the second layers as one batched product."""
    t, mid = w2.shape[0], w2.shape[2]
    h = F.linear(x, w1.to(x.dtype), b1.to(x.dtype))  # (B, L, T*mid)
    b, length = h.shape[:2]
    h = h.reshape(b * length, t, mid).transpose(0, 1)  # (T, B*L, mid)
    p = torch.baddbmm(b2.to(h.dtype)[:, None], h, w2.to(h.dtype).transpose(1, 2))  # (T, B*L, dim)
    return squash(p.reshape(t, b, length, -1))


def all_capsules(capsules: list[TaskCapsule], x: torch.Tensor) -> torch.Tensor:
    """Every capsule's output, (T, B, L, dim), in the graph."""
    return capsule_outputs(x, *stacked_capsules(capsules))


def stacked_capsules(capsules: list[TaskCapsule]) -> tuple[torch.Tensor, ...]:
    """The capsules' weights stacked by task: w1 (T*mid, hidden), b1, w2 (T, dim, mid), b2."""
    return (
        torch.cat([c.fc1.weight for c in capsules]),
        torch.cat([c.fc1.bias for c in capsules]),
        torch.stack([c.fc2.weight for c in capsules]),
        torch.stack([c.fc2.bias for c in capsules]),
    )


def transfer_capsule(
    u: torch.Tensor,
    conv_cur: tuple[torch.Tensor, torch.Tensor],
    conv_pre: tuple[torch.Tensor, torch.Tensor],
    fc_cur: tuple[torch.Tensor, torch.Tensor],
    fc_sim: tuple[torch.Tensor, torch.Tensor],
    fc_gate: tuple[torch.Tensor, torch.Tensor],
    tau: float,
    training: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The transfer capsule (B, L, dim) and the gates (T, B) from the pre-route vectors ``u`` (T, B, L, dim)
    of tasks 0..t, the current one last: the comparator contrasts every task's ``u_i`` with the current
    one's, giving a similarity vector and a task-sharing gate per source task and example."""
    t, b, length, dim = u.shape
    pad = conv_cur[0].shape[-1] // 2
    current = F.conv1d(u[-1].transpose(1, 2), *conv_cur, padding=pad)
    summary = F.relu(current).max(dim=-1).values  # the current task, max over the sequence: (B, C)
    flat = u.reshape(t * b, length, dim).transpose(1, 2)  # (T*B, dim, L)
    mixed = (
        F.conv1d(flat, *conv_pre, padding=pad).view(t, b, -1, length)
        + F.linear(summary, *fc_cur)[None, :, :, None]
    )
    z = F.relu(mixed).max(dim=-1).values  # (T, B, C)
    sim = torch.sigmoid(F.linear(z, *fc_sim))  # (T, B, dim)
    logits = F.linear(z, *fc_gate).float()  # task-sharing gate: [transfer, no transfer]
    if training:  # Gumbel-softmax with the straight-through estimator
        gates = F.gumbel_softmax(logits, tau=tau, hard=True)[..., 0]
    else:  # the argmax
        gates = (logits[..., 0] >= logits[..., 1]).to(logits.dtype)
    weight = (gates[..., None].to(sim.dtype) * sim)[:, :, None, :]  # (T, B, 1, dim)
    return (weight * u).sum(0), gates


def knowledge_sharing_core(
    x: torch.Tensor,
    capsule_weights: tuple[torch.Tensor, ...],
    routes: torch.Tensor,
    comparator: tuple[tuple[torch.Tensor, torch.Tensor], ...],
    tau: float,
    training: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Task capsules and transfer routing as one function of tensors, so that one compiled version
    (``torch.compile``, the ``compile_routing`` option) serves every plugin site; the routing runs in
    float32, outside autocast (many tiny layers: no weight casts per call)."""
    return route(capsule_outputs(x, *capsule_weights), routes, comparator, tau, training)


def route(
    capsules: torch.Tensor,
    routes: torch.Tensor,
    comparator: tuple[tuple[torch.Tensor, torch.Tensor], ...],
    tau: float,
    training: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Capsule outputs (T, B, L, dim) -> the transfer capsule and the gates, in float32 outside autocast."""
    with torch.autocast(capsules.device.type, enabled=False):
        u = torch.einsum("tbld,tde->tble", capsules.float(), routes)  # pre-route vectors
        return transfer_capsule(u, *comparator, tau=tau, training=training)


class TransferRouting(nn.Module):
    """The transfer capsule layer, shared by all tasks: a routing matrix per source task and one
    comparator that decides, per example, what every task so far contributes to the current one."""

    def __init__(self, dim: int, channels: int, kernel: int, tau: float):
        super().__init__()
        self.dim, self.tau = dim, tau
        self.routes = nn.ParameterList()
        pad = kernel // 2
        self.conv_cur = nn.Conv1d(dim, channels, kernel, padding=pad)
        self.conv_pre = nn.Conv1d(dim, channels, kernel, padding=pad)
        self.fc_cur = nn.Linear(channels, channels)
        self.fc_sim = nn.Linear(channels, dim)
        self.fc_gate = nn.Linear(channels, 2)  # task-sharing gate: [transfer, no transfer]
        self.gate_log: list[torch.Tensor] | None = None  # a list: every forward appends its gates (T, B)

    def add_source(self, device: torch.device | str | None = None) -> None:
        self.routes.append(nn.Parameter(torch.eye(self.dim, device=device)))  # starts as the capsule itself

    def stacked_routes(self, t: int) -> torch.Tensor:
        return torch.stack(list(self.routes[:t]))

    def comparator(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        layers = (self.conv_cur, self.conv_pre, self.fc_cur, self.fc_sim, self.fc_gate)
        return tuple((m.weight, m.bias) for m in layers)

    def log(self, gates: torch.Tensor) -> None:
        if self.gate_log is not None:
            self.gate_log.append(gates.detach().float().cpu())

    def forward(self, capsules: torch.Tensor) -> torch.Tensor:
        """``capsules`` (T, B, L, dim) of tasks 0..t, the current one last -> the transfer capsule (B, L, dim)."""
        routes = self.stacked_routes(capsules.shape[0])
        v, gates = route(capsules, routes, self.comparator(), self.tau, self.training)
        self.log(gates)
        return v


class KnowledgeSharing(PerTask):
    """CTR's KSM: task capsules, the shared transfer routing, and a HAT-masked projection back to the
    hidden size."""

    def __init__(
        self,
        hidden: int,
        selector: TaskSelector,
        capsule_mid: int = 32,
        capsule_dim: int = 8,
        channels: int = 32,
        kernel: int = 3,
        tau: float = 1.0,
    ):
        super().__init__()
        self.hidden, self.mid, self.dim = hidden, capsule_mid, capsule_dim
        self.selector = selector
        self.capsules = nn.ModuleList()
        self.routing = TransferRouting(capsule_dim, channels, kernel, tau)
        self.out = MaskedLinear(capsule_dim, hidden, selector)
        self.core: Callable[..., tuple[torch.Tensor, torch.Tensor]] = knowledge_sharing_core

    def add_task(self, device: torch.device | str | None = None) -> None:
        self.capsules.append(TaskCapsule(self.hidden, self.mid, self.dim).to(device))
        self.routing.add_source(device)

    def num_tasks(self) -> int:
        return len(self.capsules)

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        """The capsule alone: the routing matrices and the comparator are shared by every task."""
        yield from self.capsules[task].parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, r = self.selector.task, self.routing
        capsule_weights = stacked_capsules(list(self.capsules[: t + 1]))
        v, gates = self.core(x, capsule_weights, r.stacked_routes(t + 1), r.comparator(), r.tau, r.training)
        r.log(gates)
        # the projection back is a tiny layer too: in float32, without autocast (on a GPU a step is bound
        # by kernel launches, and a weight cast per call is one more)
        with torch.autocast(x.device.type, enabled=False):
            return self.out(v).to(x.dtype)


class CTRPlugin(HATMasked):
    """``x + TSM(x + KSM(x))``: the task specific module is a HAT-masked bottleneck with GELU after both
    layers; its output layer starts at zero, so a fresh plugin leaves the backbone's outputs unchanged."""

    def __init__(self, hidden: int, bottleneck: int, selector: TaskSelector, **capsule_args: int | float):
        super().__init__()
        self.ksm = KnowledgeSharing(hidden, selector, **capsule_args)  # type: ignore[arg-type]
        self.down = MaskedLinear(hidden, bottleneck, selector)
        self.up = MaskedLinear(bottleneck, hidden, selector, zero_init=True)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.ksm(x)
        return x + self.up(self.down(h, self.act), self.act)

    def hat_links(self) -> list[tuple[MaskedLinear, HATGate | None]]:
        return [(self.ksm.out, None), (self.down, None), (self.up, self.down.gate)]
