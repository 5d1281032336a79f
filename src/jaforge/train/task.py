"""What a stage that trains plugs into `jaforge.train.loop`: a `Task` (its model, each step's
host batches, the loss of a micro-batch, evaluation, how its weights are saved and loaded, what
it writes at the end), and the step records the loop passes around.

    class PretrainTask(Task): …                          # jaforge.train.trainer
    TrainingLoop(PretrainTask(cfg)).run()
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from jaforge.stage_result import StageResult
from jaforge.train.distributed import ProcessInfo

@dataclass
class StepData:
    """One step's share of this process: micro-batches of host tensors, plus what the host knows."""
    batches: list[dict[str, Any]]
    row: dict[str, Any] = field(default_factory=dict)
    """Numbers for the step's metrics row (tokens so far, target tokens …)."""
    tokens: int = 0
    """Tokens of the step's global batch, for tokens/s."""


@dataclass
class StepOutput:
    step: int
    """Completed steps."""
    loss: torch.Tensor
    grad_norm: torch.Tensor
    stats: dict[str, torch.Tensor]
    data: StepData


class Task:
    """What a training stage plugs into the loop (override the methods; `cfg` and `stage` set)."""

    stage = "train"
    columns: list[str] = []
    """The stage's own metrics columns (between the loop's loss/lr/grad_norm and timing ones)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def build(self, info: ProcessInfo) -> torch.nn.Module:
        """The model to train, on the CPU in fp32 (trainable weights have requires_grad)."""
        raise NotImplementedError

    def total_steps(self) -> int:
        return self.cfg.trainer.max_steps

    def step_data(self, step: int, info: ProcessInfo) -> StepData:
        """This process's micro-batches of `step`: host work only, no global RNG (a background
        thread calls it one step ahead)."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
        """The micro-batch's share of the step's loss, and device tensors to sum into the row."""
        raise NotImplementedError

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        return {}

    def eval_at_start(self) -> bool:
        """Whether a fresh run evaluates before its first step (a step-0 metrics row)."""
        return False

    def around_optimizer_step(self, step: int, stepped: Callable[[torch.Tensor], torch.Tensor]
                              ) -> contextlib.AbstractContextManager:
        """Wraps the optimiser step of `step`; `stepped(p)`: the tensor the optimiser updates for p."""
        return contextlib.nullcontext()

    def save_weights(self, model: torch.nn.Module, directory: Path) -> None:
        raise NotImplementedError

    def load_weights(self, model: torch.nn.Module, directory: Path) -> None:
        raise NotImplementedError

    def flops_per_token(self) -> float:
        return 0.0

    def begin(self, loop: Any) -> None:
        """Before the first step of this process (after resuming); `loop` is the `TrainingLoop`."""

    def finish(self, loop: Any, last: dict[str, Any]) -> StageResult:
        """After the last step: write the stage's outputs; `last` is the final metrics row."""
        raise NotImplementedError
