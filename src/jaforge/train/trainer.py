"""The pretraining loop: `jaforge pretrain` (also under `torchrun --nproc_per_node N`).

    jaforge pretrain --config recipes/pretrain-tiny.yaml
    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config recipes/pretrain-tiny.yaml

Each optimiser step takes the global batch of the deterministic mixture sampler, this process's share
of it in micro-batches (gradient accumulation, DDP gradient averaging), clips the gradient norm, steps
the optimiser at the scheduled learning rate, and logs loss, lr, grad norm, tokens/s and MFU to
metrics.jsonl / metrics.csv. Every `eval_every` steps it measures the validation loss; every
`checkpoint_every` steps it saves a resumable checkpoint. `resume: auto` continues from the newest one
so that a run killed at any step and started again with the same command logs the same losses, bit
for bit, as a run never interrupted (on CPU). The final model is written to `<output_dir>/model`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from jaforge.config import save_config
from jaforge.train.checkpoint import (load_checkpoint, resolve_resume, save_checkpoint,
                                      write_rank_state)
from jaforge.train.config import PretrainConfig
from jaforge.train.data import MixtureSampler, validation_windows
from jaforge.train.distributed import ProcessInfo, barrier, init_processes, mean_over_processes, shutdown
from jaforge.train.host_memory import keep_freed_memory
from jaforge.train.metrics import MetricsLog, Throughput
from jaforge.train.objectives import UL2_SENTINELS, training_inputs
from jaforge.train.optim import build_optimizer
from jaforge.train.schedule import LRSchedule

log = logging.getLogger(__name__)


@dataclass
class PretrainResult:
    output_dir: str
    steps: int
    loss: Optional[float]
    """Training loss of the last step."""
    val_loss: Optional[float]
    """Validation loss of the last evaluation."""


@dataclass
class Run:
    """What the loop carries: the model (raw and wrapped), optimiser, schedule, sampler, process."""
    cfg: PretrainConfig
    info: ProcessInfo
    raw: torch.nn.Module
    model: torch.nn.Module
    model_cfg: Any
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    sampler: MixtureSampler
    micro: int
    pending_optimizer_state: Any = None
    """FSDP: the saved optimiser state, loaded once the optimiser is rebuilt over the shards."""

    @property
    def sharded(self) -> bool:
        return self.cfg.trainer.strategy == "fsdp" and self.info.distributed

    @property
    def autocast(self):
        enabled = self.cfg.trainer.precision == "bf16"
        device_type = "cuda" if self.info.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=enabled)


def run(cfg: PretrainConfig) -> PretrainResult:
    """Train (or resume) the run in `cfg.output_dir`."""
    info = init_processes()
    try:
        return train(cfg, info)
    finally:
        shutdown(info)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def micro_batch(cfg: PretrainConfig, info: ProcessInfo) -> int:
    t = cfg.trainer
    if t.batch_size % info.world_size:
        raise ValueError(f"trainer.batch_size {t.batch_size} is not divisible by {info.world_size} processes")
    per_rank = t.batch_size // info.world_size
    micro = min(t.micro_batch_size, per_rank)
    if per_rank % micro:
        raise ValueError(f"the per-process batch {per_rank} is not a multiple of "
                         f"trainer.micro_batch_size {micro}")
    return micro


def build_run(cfg: PretrainConfig, info: ProcessInfo) -> Run:
    from jaforge.train.continual import initial_model

    seed_everything(cfg.trainer.seed)
    if cfg.trainer.keep_host_memory:
        keep_freed_memory()
    sampler = MixtureSampler(cfg.data, cfg.trainer.batch_size)
    model, model_cfg = initial_model(cfg.trainer.init_from, cfg.model, cfg.trainer.expansion)
    if sampler.vocab_size > model_cfg.vocab_size:
        raise ValueError(f"the token data's vocabulary ({sampler.vocab_size}) is larger than "
                         f"model.vocab_size ({model_cfg.vocab_size})")
    if cfg.trainer.objective == "ul2" and sampler.vocab_size + UL2_SENTINELS > model_cfg.vocab_size:
        raise ValueError(f"objective ul2 needs {UL2_SENTINELS} sentinel rows above the token data's "
                         f"vocabulary: model.vocab_size >= {sampler.vocab_size + UL2_SENTINELS}")
    if model_cfg.max_seq_len < cfg.data.seq_len + 1:
        raise ValueError(f"model.max_seq_len {model_cfg.max_seq_len} must be at least data.seq_len + 1 "
                         f"= {cfg.data.seq_len + 1} (the model reads windows of seq_len + 1 tokens)")
    model.to(info.device)
    optimizer = build_optimizer(model, cfg.optim)
    schedule = LRSchedule(cfg.schedule, cfg.trainer.max_steps)
    return Run(cfg, info, model, model, model_cfg, optimizer, schedule, sampler, micro_batch(cfg, info))


def resume(run_: Run) -> int:
    """Load the checkpoint `trainer.resume` points to; returns the number of completed steps."""
    path = resolve_resume(run_.cfg.trainer.resume, run_.cfg.output_dir)
    if path is None:
        return 0
    state = load_checkpoint(path, run_.raw, run_.info.rank)
    if run_.sharded:
        run_.pending_optimizer_state = state["optimizer"]
    else:
        run_.optimizer.load_state_dict(state["optimizer"])
    run_.schedule.load_state_dict(state["schedule"])
    log.info("resumed from %s at step %d", path, state["step"])
    return int(state["step"])


def wrap(run_: Run) -> None:
    """DDP or FSDP2 across processes, then torch.compile, as configured."""
    if run_.sharded:
        from jaforge.train import fsdp

        fsdp.shard_model(run_.model)
        run_.optimizer = build_optimizer(run_.raw, run_.cfg.optim)  # over the sharded parameters
        if run_.pending_optimizer_state is not None:
            fsdp.load_optimizer_state(run_.raw, run_.optimizer, run_.pending_optimizer_state)
    elif run_.info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [run_.info.local_rank] if run_.info.device.startswith("cuda") else None
        run_.model = DistributedDataParallel(run_.model, device_ids=ids)
    if run_.cfg.trainer.compile:
        run_.model = torch.compile(run_.model)


def train_step(run_: Run, step: int) -> tuple[float, float]:
    """One optimiser step on this process's share of the global batch; returns (loss, grad norm)."""
    t = run_.cfg.trainer
    run_.model.train()
    rows = run_.sampler.batch(step, run_.info.rank, run_.info.world_size)
    n_micro = len(rows) // run_.micro
    total = 0.0
    for i in range(n_micro):
        first = i * run_.micro + run_.info.rank * len(rows)
        windows = torch.from_numpy(rows[i * run_.micro:(i + 1) * run_.micro]).to(run_.info.device)
        input_ids, labels = training_inputs(windows, t.objective, run_.cfg.data.seed, step, first,
                                            run_.model_cfg.vocab_size)
        last = i == n_micro - 1
        accumulate = not last and hasattr(run_.model, "no_sync")  # DDP: all-reduce once per step
        sync = run_.model.no_sync() if accumulate else contextlib.nullcontext()
        with sync:
            with run_.autocast:
                loss = run_.model(input_ids, labels=labels).loss / n_micro
            loss.backward()
        total += loss.item()
    clip = t.grad_clip if t.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(run_.raw.parameters(), clip)
    run_.optimizer.step()
    run_.optimizer.zero_grad(set_to_none=True)
    return mean_over_processes(total, run_.info), float(grad_norm)


