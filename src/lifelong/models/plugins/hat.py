"""HAT task masks (Serra et al., ICML 2018) on the fully connected layers of CL-plugins, as used by
B-CL, CTR and CPT: every masked layer has an embedding ``e_t`` per task and gates its units with
``sigmoid(s * e_t)``; units that earlier tasks use are protected.

Parts:
- :class:`HATGate` the per-task embeddings of one layer, plus ``used`` (a_prev: the element-wise max of
  every finished task's mask at ``s_max``, kept as a buffer so it travels with the model's weights);
- :class:`MaskedLinear` a linear layer whose output units are gated;
- :class:`HATMasked` the protocol a plugin implements to say which masked layer feeds which;
- :class:`HATAdapter` a bottleneck adapter with both layers masked;
- :class:`HAT` the training-time bookkeeping over every masked layer of a model (annealing, sparsity
  regulariser, gradient compensation, protection, consolidation). It is not a method, so the ``hat``
  and ``ctr`` methods and masked-LM post-training can all drive it from their hooks.

Masks are binary once a task is learned: a task answers with ``e_t > 0`` (``sigmoid(s_max·e_t) > 0.5``),
so a unit it does not use contributes exactly zero to it, and ``used`` (a_prev) is the union of the
finished tasks' binary masks. Protection then freezes exactly the weights between used units and
leaves every other unit trainable for later tasks. HAT itself keeps the real-valued sigmoid at s_max:
every unit with ``e > −0.22`` then counts as used, which froze 58 % of the units after one task although
only 49 % were open. Protection is exact: besides HAT's gradient blocking, protected entries are
restored after the optimizer step, so neither momentum nor weight decay can move them (the public
implementations let weight decay erode protected weights).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from lifelong.models.plugins.base import PerTask, TaskSelector


def anneal_s(batch: int, batches: int, s_max: float) -> float:
    """HAT's temperature for batch ``batch`` of ``batches`` within an epoch: 1/s_max -> s_max linearly."""
    if batches <= 1:
        return s_max
    return 1.0 / s_max + (s_max - 1.0 / s_max) * batch / (batches - 1)


class HATGate(PerTask):
    """The task embeddings of one masked layer. ``used`` is a_prev, the units earlier tasks use."""

    def __init__(self, units: int, selector: TaskSelector):
        super().__init__()
        self.units = units
        self.selector = selector
        self.embeddings = nn.ParameterList()
        self.register_buffer("used", torch.zeros(units))

    def add_task(self, device: torch.device | str | None = None) -> None:
        device = device if device is not None else self.used.device
        self.embeddings.append(nn.Parameter(torch.randn(self.units, device=device)))  # N(0, 1) as in HAT

    def num_tasks(self) -> int:
        return len(self.embeddings)

    def task_parameters(self, task: int) -> Iterator[nn.Parameter]:
        yield self.embeddings[task]

    def mask(self, task: int | None = None, s: float | None = None) -> torch.Tensor:
        """The soft mask of training: ``sigmoid(s·e)``."""
        task = self.selector.task if task is None else task
        s = self.selector.s if s is None else s
        return torch.sigmoid(s * self.embeddings[task])

    def open_units(self, task: int) -> torch.Tensor:
        """The binary mask a learned task answers with (1 = open), the one protection is built on."""
        return (self.embeddings[task] > 0).to(self.used.dtype)

    def forward(self) -> torch.Tensor:
        return self.open_units(self.selector.task) if self.selector.hard else self.mask()


