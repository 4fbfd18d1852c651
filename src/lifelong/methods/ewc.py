"""Online EWC (Schwarz et al., 2018 form of Kirkpatrick et al., 2017): a quadratic penalty keeps
parameters that mattered for earlier tasks near their old values; importance = a running diagonal
Fisher estimate from each task's training data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch
from torch.utils.data import DataLoader

from lifelong.data.task import Task
from lifelong.methods.base import Method, MethodConfig, StepInfo, register_method
from lifelong.methods.snapshots import overlap
from lifelong.models.base import Row
from lifelong.schema import AT_LEAST_1, FRACTION, NON_NEGATIVE


@dataclass
class EWCConfig(MethodConfig):
    ewc_lambda: Annotated[float, NON_NEGATIVE] = 1000.0  # strength of the penalty
    decay: Annotated[float, FRACTION] = 1.0  # online EWC's gamma: how much old importance is kept
    fisher_rows: Annotated[int, AT_LEAST_1] = 128  # training rows used for each Fisher estimate
    # 1 = the empirical Fisher (mean of per-example squared gradients); larger batches square a mean
    # gradient, which underestimates importance by about the batch size
    fisher_batch: Annotated[int, AT_LEAST_1] = 1


@register_method("ewc")
class EWC(Method):
    """Online EWC: a Fisher-weighted quadratic penalty keeps parameters that mattered for earlier tasks near their old values."""

    config_class = EWCConfig

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def _named(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.learner.named_parameters() if p.requires_grad}

    def loss(self, batch: dict[str, Any], output: Any, step: StepInfo) -> torch.Tensor:
        if not self.fisher:
            return output.loss
        penalty = output.loss.new_zeros(())
        for name, p in self._named().items():
            if name in self.fisher:
                fisher, anchor = self.fisher[name], self.anchor[name]
                if p.shape != fisher.shape:  # a head grown since: its old part is what earlier tasks used
                    p = p[overlap(fisher.shape, p.shape)]
                penalty = penalty + (fisher * (p - anchor).pow(2)).sum()
        return output.loss + 0.5 * self.config.ewc_lambda * penalty

    def after_task(self, task: Task, rows: list[Row]) -> None:
        own = [r for r in rows if not r.get("replayed")]
        # a random sample, not the first rows: files are often sorted by label
        pick = torch.Generator().manual_seed(self.ctx.seed + len(self.tasks))
        own = [own[i] for i in torch.randperm(len(own), generator=pick)[: self.config.fisher_rows].tolist()]
        params = self._named()
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        loader = DataLoader(own, batch_size=self.config.fisher_batch, collate_fn=self.learner.collate)
        with self.learner.eval_mode(grad=True):  # no dropout while measuring importance
            for batch in loader:
                self.learner.zero_grad(set_to_none=True)
                batch = self.learner.to_device(batch)
                with self.learner.autocast():
                    loss = self.learner(batch).loss
                loss.backward()
                for n, p in params.items():
                    if p.grad is not None:
                        fisher[n] += p.grad.detach().float().pow(2) * len(batch["input_ids"]) / len(own)
            self.learner.zero_grad(set_to_none=True)
        for n, f in fisher.items():
            old = self.fisher.get(n)
            if (
                old is not None
            ):  # online EWC: decayed old importance plus the new (a grown head keeps its old part's)
                f[overlap(old.shape, f.shape)] += self.config.decay * old
            self.fisher[n] = f
            self.anchor[n] = params[n].detach().clone()

    def state_dict(self) -> dict[str, Any]:
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fisher, self.anchor = state["fisher"], state["anchor"]
