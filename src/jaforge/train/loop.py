"""The one training loop of every stage that trains (pretrain, sft, later ones): build → resume →
step → log / eval / checkpoint → save.

    result = TrainingLoop(PretrainTask(cfg)).run()      # a StageResult

A stage is a `Task` (`jaforge.train.task`): its config (`trainer` a LoopConfig, `optim`,
`schedule`, `output_dir`), its model, each step's host batches, the loss of a micro-batch (the
objective), its evaluation, how its weights are saved and loaded, and what it writes at the end.
The loop does the rest, the same for every stage: the run directory's lock and resume check, the
device, precision and memory switches (bf16 autocast or parameters, activation checkpointing,
torch.compile, DDP/FSDP2), the next step's batches prepared on a background thread and copied
without blocking, the loss kept on the device and read once per logged step, clipping, the
optimiser and schedule, metrics, evaluation and checkpoints without pickle. A run killed at any
step and started again continues bit for bit (CPU).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch

from jaforge.config import validate
from jaforge.errors import ConfigError, JaforgeError, RunDirError
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.train import fsdp
from jaforge.train.checkpoint import (read_checkpoint, remove_checkpoints, resolve_resume,
                                      save_checkpoint, step_dirs, write_rank_state)
from jaforge.train.device import Prefetcher, is_cuda, peak_memory_mb, pinned, to_device
from jaforge.train.distributed import (ProcessInfo, all_agree, barrier, init_processes,
                                       mean_over_processes, shutdown)
from jaforge.train.host_memory import keep_freed_memory
from jaforge.train.metrics import MetricsLog, Throughput, check_trackers, progress_bar, show_row
from jaforge.train.optim import build_optimizer
from jaforge.train.precision import MasterWeights, autocast, checkpoint_blocks
from jaforge.train.schedule import LRSchedule
from jaforge.train.task import StepData, StepOutput, Task

log = logging.getLogger(__name__)
# the directory is the run: a run moved or copied elsewhere continues there
ALWAYS_MAY_CHANGE = ["trainer.resume", "trainer.resume_may_change", "output_dir"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_every(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


class TrainingLoop:
    """Runs a Task: `run()` end to end, or `prepare()` then `train_step(step)` (benchmarks)."""

    def __init__(self, task: Task, info: Optional[ProcessInfo] = None):
        self.task, self.cfg, self.info = task, task.cfg.trainer, info
        self.out = Path(task.cfg.output_dir)
        self.raw: Any = None
        self.model: Any = None
        self.masters: Optional[MasterWeights] = None
        self.start, self.steps = 0, 0
        self.batches: Optional[Prefetcher] = None
        self.checkpoint_s: Optional[float] = None
        """Seconds the last checkpoint took (the run's metrics report it)."""

    @property
    def device(self) -> str:
        return self.info.device

    @property
    def sharded(self) -> bool:
        return self.cfg.strategy == "fsdp" and self.info.distributed

    def autocast(self) -> torch.autocast:
        return autocast(self.device, self.cfg.precision)

    # --- run -------------------------------------------------------------------------------------

    def run(self) -> StageResult:
        validate(self.task.cfg)
        check_trackers(self.cfg)
        self.info = self.info or init_processes(self.cfg.device)
        try:
            with self.run_directory():
                self.prepare()
                last = self.train()
                result = self.task.finish(self, last)
                barrier(self.info)
                return result
        finally:
            shutdown(self.info)

    @contextlib.contextmanager
    def run_directory(self) -> Iterator[None]:
        """Lock output_dir and check a resumed run's config (main process; all processes agree)."""
        t, error = self.cfg, None
        with contextlib.ExitStack() as stack:
            if self.info.is_main:
                resuming = t.resume != "never" and (t.resume != "auto" or bool(step_dirs(self.out)))
                try:
                    stack.enter_context(open_run(self.out, self.task.stage, self.task.cfg, resuming,
                                                 t.resume_may_change + ALWAYS_MAY_CHANGE))
                except JaforgeError as err:
                    error = err
            if not all_agree(error is None, self.info):
                raise error or RunDirError(f"{self.out}: the main process could not open it")
            yield

    def prepare(self) -> None:
        """Build, resume, place and wrap the model; build the optimiser and schedule."""
        t = self.cfg
        self.info = self.info or init_processes(t.device)
        self._check_switches()
        if t.threads:
            torch.set_num_threads(t.threads)
        if t.keep_host_memory:
            keep_freed_memory()
        seed_everything(t.seed)
        self.raw = self.task.build(self.info)
        self.steps = self.task.total_steps()
        self._log_size()
        state = self._resume()
        self._place()
        self.optimizer = build_optimizer(self.raw, self.task.cfg.optim,
                                         self.masters.by_id if self.masters else None)
        self.schedule = LRSchedule(self.task.cfg.schedule, self.steps)
        if state is not None:
            self._load_optimizer(state)
        self.trainable = self.masters.params if self.masters else \
            [p for p in self.raw.parameters() if p.requires_grad]
        self.model = self._wrap()

    def _check_switches(self) -> None:
        t = self.cfg
        if t.param_dtype == "bf16" and t.precision != "bf16":
            raise ConfigError("trainer.param_dtype bf16 needs trainer.precision bf16")
        if t.param_dtype == "bf16" and self.sharded:
            raise ConfigError("trainer.param_dtype bf16 does not apply to strategy fsdp: with "
                              "precision bf16 its mixed-precision policy already gathers bf16 "
                              "parameters from fp32 shards; leave param_dtype fp32")

    def _log_size(self) -> None:
        total = sum(p.numel() for p in self.raw.parameters())
        trainable = sum(p.numel() for p in self.raw.parameters() if p.requires_grad)
        self.params = {"params": total, "trainable_params": trainable}
        if self.info.is_main:
            log.info("%s: %s parameters (%s trainable) on %s, %d steps", self.task.stage,
                     f"{total:,}", f"{trainable:,}", self.device, self.steps)

    def _resume(self) -> Optional[dict]:
        """Load the checkpoint `trainer.resume` points to into the CPU model (and this process's
        RNG); returns its trainer state. `never` first removes the directory's old checkpoints."""
        if self.info.is_main:
            if self.cfg.resume == "never" and remove_checkpoints(self.out):
                log.warning("%s: trainer.resume is never; removed the earlier run's checkpoints", self.out)
            remove_checkpoints(self.out, temporary_only=True)
        barrier(self.info)
        path = resolve_resume(self.cfg.resume, self.out)
        if path is None:
            return None
        self.task.load_weights(self.raw, path)
        state = read_checkpoint(path, self.info.rank)
        self.start = int(state["step"])
        log.info("resumed from %s at step %d", path, self.start)
        return state

    def _place(self) -> None:
        """Device, activation checkpointing, then FSDP2 sharding or bf16 parameters."""
        self.raw.to(self.device)
        if self.cfg.activation_checkpointing:
            checkpoint_blocks(self.raw)
        if self.sharded:
            fsdp.shard_model(self.raw, self.cfg.precision)
        elif self.cfg.param_dtype == "bf16":
            self.masters = MasterWeights(self.raw)

    def _load_optimizer(self, state: dict) -> None:
        if self.sharded:
            fsdp.load_optimizer_state(self.raw, self.optimizer, state["optimizer"])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])

    def _wrap(self) -> torch.nn.Module:
        model = self.raw
        if self.info.distributed and not self.sharded:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.device(self.device).index] if is_cuda(self.device) else None
            model = DistributedDataParallel(model, device_ids=ids)
        return torch.compile(model) if self.cfg.compile else model

    # --- steps -----------------------------------------------------------------------------------

    def host_batches(self, step: int) -> StepData:
        data = self.task.step_data(step, self.info)
        if is_cuda(self.device):
            data.batches = pinned(data.batches)
        return data

    def next_data(self, step: int) -> StepData:
        if self.batches is None:
            self.batches = Prefetcher(self.host_batches, self.steps, self.cfg.prefetch)
        return self.batches.get(step)

    def train_step(self, step: int) -> StepOutput:
        """One optimiser step (0-based `step`) on this process's share; nothing read to the host."""
        data = self.next_data(step)
        self.schedule.apply(self.optimizer, step)
        self.model.train()
        total = torch.zeros((), device=self.device)
        stats: dict[str, torch.Tensor] = {}
        for i, host in enumerate(data.batches):
            batch = to_device(host, self.device)
            with self._gradient_sync(i == len(data.batches) - 1):
                with self.autocast():
                    loss, parts = self.task.loss(self.model, batch)
                loss.backward()
            total += loss.detach().float()
            for key, value in parts.items():
                stats[key] = stats.get(key, 0) + value.detach().float()
        return StepOutput(step + 1, total, self._optimizer_step(step), stats, data)

    def _gradient_sync(self, last_micro_batch: bool):
        """DDP and FSDP2 reduce gradients once per step, after its last micro-batch."""
        if self.sharded:
            self.raw.set_requires_gradient_sync(last_micro_batch)
        elif not last_micro_batch and hasattr(self.model, "no_sync"):
            return self.model.no_sync()
        return contextlib.nullcontext()

    def _optimizer_step(self, step: int) -> torch.Tensor:
        if self.masters is not None:
            self.masters.gradients_to_masters()
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, clip)
        with self.task.around_optimizer_step(step, self._stepped):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.masters is not None:
            self.masters.masters_to_params()
        return grad_norm

    def _stepped(self, param: torch.Tensor) -> torch.Tensor:
        return self.masters.by_id.get(id(param), param) if self.masters is not None else param

    def read_row(self, out: StepOutput) -> dict[str, Any]:
        """The step's metrics row: waits for the device (the only place a step does)."""
        row = {"step": out.step, "loss": mean_over_processes(out.loss, self.info).item(),
               "lr": self.optimizer.param_groups[0]["lr"], "grad_norm": float(out.grad_norm)}
        row.update(out.data.row)
        row.update({k: mean_over_processes(v, self.info).item() for k, v in out.stats.items()})
        return row

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.raw.eval()
        with self.autocast():
            result = self.task.evaluate(self.raw, self.device)
        if self.sharded:  # FSDP2 leaves the root's parameters gathered after a forward alone
            self.raw.reshard()
        return result

    # --- the loop --------------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        """Steps from `start` to the end with logging, evaluation and checkpoints; the last value of
        every metrics column (main process)."""
        t = self.cfg
        columns = ["step", "loss", "lr", "grad_norm", *self.task.columns, "tokens_per_s", "mfu",
                   "elapsed_s", "peak_rss_mb", "gpu_peak_mb"]
        keep_through = self.start if self.start else -1  # a fresh start drops an earlier step-0 row
        metrics = MetricsLog(self.out, columns, keep_through, self.info.is_main, t.report_to)
        self.task.begin(self)
        if self.start == 0 and self.task.eval_at_start():
            metrics.log({"step": 0, **self.evaluate()})
        speed = Throughput(self.task.flops_per_token(), t.peak_flops, self.info.world_size)
        bar = progress_bar(t.progress and self.info.is_main, self.start, self.steps)
        try:
            for step in range(self.start, self.steps):
                out = self.train_step(step)
                speed.add(out.data.tokens)
                row = self._row_if_due(out, speed)
                if row is not None:
                    metrics.log(row)
                if is_every(out.step, t.checkpoint_every, self.steps):
                    self.checkpoint(out.step)
                show_row(bar, row)
        finally:
            if self.batches is not None:
                self.batches.close()
            if bar is not None:
                bar.close()
            metrics.close()
        last: dict[str, Any] = {}
        for row in metrics.rows:  # this run's rows and those it resumed after (not the step-0 eval)
            if row["step"] > 0:
                last.update(row)
        return last

    def _row_if_due(self, out: StepOutput, speed: Throughput) -> Optional[dict[str, Any]]:
        t = self.cfg
        evaluating = t.eval_every > 0 and is_every(out.step, t.eval_every, self.steps)
        if not (evaluating or is_every(out.step, t.log_every, self.steps)):
            return None
        row = self.read_row(out)
        if evaluating:
            row.update(self.evaluate())
        row.update(speed.stats())
        row.update(peak_memory_mb(self.device))
        return row

    @contextlib.contextmanager
    def savable_model(self) -> Iterator[Optional[torch.nn.Module]]:
        """A plain model holding the full-precision weights to save: the model itself, or under
        FSDP a gathered copy on the main process (None elsewhere; a collective)."""
        if self.sharded:
            weights = fsdp.full_model_state(self.raw)
            yield fsdp.unsharded_copy(self.raw.config, weights) if self.info.is_main else None
        elif self.masters is not None:
            with self.masters.full_precision_weights():
                yield self.raw
        else:
            yield self.raw

    def checkpoint(self, step: int) -> None:
        started = time.perf_counter()
        write_rank_state(self.out, step, self.info.rank)
        optimizer_state = fsdp.full_optimizer_state(self.raw, self.optimizer) if self.sharded \
            else self.optimizer.state_dict()
        with self.savable_model() as model:
            barrier(self.info)
            if self.info.is_main:
                state = {"optimizer": optimizer_state, "schedule": self.schedule.state_dict(),
                         "data_position": step, "world_size": self.info.world_size}
                save_checkpoint(self.out, step, lambda d: self.task.save_weights(model, d), state,
                                self.cfg.keep_last)
        barrier(self.info)
        self.checkpoint_s = time.perf_counter() - started
