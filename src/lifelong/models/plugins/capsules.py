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

from collections.abc import Iterator

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


def all_capsules(capsules: list[TaskCapsule], x: torch.Tensor) -> torch.Tensor:
    """Every capsule's output, (T, B, L, dim), in the graph: the first layers of all capsules as one matrix
    product over the shared input, the second layers as one batched product."""
    t, mid = len(capsules), capsules[0].fc1.out_features
    w1 = torch.cat([c.fc1.weight for c in capsules]).to(x.dtype)  # (T*mid, hidden)
    b1 = torch.cat([c.fc1.bias for c in capsules]).to(x.dtype)
    h = F.linear(x, w1, b1)  # (B, L, T*mid)
    b, length = h.shape[:2]
    h = h.reshape(b * length, t, mid).transpose(0, 1)  # (T, B*L, mid)
    w2 = torch.stack([c.fc2.weight for c in capsules]).to(h.dtype)  # (T, dim, mid)
    b2 = torch.stack([c.fc2.bias for c in capsules]).to(h.dtype)
    p = torch.baddbmm(b2[:, None], h, w2.transpose(1, 2))  # (T, B*L, dim)
    return squash(p.reshape(t, b, length, -1))


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

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        return x.max(dim=-1).values  # max over the sequence

    def forward(self, capsules: torch.Tensor) -> torch.Tensor:
        """``capsules`` (T, B, L, dim) of tasks 0..t, the current one last -> the transfer capsule (B, L, dim)."""
        t, b, length, dim = capsules.shape
        routes = torch.stack(list(self.routes[:t])).to(capsules.dtype)
        u = torch.einsum("tbld,tde->tble", capsules, routes)  # pre-route vectors
        summary = self._pool(F.relu(self.conv_cur(u[-1].transpose(1, 2))))  # the current task, (B, C)
        flat = u.reshape(t * b, length, dim).transpose(1, 2)  # (T*B, dim, L)
        mixed = self.conv_pre(flat).view(t, b, -1, length) + self.fc_cur(summary)[None, :, :, None]
        z = self._pool(F.relu(mixed))  # (T, B, C)
        sim = torch.sigmoid(self.fc_sim(z))  # (T, B, dim)
        gates = self.gates(z)  # (T, B)
        if self.gate_log is not None:
            self.gate_log.append(gates.detach().float().cpu())
        weight = (gates[..., None].to(sim.dtype) * sim)[:, :, None, :]  # (T, B, 1, dim)
        return (weight * u).sum(0)

    def gates(self, z: torch.Tensor) -> torch.Tensor:
        """δ per source task and example: Gumbel-softmax (straight-through) in training, argmax at inference."""
        logits = self.fc_gate(z).float()
        if self.training:
            return F.gumbel_softmax(logits, tau=self.tau, hard=True)[..., 0]
        return (logits[..., 0] >= logits[..., 1]).to(logits.dtype)


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

    def add_task(self, device: torch.device | str | None = None) -> None:
        self.capsules.append(TaskCapsule(self.hidden, self.mid, self.dim).to(device))
        self.routing.add_source(device)

    def num_tasks(self) -> int:
        return len(self.capsules)

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        """The capsule alone: the routing matrices and the comparator are shared by every task."""
        yield from self.capsules[task].parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.selector.task
        capsules = all_capsules(list(self.capsules[: t + 1]), x)
        # the routing and the projection back are many tiny layers: in float32, without autocast, so no
        # layer casts its weights per call (on a GPU a step is bound by kernel launches, and each cast is one)
        with torch.autocast(x.device.type, enabled=False):
            return self.out(self.routing(capsules.float())).to(x.dtype)


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