class MaskedLinear(nn.Module):
    """A linear layer whose output units are gated by the selected task's mask (after ``act``)."""

    def __init__(self, n_in: int, n_out: int, selector: TaskSelector, zero_init: bool = False):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.gate = HATGate(n_out, selector)
        if zero_init:  # the output layer of a plugin: starts silent, the backbone is unchanged
            nn.init.zeros_(self.linear.weight)
        else:
            nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(
        self, x: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> torch.Tensor:
        y = self.linear(x)
        if act is not None:
            y = act(y)
        return y * self.gate().to(y.dtype)


class HATMasked(nn.Module):
    """A plugin with HAT-masked layers. ``hat_links`` lists each masked layer with the gate of the masked
    layer that feeds it (None when its input is not masked), which is what protection needs."""

    def hat_links(self) -> list[tuple[MaskedLinear, HATGate | None]]:
        raise NotImplementedError


class HATAdapter(HATMasked):
    """Bottleneck adapter with HAT masks on both layers: ``x + g2 * up(g1 * act(down(x)))``."""

    def __init__(self, hidden: int, bottleneck: int, selector: TaskSelector):
        super().__init__()
        self.down = MaskedLinear(hidden, bottleneck, selector)
        self.up = MaskedLinear(bottleneck, hidden, selector, zero_init=True)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.down(x, self.act))

    def hat_links(self) -> list[tuple[MaskedLinear, HATGate | None]]:
        return [(self.down, None), (self.up, self.down.gate)]


@dataclass
class _Protected:
    """What protection needs of the masked layers, built once per task: the layers' weights and biases
    as one list, each with its gradient multiplier ``keep`` = 1 − use (use = min(a_out[row], a_in[col]),
    binary) and the values its used entries must keep (``value·use``, exact: use is 0 or 1)."""

    params: list[nn.Parameter]
    keep: list[torch.Tensor]
    held: list[torch.Tensor]


