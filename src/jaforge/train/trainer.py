"""The pretrain stage on the shared training loop: `jaforge pretrain` (also under torchrun).

    jaforge pretrain --config recipes/pretrain-tiny.yaml
    jaforge pretrain --config big.yaml --trainer.device cuda --trainer.precision bf16 --trainer.compile true
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config recipes/pretrain-tiny.yaml

What pretraining adds to `jaforge.train.loop`: the data (each step takes the global batch of the
deterministic mixture sampler, this process's share of it in micro-batches), the objective (next
token, or UL2's denoisers), the validation loss per dataset, and the model saved as a jaforge model
(`<output_dir>/model`, and `model/` in each checkpoint). A run killed at any step and started again
with the same command logs the same losses, bit for bit (CPU), as a run never interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from jaforge.errors import ConfigError, InputError
from jaforge.model import estimate_flops
from jaforge.model.checkpoint import TIED_HEAD, WEIGHTS_NAME, save_model
from jaforge.stage_result import StageResult
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import initial_model
from jaforge.train.data import MixtureSampler, validation_windows
from jaforge.train.device import peak_memory_mb
from jaforge.train.distributed import ProcessInfo
from jaforge.train.loop import StepData, Task, TrainingLoop
from jaforge.train.objectives import UL2_SENTINELS, training_inputs
from jaforge.train.state_files import read_tensors

MODEL_DIR = "model"


def run(cfg: PretrainConfig) -> StageResult:
    """Train (or resume) the run in `cfg.output_dir`."""
    return TrainingLoop(PretrainTask(cfg)).run()


def micro_batch(cfg: PretrainConfig, world_size: int) -> int:
    """Sequences per forward/backward on one process (checks that the global batch splits)."""
    t = cfg.trainer
    if t.batch_size % world_size:
        raise ConfigError(f"trainer.batch_size {t.batch_size} is not divisible by {world_size} processes")
    per_rank = t.batch_size // world_size
    micro = min(t.micro_batch_size, per_rank)
    if per_rank % micro:
        raise ConfigError(f"the per-process batch {per_rank} (trainer.batch_size / processes) is not a "
                          f"multiple of trainer.micro_batch_size {micro}")
    return micro


class PretrainTask(Task):
    stage = "pretrain"

    def __init__(self, cfg: PretrainConfig):
        super().__init__(cfg)
        self.val: dict[str, np.ndarray] = {}
        self.columns = ["tokens", "val_loss"]

    def build(self, info: ProcessInfo) -> torch.nn.Module:
        cfg, t = self.cfg, self.cfg.trainer
        self.micro = micro_batch(cfg, info.world_size)
        self.sampler = MixtureSampler(cfg.data, t.batch_size)
        model, self.model_cfg = initial_model(t.init_from, cfg.model, t.expansion)
        self._check_fit()
        if t.eval_every > 0:
            self.val = validation_windows(cfg.data, t.eval_batches * self.micro)
        self.columns = ["tokens", "val_loss"] + [f"val_loss/{n}" for n in self.val]
        return model

    def _check_fit(self) -> None:
        cfg, vocab = self.cfg, self.sampler.vocab_size
        if vocab > self.model_cfg.vocab_size:
            raise ConfigError(f"model.vocab_size ({self.model_cfg.vocab_size}) is smaller than the token "
                              f"data's vocabulary ({vocab})")
        if cfg.trainer.objective == "ul2" and vocab + UL2_SENTINELS > self.model_cfg.vocab_size:
            raise ConfigError(f"trainer.objective ul2 needs {UL2_SENTINELS} sentinel rows above the token "
                              f"data's vocabulary: model.vocab_size >= {vocab + UL2_SENTINELS}")
        if self.model_cfg.max_seq_len < cfg.data.seq_len + 1:
            raise ConfigError(f"model.max_seq_len {self.model_cfg.max_seq_len} must be at least "
                              f"data.seq_len + 1 = {cfg.data.seq_len + 1} (windows of seq_len + 1 tokens)")

    def step_data(self, step: int, info: ProcessInfo) -> StepData:
        rows = self.sampler.batch(step, info.rank, info.world_size)
        n_micro = len(rows) // self.micro
        batches = []
        for i in range(n_micro):
            first = i * self.micro + info.rank * len(rows)
            windows = torch.from_numpy(rows[i * self.micro:(i + 1) * self.micro])
            input_ids, labels = training_inputs(windows, self.cfg.trainer.objective, self.cfg.data.seed,
                                                step, first, self.model_cfg.vocab_size)
            batches.append({"input_ids": input_ids, "labels": labels, "n_micro": n_micro})
        tokens = self.cfg.trainer.batch_size * self.sampler.seq_len_at(step)
        return StepData(batches, {"tokens": self.sampler.tokens_through(step + 1)}, tokens)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
        return model(batch["input_ids"], labels=batch["labels"]).loss / batch["n_micro"], {}

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        """Mean next-token loss on each dataset's fixed validation windows, and their mean."""
        result = {}
        for name, windows in self.val.items():
            total = torch.zeros((), device=device)
            for i in range(0, len(windows), self.micro):
                x = torch.from_numpy(windows[i:i + self.micro]).to(device)
                total += model(x, labels=x).ce_loss.float() * len(x)
            result[f"val_loss/{name}"] = total.item() / len(windows)
        if result:
            result["val_loss"] = sum(result.values()) / len(result)
        return result

    def flops_per_token(self) -> float:
        return estimate_flops(self.model_cfg, self.cfg.data.seq_len + 1)["train_per_token"]

    def save_weights(self, model: torch.nn.Module, directory: Path) -> None:
        save_model(model, self.model_cfg, directory / MODEL_DIR)

    def load_weights(self, model: torch.nn.Module, directory: Path) -> None:
        path = directory / MODEL_DIR / WEIGHTS_NAME
        weights = read_tensors(path, "a jaforge model's weights")
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [k for k in missing if k != TIED_HEAD]  # a tied head is stored once
        if missing or unexpected:
            raise InputError(path, f"does not fit the configured model: missing {missing[:5]}, "
                                   f"unexpected {unexpected[:5]}")

    def finish(self, loop: TrainingLoop, last: dict[str, Any]) -> StageResult:
        out = Path(self.cfg.output_dir)
        with loop.savable_model() as model:
            if loop.info.is_main:
                save_model(model, self.model_cfg, out / MODEL_DIR)
        metrics = {"loss": last.get("loss"), "val_loss": last.get("val_loss"),
                   "steps": loop.steps, "tokens": self.sampler.tokens_through(loop.steps),
                   **loop.params, "checkpoint_s": loop.checkpoint_s, **peak_memory_mb(loop.device)}
        return StageResult("pretrain", str(out), outputs={
            "model": str(out / MODEL_DIR), "checkpoints": str(out / "checkpoints"),
            "metrics": str(out / "metrics.jsonl")}, metrics=metrics)