@torch.no_grad()
def evaluate(run_: Run, val: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean next-token loss on each dataset's fixed validation windows, and their mean."""
    run_.raw.eval()
    result = {}
    for name, windows in val.items():
        total = 0.0
        for i in range(0, len(windows), run_.micro):
            x = torch.from_numpy(windows[i:i + run_.micro]).to(run_.info.device)
            with run_.autocast:
                total += run_.raw(x, labels=x).ce_loss.item() * len(x)
        result[f"val_loss/{name}"] = total / len(windows)
    if result:
        result["val_loss"] = sum(result.values()) / len(result)
    return result


def savable_states(run_: Run) -> tuple[torch.nn.Module, Any]:
    """(a plain model, the optimiser state) to write; under FSDP gathered to rank 0 (collective)."""
    if not run_.sharded:
        return run_.raw, run_.optimizer.state_dict()
    from jaforge.train import fsdp

    weights, optimizer_state = fsdp.full_states(run_.raw, run_.optimizer)
    model = fsdp.unsharded_copy(run_.model_cfg, weights) if run_.info.is_main else None
    return model, optimizer_state


def checkpoint(run_: Run, step: int) -> None:
    write_rank_state(run_.cfg.output_dir, step, run_.info.rank)
    model, optimizer_state = savable_states(run_)
    barrier(run_.info)
    if run_.info.is_main:
        state = {"optimizer": optimizer_state, "schedule": run_.schedule.state_dict(),
                 "data_position": step, "world_size": run_.info.world_size}
        save_checkpoint(run_.cfg.output_dir, step, model, run_.model_cfg, state,
                        run_.cfg.trainer.keep_last)
    barrier(run_.info)


def _is_every(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def open_metrics(run_: Run, val: dict, start: int) -> tuple[MetricsLog, Throughput]:
    """The metrics files (rows past `start` dropped) and the throughput meter of this run."""
    from jaforge.model import estimate_flops

    t = run_.cfg.trainer
    columns = ["step", "loss", "lr", "grad_norm", "tokens", "val_loss"] + \
        [f"val_loss/{n}" for n in val] + ["tokens_per_s", "mfu", "elapsed_s"]
    metrics = MetricsLog(Path(run_.cfg.output_dir), columns, start, run_.info.is_main, t.tensorboard)
    flops = estimate_flops(run_.model_cfg, run_.cfg.data.seq_len + 1)["train_per_token"]
    return metrics, Throughput(flops, t.peak_flops, run_.info.world_size)


def step_row(run_: Run, step: int, val: dict) -> dict[str, Any]:
    """Train step `step` (0-based) and, when due, evaluate; the metrics row of the step."""
    t = run_.cfg.trainer
    run_.schedule.apply(run_.optimizer, step)
    loss, grad_norm = train_step(run_, step)
    done = step + 1
    row = {"step": done, "loss": loss, "lr": run_.optimizer.param_groups[0]["lr"],
           "grad_norm": grad_norm, "tokens": run_.sampler.tokens_through(done)}
    if val and _is_every(done, t.eval_every, t.max_steps):
        row.update(evaluate(run_, val))
    return row


def train(cfg: PretrainConfig, info: ProcessInfo) -> PretrainResult:
    from jaforge.model.checkpoint import save_model

    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(t.threads)
    out = Path(cfg.output_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    run_ = build_run(cfg, info)
    start = resume(run_)
    wrap(run_)
    val = validation_windows(cfg.data, t.eval_batches * run_.micro) if t.eval_every > 0 else {}
    metrics, speed = open_metrics(run_, val, start)
    row: dict[str, Any] = {}
    val_loss, bar = None, _progress(t, start, info)
    for step in range(start, t.max_steps):
        row = step_row(run_, step, val)
        val_loss = row.get("val_loss", val_loss)
        row.update(speed.update(t.batch_size * run_.sampler.seq_len_at(step)))
        if _is_every(row["step"], t.log_every, t.max_steps) or "val_loss" in row:
            metrics.log(row)
        if _is_every(row["step"], t.checkpoint_every, t.max_steps):
            checkpoint(run_, row["step"])
        _show(bar, row)
    if bar is not None:
        bar.close()
    metrics.close()
    model, _ = savable_states(run_)
    if info.is_main:
        save_model(model, run_.model_cfg, out / "model")
    barrier(info)
    return PretrainResult(str(out), t.max_steps, row.get("loss"), val_loss)


def _progress(t, start: int, info: ProcessInfo):
    if not (t.progress and info.is_main):
        return None
    from tqdm import tqdm

    return tqdm(total=t.max_steps, initial=start, unit="step", dynamic_ncols=True)


def _show(bar, row: dict) -> None:
    if bar is None:
        return
    shown = {"loss": f"{row['loss']:.3f}", "tok/s": f"{row['tokens_per_s']:.0f}"}
    if "mfu" in row:
        shown["mfu"] = f"{row['mfu']:.1%}"
    if "val_loss" in row:
        shown["val"] = f"{row['val_loss']:.3f}"
    bar.set_postfix(shown, refresh=False)
    bar.update(1)


def command_line_options(args: list[str]) -> list[tuple[str, str]]:
    """`--key value` / `--key=value` pairs (the syntax of `jaforge <stage>`)."""
    options, i = [], 0
    while i < len(args):
        if not args[i].startswith("--"):
            raise ValueError(f"unexpected argument '{args[i]}'; expected --key value")
        key, eq, value = args[i][2:].partition("=")
        if not eq:
            i += 1
            if i == len(args):
                raise ValueError(f"'--{key}' needs a value")
            value = args[i]
        options.append((key, value))
        i += 1
    return options


def main(argv: list[str] | None = None) -> int:
    """`python -m jaforge.train.trainer --config F.yaml [--a.b v …]`, the same as `jaforge pretrain`
    (torchrun launches it with `-m jaforge.train.trainer`)."""
    import sys

    from jaforge.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = command_line_options(list(sys.argv[1:] if argv is None else argv))
    config = next((v for k, v in options if k == "config"), None)
    result = run(load_config(PretrainConfig, config, [(k, v) for k, v in options if k != "config"]))
    if result.val_loss is not None:
        print(f"val_loss {result.val_loss:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