class HAT:
    """HAT over every masked layer of ``model``; the methods call it from their hooks in this order:

    ``start_task`` (before training) -> per batch: ``regularizer`` (added to the loss), ``compensate`` and
    ``block_gradients`` (after backward), ``restore`` and ``clamp`` (after the optimizer step) ->
    ``consolidate`` (after the task).

    Every per-batch hook is a handful of operations over all masked layers at once (one flat vector, or
    one ``torch._foreach_*`` call over a list), not a few per layer: on a GPU a step of these small
    plugins is bound by how many kernels the host launches (docs/results.md §4f).
    """

    def __init__(
        self,
        model: nn.Module,
        s_max: float = 400.0,
        lamb: float = 0.75,
        clamp_to: float = 6.0,
        thres_cosh: float = 50.0,
    ):
        self.model = model
        self.s_max, self.lamb, self.clamp_to, self.thres_cosh = s_max, lamb, clamp_to, thres_cosh
        self._protected = _Protected([], [], [])
        self._gates: list[HATGate] | None = None  # the model's gates, fixed while a task trains
        self._free: torch.Tensor | None = None  # 1 − a_prev over all masked units, for the regulariser
        self._free_units = 0.0  # its sum

    # ---- structure -------------------------------------------------------------------------------
    def links(self) -> list[tuple[MaskedLinear, HATGate | None]]:
        return [link for m in self.model.modules() if isinstance(m, HATMasked) for link in m.hat_links()]

    def gates(self) -> list[HATGate]:
        if self._gates is not None:
            return self._gates
        return [m for m in self.model.modules() if isinstance(m, HATGate)]

    def task_embeddings(self, task: int) -> list[nn.Parameter]:
        return [g.embeddings[task] for g in self.gates()]

    def masks(self, task: int, s: float | None = None) -> list[torch.Tensor]:
        return [g.mask(task, self.s_max if s is None else s) for g in self.gates()]

    @torch.no_grad()
    def usage(self, task: int) -> dict[str, float]:
        """Shares of all masked units (%): open for ``task``, open for it and used by an earlier task
        (overlap), and used by any task so far: the rule protection uses, so "used" is what is frozen."""
        gates = self.gates()
        total = sum(g.units for g in gates)
        opened = sum(float(g.open_units(task).sum()) for g in gates)
        earlier = [torch.zeros_like(g.used) for g in gates]
        for t in range(task):
            earlier = [torch.maximum(e, g.open_units(t)) for e, g in zip(earlier, gates, strict=True)]
        overlap = sum(float((g.open_units(task) * e).sum()) for g, e in zip(gates, earlier, strict=True))
        so_far = sum(
            float(torch.maximum(g.open_units(task), e).sum()) for g, e in zip(gates, earlier, strict=True)
        )
        return {
            "open %": 100 * opened / total,
            "overlap with earlier %": 100 * overlap / max(opened, 1.0),
            "used so far %": 100 * so_far / total,
        }

    def embedding_ids(self) -> set[int]:
        """Every task embedding's id: their gradients are HAT's compensated ones, kept out of clipping."""
        return {id(e) for g in self.gates() for e in g.embeddings}

    # ---- training --------------------------------------------------------------------------------
    def regularizer(self, task: int, s: float) -> torch.Tensor:
        """λ·Σ a·(1 − a_prev) / Σ(1 − a_prev) over all masked units (λ·Σa/N on the first task)."""
        if self._free is None:  # outside a task's training (tests): from the current state
            self._start_regularizer()
        assert self._free is not None
        if self._free_units == 0.0:
            return torch.zeros((), device=self.model_device())
        a = torch.sigmoid(s * torch.cat(self.task_embeddings(task)))
        return self.lamb * (a * self._free).sum() / self._free_units

    @torch.no_grad()
    def compensate(self, task: int, s: float) -> None:
        """Undo the annealing's effect on the embeddings' gradient: × s_max/s·(cosh(clamp(s·e))+1)/(cosh(e)+1)."""
        embeddings = [e for e in self.task_embeddings(task) if e.grad is not None]
        if not embeddings:
            return
        e = torch.cat(embeddings)
        num = torch.cosh(torch.clamp(s * e, -self.thres_cosh, self.thres_cosh)) + 1
        factor = (self.s_max / s) * num / (torch.cosh(e) + 1)
        grads = [p.grad for p in embeddings]
        torch._foreach_mul_(grads, list(factor.split([p.numel() for p in embeddings])))

    @torch.no_grad()
    def start_task(self) -> None:
        """Derive, from the earlier tasks' cumulative masks, what the new task may change."""
        self._gates = None
        self._gates = self.gates()
        params: list[nn.Parameter] = []
        keep: list[torch.Tensor] = []
        held: list[torch.Tensor] = []
        for ml, in_gate in self.links():
            out = ml.gate.used
            if in_gate is None:
                use = out[:, None].expand_as(ml.linear.weight)
            else:
                use = torch.minimum(out[:, None], in_gate.used[None, :])
            if not bool((use > 0).any() or (out > 0).any()):
                continue
            for param, used in ((ml.linear.weight, use), (ml.linear.bias, out)):
                params.append(param)
                keep.append((1.0 - used).to(param.dtype))
                held.append(param.detach() * used)
        self._protected = _Protected(params, keep, held)
        self._start_regularizer()

    def _start_regularizer(self) -> None:
        """1 − a_prev as one vector and its sum: fixed for the task, so not read off the device per step."""
        free = torch.cat([1.0 - g.used for g in self.gates()])
        self._free, self._free_units = free, float(free.sum())

    @torch.no_grad()
    def block_gradients(self) -> None:
        pairs = [
            (p.grad, k)
            for p, k in zip(self._protected.params, self._protected.keep, strict=True)
            if p.grad is not None
        ]
        if pairs:
            torch._foreach_mul_([g for g, _ in pairs], [k for _, k in pairs])

    @torch.no_grad()
    def restore(self) -> None:
        """Put every protected entry back exactly as it was when the task started, after the optimizer
        step: ``w·keep + held`` is ``w`` where the entry is free and the held value where it is used."""
        if self._protected.params:
            params = [p.data for p in self._protected.params]
            torch._foreach_mul_(params, self._protected.keep)
            torch._foreach_add_(params, self._protected.held)

    @torch.no_grad()
    def clamp(self, task: int) -> None:
        embeddings = [e.data for e in self.task_embeddings(task)]
        torch._foreach_clamp_min_(embeddings, -self.clamp_to)
        torch._foreach_clamp_max_(embeddings, self.clamp_to)

    @torch.no_grad()
    def consolidate(self, task: int) -> None:
        """a_prev = a_prev ∪ the task's binary mask."""
        for g in self.gates():
            g.used.copy_(torch.maximum(g.used, g.open_units(task)))
        self._gates, self._free, self._protected = None, None, _Protected([], [], [])

    def model_device(self) -> torch.device:
        return next(self.model.parameters()).device
