"""CTR's CL-plugin (Ke, Liu, Ma, Xu and Shu, NeurIPS 2021): a knowledge sharing module (task capsules +
transfer routing) followed by a task specific module (HAT-masked fully connected layers).

Knowledge sharing module (KSM), for the current task t and every token:

- *task capsule layer*: one small two-layer capsule per task, ``p_j = squash(W2_j gelu(W1_j x))``; a new
  one is added for every task. Earlier tasks' capsules are frozen: computed without gradient.
- *transfer capsule layer*: pre-route vectors ``u_j = p_j R_{j,t}``; for each earlier task j a comparator
  (1-D convolutions over the sequence, CTR's choice) contrasts ``u_j`` with the current task's ``u_t``; from
  that comparison a similarity vector ``sim_j`` and a task-similarity detector (two logits, a binary gate
  ``δ_j`` drawn with Gumbel-softmax and a straight-through estimator in training, the argmax at inference)
  decide how much of task j transfers. The module's output is ``out(u_t + Σ_j δ_j·sim_j ⊙ u_j)`` through
  a HAT-masked linear layer back to the hidden size.

Everything the transfer for task t uses that is not shared (its capsule, its routing matrices and its
comparator) belongs to task t and is trained only while task t is learned, so later tasks cannot change
how task t answers. The shared layers (``out`` and the task specific module) are HAT-protected.
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
    """One task's capsule: a two-layer fully connected network applied to every token."""

    def __init__(self, hidden: int, mid: int, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, mid)
        self.fc2 = nn.Linear(mid, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return squash(self.fc2(F.gelu(self.fc1(x))))


def frozen_capsules(capsules: list[TaskCapsule], x: torch.Tensor) -> torch.Tensor:
    """Earlier tasks' capsules without gradient, (T, B, L, dim): the first layers of all capsules as one
    matrix product over the shared input, the second layers as one batched product."""
    with torch.no_grad():
        t, mid = len(capsules), capsules[0].fc1.out_features
        w1 = torch.cat([c.fc1.weight for c in capsules])  # (T*mid, hidden)
        b1 = torch.cat([c.fc1.bias for c in capsules])
        h = F.gelu(F.linear(x, w1, b1))  # (B, L, T*mid)
        b, length = h.shape[:2]
        h = h.reshape(b * length, t, mid).transpose(0, 1)  # (T, B*L, mid)
        w2 = torch.stack([c.fc2.weight for c in capsules])  # (T, dim, mid)
        b2 = torch.stack([c.fc2.bias for c in capsules])
        p = torch.baddbmm(b2[:, None].to(h.dtype), h, w2.transpose(1, 2).to(h.dtype))  # (T, B*L, dim)
        return squash(p.reshape(t, b, length, -1))


class TransferRouter(nn.Module):
    """Task t's transfer routing: routing matrices for tasks 0..t and the similarity comparator."""

    def __init__(self, task: int, dim: int, channels: int, kernel: int, tau: float):
        super().__init__()
        self.task, self.tau = task, tau
        self.route = nn.Parameter(torch.eye(dim).repeat(task + 1, 1, 1))  # starts as the capsules themselves
        if task > 0:
            pad = kernel // 2
            self.conv_cur = nn.Conv1d(dim, channels, kernel, padding=pad)
            self.conv_pre = nn.Conv1d(dim, channels, kernel, padding=pad)
            self.fc_cur = nn.Linear(channels, channels)
            self.fc_sim = nn.Linear(channels, dim)
            self.fc_gate = nn.Linear(channels, 2)  # task-similarity detector: [transfer, no transfer]

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        return x.max(dim=-1).values  # max over the sequence

    def forward(self, current: torch.Tensor, earlier: torch.Tensor | None) -> torch.Tensor:
        """``current`` (B, L, dim) with gradient; ``earlier`` (T=t, B, L, dim) frozen or None."""
        u_cur = current @ self.route[self.task].to(current.dtype)
        if earlier is None:
            return u_cur
        t, b, length, dim = earlier.shape
        u_pre = torch.einsum("tblc,tcd->tbld", earlier, self.route[:t].to(earlier.dtype))
        summary = self._pool(F.relu(self.conv_cur(u_cur.transpose(1, 2))))  # (B, C)
        flat = u_pre.reshape(t * b, length, dim).transpose(1, 2)  # (T*B, dim, L)
        mixed = self.conv_pre(flat).view(t, b, -1, length) + self.fc_cur(summary)[None, :, :, None]
        z = self._pool(F.relu(mixed))  # (T, B, C)
        sim = torch.sigmoid(self.fc_sim(z))  # (T, B, dim)
        logits = self.fc_gate(z).float()  # (T, B, 2)
        if self.training:
            gate = F.gumbel_softmax(logits, tau=self.tau, hard=True)[..., 0]  # straight-through
        else:
            gate = (logits[..., 0] >= logits[..., 1]).to(logits.dtype)
        weight = (gate[..., None].to(sim.dtype) * sim)[:, :, None, :]  # (T, B, 1, dim)
        return u_cur + (weight * u_pre).sum(0)


class KnowledgeSharing(PerTask):
    """CTR's KSM: task capsules, transfer routing, and a HAT-masked projection back to the hidden size."""

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
        self.channels, self.kernel, self.tau = channels, kernel, tau
        self.selector = selector
        self.capsules = nn.ModuleList()
        self.routers = nn.ModuleList()
        self.out = MaskedLinear(capsule_dim, hidden, selector)

    def add_task(self, device: torch.device | str | None = None) -> None:
        t = len(self.capsules)
        self.capsules.append(TaskCapsule(self.hidden, self.mid, self.dim).to(device))
        self.routers.append(TransferRouter(t, self.dim, self.channels, self.kernel, self.tau).to(device))

    def num_tasks(self) -> int:
        return len(self.capsules)

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        yield from self.capsules[task].parameters()
        yield from self.routers[task].parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.selector.task
        current = self.capsules[t](x)
        earlier = frozen_capsules(list(self.capsules[:t]), x) if t > 0 else None
        return self.out(self.routers[t](current, earlier))


class CTRPlugin(HATMasked):
    """``x + TSM(x + KSM(x))``: the task specific module is a HAT-masked bottleneck whose output layer
    starts at zero, so a fresh plugin leaves the backbone's outputs unchanged."""

    def __init__(self, hidden: int, bottleneck: int, selector: TaskSelector, **capsule_args: int | float):
        super().__init__()
        self.ksm = KnowledgeSharing(hidden, selector, **capsule_args)  # type: ignore[arg-type]
        self.down = MaskedLinear(hidden, bottleneck, selector)
        self.up = MaskedLinear(bottleneck, hidden, selector, zero_init=True)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.ksm(x)
        return x + self.up(self.down(h, self.act))

    def hat_links(self) -> list[tuple[MaskedLinear, HATGate | None]]:
        return [(self.ksm.out, None), (self.down, None), (self.up, self.down.gate)]
