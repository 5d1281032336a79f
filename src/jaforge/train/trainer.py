"""The pretrain stage on the shared training loop: `jaforge pretrain` (also under torchrun).

    jaforge pretrain --config recipes/pretrain-tiny.yaml
    jaforge pretrain --config big.yaml --trainer.device cuda --trainer.precision bf16 --trainer.compile true
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config recipes/pretrain-tiny.yaml

What pretraining adds to `jaforge.train.loop`: the data (each step takes the global batch of the
deterministic mixture sampler, this process's share of it in micro-batches), the objective (next
token, or UL2's denoisers), the validation loss per dataset — per token and per character
(`val_loss_per_char/<name>`, nats per character from meta.json's character counts, so runs with
different tokenizers compare) — and the model saved as a jaforge model (`<output_dir>/model`, and
`model/` in each checkpoint). A run killed at any step and started again with the same command logs
the same losses, bit for bit (CPU), as a run never interrupted.

Continual pretraining (`trainer.init_from`, `jaforge.train.continual`): the run trains the base's
architecture (config.yaml records it), evaluates before the first step (the base's losses, the
"before"), may grow the vocabulary (`trainer.expansion`) and give its new rows their own init scale
and learning rate while the old rows stay frozen for a few steps (`jaforge.train.embedding_rows`).
Catalogue warnings about the base (licence, architecture) are logged and kept in the result.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from jaforge.catalog import plan_warnings
from jaforge.errors import ConfigError, InputError, JaforgeError
from jaforge.model import estimate_flops
from jaforge.model.checkpoint import TIED_HEAD, WEIGHTS_NAME, save_model
from jaforge.stage_result import StageResult
from jaforge.train.config import PretrainConfig
from jaforge.train.continual import initial_model, read_expansion, row_norms, trained_model_config
from jaforge.train.data import MixtureSampler, validation_windows
from jaforge.train.device import peak_memory_mb
from jaforge.train.distributed import ProcessInfo
from jaforge.train.embedding_rows import RowRates
from jaforge.train.loop import TrainingLoop
from jaforge.train.metrics import read_metrics
from jaforge.train.objectives import UL2_SENTINELS, training_inputs
from jaforge.train.state_files import read_tensors
from jaforge.train.task import StepData, Task

MODEL_DIR = "model"
log = logging.getLogger(__name__)


def run(cfg: PretrainConfig) -> StageResult:
    """Train (or resume) the run in `cfg.output_dir`."""
    return TrainingLoop(PretrainTask(cfg)).run()


def catalog_warnings(init_from: Optional[str]) -> list[str]:
    """Why the catalogue says continuing `init_from` may not work or be allowed (licence, layout)."""
    if not init_from:
        return []
    try:
        return plan_warnings(init_from, purpose="continue")
    except (FileNotFoundError, JaforgeError) as err:  # no catalogue here: nothing to warn about
        log.info("trainer.init_from: catalogue not read (%s)", err)
        return []


def start_metrics(out: Path) -> dict[str, float]:
    """The step-0 evaluation (the base's losses in continual pretraining) as `start/<column>`."""
    rows = read_metrics(out / "metrics.jsonl") if (out / "metrics.jsonl").exists() else []
    first = rows[0] if rows and rows[0]["step"] == 0 else {}
    return {f"start/{k}": v for k, v in first.items() if k.startswith("val_loss")}


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
        # the model actually trained (init_from fixes it), so config.yaml records that model
        self.model_cfg = trained_model_config(cfg)
        super().__init__(replace(cfg, model=self.model_cfg))
        self.warnings = catalog_warnings(cfg.trainer.init_from)
        self.val: dict[str, np.ndarray] = {}
        self.per_char: dict[str, float] = {}
        self.columns = ["tokens", "val_loss"]
        self.row_rates: Optional[RowRates] = None
        self.extras: dict[str, Any] = {}

    def build(self, info: ProcessInfo) -> torch.nn.Module:
        cfg, t = self.cfg, self.cfg.trainer
        for warning in self.warnings:
            log.warning("trainer.init_from: %s", warning)
        self.micro = micro_batch(cfg, info.world_size)
        self.sampler = MixtureSampler(cfg.data, t.batch_size)
        self._check_bos()
        model = initial_model(t, self.model_cfg)
        self._check_fit()
        if t.expansion:
            self._new_rows(model, read_expansion(t.expansion)["base_vocab_size"])
        if t.eval_every > 0 or self.eval_at_start():
            self.val = validation_windows(cfg.data, t.eval_batches * self.micro)
            self.per_char = {n: c for n, c in self.sampler.chars_per_token().items() if n in self.val}
        self.columns = ["tokens", "val_loss"] + [f"val_loss/{n}" for n in self.val]
        if self.per_char:
            self.columns += ["val_loss_per_char"] + [f"val_loss_per_char/{n}" for n in self.per_char]
        return model

    def _new_rows(self, model: torch.nn.Module, base_rows: int) -> None:
        t = self.cfg.trainer
        self.extras.update(row_norms(model, base_rows))
        log.info("expansion: %d new rows, mean norm %.3f (old rows %.3f)", self.model_cfg.vocab_size - base_rows,
                 self.extras["new_row_norm"] or 0.0, self.extras["old_row_norm"])
        ratio = (t.new_rows_lr / self.cfg.optim.lr) if t.new_rows_lr is not None else 1.0
        rates = RowRates(model, base_rows, ratio, t.freeze_old_rows_steps)
        self.row_rates = rates if rates.active else None

    def _check_bos(self) -> None:
        """Old shards (no `bos` in meta.json) are flagged; BOS and no-BOS datasets are not mixed."""
        flags = self.sampler.bos_flags()
        self.extras["bos"] = flags
        unknown = [n for n, flag in flags.items() if flag is None]
        if unknown:
            log.warning("data.datasets %s: meta.json has no 'bos' (written before tokenize-data "
                        "recorded it); their documents may not start with BOS as generation and eval "
                        "feed the model: re-tokenize them", unknown)
        if len({bool(flag) for flag in flags.values()}) > 1 and not self.cfg.data.allow_mixed_bos:
            raise ConfigError(f"data.datasets mix documents that start with BOS and documents that do "
                              f"not (bos per dataset: {flags}); re-tokenize them with one tokenizer "
                              f"convention, or set data.allow_mixed_bos true")

    def eval_at_start(self) -> bool:
        t = self.cfg.trainer
        return t.eval_at_start if t.eval_at_start is not None else t.init_from is not None

    def begin(self, loop: TrainingLoop) -> None:
        if self.row_rates is not None and loop.sharded:
            raise ConfigError("trainer.new_rows_lr and trainer.freeze_old_rows_steps do not apply to "
                              "strategy fsdp (the tables are sharded); use ddp")

    def around_optimizer_step(self, step: int, stepped: Callable[[torch.Tensor], torch.Tensor]):
        return self.row_rates.around(step, stepped) if self.row_rates is not None else contextlib.nullcontext()

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
        out = model(batch["input_ids"], labels=batch["labels"], return_logits=False)
        return out.loss / batch["n_micro"], {}

    def evaluate(self, model: torch.nn.Module, device: str) -> dict[str, float]:
        """Mean next-token loss on each dataset's fixed validation windows, and their mean."""
        result = {}
        for name, windows in self.val.items():
            total = torch.zeros((), device=device)
            for i in range(0, len(windows), self.micro):
                x = torch.from_numpy(windows[i:i + self.micro]).to(device)
                total += model(x, labels=x, return_logits=False).ce_loss.float() * len(x)
            result[f"val_loss/{name}"] = total.item() / len(windows)
        if result:
            result["val_loss"] = sum(result.values()) / len(result)
        per_char = {f"val_loss_per_char/{n}": result[f"val_loss/{n}"] / c for n, c in self.per_char.items()}
        if per_char:
            result.update(per_char, val_loss_per_char=sum(per_char.values()) / len(per_char))
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
                   "val_loss_per_char": last.get("val_loss_per_char"),
                   "steps": loop.steps, "tokens": self.sampler.tokens_through(loop.steps),
                   **loop.params, "checkpoint_s": loop.checkpoint_s, **peak_memory_mb(loop.device),
                   **self.extras, **start_metrics(out), "plan_warnings": self.warnings}
        return StageResult("pretrain", str(out), outputs={
            "model": str(out / MODEL_DIR), "checkpoints": str(out / "checkpoints"),
            "metrics": str(out / "metrics.jsonl")}, metrics=metrics)
