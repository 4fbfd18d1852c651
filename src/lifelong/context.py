"""What every hook may need from the run: the accelerator, the training settings, the seed, the run folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

from lifelong.optim import OptimConfig
from lifelong.schema import AT_LEAST_1, POSITIVE


@dataclass
class TrainingConfig(OptimConfig):
    """How each task is trained: the shared optimisation block plus the loop's own settings."""

    lr: Annotated[float, POSITIVE] = (
        1e-4  # full fine-tuning of a pretrained model (plugin-only training: 1e-3)
    )
    epochs: Annotated[int, AT_LEAST_1] = 3
    # task name -> epochs for that task (e.g. CTR's protocol: 30 for the small Bing ASC tasks, 10 for
    # SemEval); a stage trains for its new task's count, multitask's joint stages included
    epochs_by_task: dict[str, Annotated[int, AT_LEAST_1]] = field(default_factory=dict)
    batch_size: Annotated[int, AT_LEAST_1] = 16  # global, across processes
    eval_batch_size: Annotated[int, AT_LEAST_1] = 64
    grad_accum: Annotated[int, AT_LEAST_1] = 1
    # batches of rows of similar length: less padding, but batches can correlate with labels when
    # length does (on the built-in stream it slows learning), so it is off unless asked for
    group_by_length: bool = False
    log_every: Annotated[int, AT_LEAST_1] = 50
    # score every task before any training (row 0) and each new task before its own training (forward
    # transfer); false skips both where scoring is costly (CPT's end tasks fine-tune a model per score)
    score_before: bool = True
    trackers: list[str] = field(default_factory=list)  # tensorboard | wandb (through Accelerate)
    # CPU: compute float32 numbers below 1.2e-38 (denormals) as zero. HAT's gates sigmoid(s·e), s up to 400,
    # put such numbers into every masked layer's matmuls, which x86 CPUs run many times slower: 1.9x (hat)
    # and 1.7x (ctr) the tokens/s on ASC with it (docs/results.md §4e). Process-wide, like the seed.
    flush_denormal: bool = True

    def epochs_for(self, task: str) -> int:
        return self.epochs_by_task.get(task, self.epochs)


@dataclass
class RunContext:
    accelerator: Accelerator
    training: TrainingConfig
    seed: int
    run_dir: Path | None = None

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def stage_dir(self, task_index: int, task_name: str) -> Path | None:
        """A folder for a stage's artifacts (e.g. pseudo-samples); None when the run keeps no folder."""
        if self.run_dir is None:
            return None
        path = self.run_dir / "stages" / f"{task_index + 1:02d}-{task_name}"
        path.mkdir(parents=True, exist_ok=True)
        return path


def cpu_only() -> bool:
    """True on a machine without a GPU or other accelerator. Accelerate treats a torchrun launch as
    multi-process CPU training (gloo) only when told to run on the CPU; left to itself it makes every
    process believe it is the only one, and they all write the same run folder."""
    return not torch.accelerator.is_available()


def make_accelerator(training: TrainingConfig, run_dir: Path | None) -> Accelerator:
    # bf16 autocast is applied by the trainer itself: Accelerate's mixed_precision is process-wide
    # state that cannot change once set, and one process may hold runs with different settings.
    return Accelerator(
        cpu=cpu_only(),
        gradient_accumulation_steps=training.grad_accum,
        # batch_size is global: 1 and N processes see the same batches (the old split_batches= argument
        # of Accelerator is silently ignored by Accelerate 1.x)
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        log_with=training.trackers or None,
        project_dir=str(run_dir) if run_dir else None,
        # per-task heads and task-specific modules leave parameters unused in a step
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
