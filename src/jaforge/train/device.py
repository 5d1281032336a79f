"""Where a training loop runs and how its batches get there: the device setting, host batches
prepared one step ahead on a background thread (pinned on CUDA), non-blocking copies, and the
peak memory reported in the metrics.

    device = resolve_device("auto", local_rank=0)          # "cuda:0" or "cpu"
    batches = Prefetcher(task.step_data, end=max_steps)     # batches.get(step) while step+1 is made
    batch = to_device(host_batch, device)

The batch of a step depends only on the step (never on a global RNG), so preparing it on another
thread leaves a run's results unchanged.
"""

from __future__ import annotations

import re
import resource
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import torch

from jaforge.errors import ConfigError

T = TypeVar("T")


def resolve_device(setting: str, local_rank: int = 0) -> str:
    """`auto` → cuda:<local rank> when CUDA is present, else cpu; `cuda` → cuda:<local rank>;
    `cuda:N`, `cpu` as given. Asking for CUDA where there is none is a ConfigError."""
    name = setting.strip().lower()
    if name == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise ConfigError(f"trainer.device: '{setting}' is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(f"trainer.device: '{setting}' asks for CUDA, but this PyTorch "
                          f"({torch.__version__}) sees no CUDA device; use auto or cpu")
    index = int(match.group(1)) if match.group(1) else local_rank
    if index >= torch.cuda.device_count():
        raise ConfigError(f"trainer.device: '{setting}' but only {torch.cuda.device_count()} CUDA "
                          f"device(s) are visible")
    return f"cuda:{index}"


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def pinned(batches: Any) -> Any:
    """Micro-batches (dicts of tensors) with every tensor in page-locked memory."""
    return [{k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in b.items()}
            for b in batches]


def to_device(batch: dict[str, Any], device: str) -> dict[str, Any]:
    """The tensors of a micro-batch on `device` (asynchronous from pinned memory)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


class Prefetcher(Generic[T]):
    """`get(step)` returns `prepare(step)` and queues `prepare(step + 1)` on a background thread,
    so the next step's host work (sampling, objectives, collation, pinning) overlaps this step."""

    def __init__(self, prepare: Callable[[int], T], end: int, enabled: bool = True):
        self.prepare, self.end = prepare, end
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="jaforge-prefetch") if enabled else None
        self.pending: dict[int, Future] = {}

    def get(self, step: int) -> T:
        if self.pool is None:
            return self.prepare(step)
        future = self.pending.pop(step, None) or self.pool.submit(self.prepare, step)
        for stale in [s for s in self.pending if s != step + 1]:
            self.pending.pop(stale).cancel()
        if step + 1 < self.end and step + 1 not in self.pending:
            self.pending[step + 1] = self.pool.submit(self.prepare, step + 1)
        return future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pending.clear()


def peak_memory_mb(device: str) -> dict[str, float]:
    """This process's peak resident host memory, and on CUDA the peak allocated device memory."""
    peak = {"peak_rss_mb": host_peak_rss_mb()}
    if is_cuda(device):
        peak["gpu_peak_mb"] = torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return peak


def host_peak_rss_mb() -> float:
    try:  # VmHWM is this process's own peak (ru_maxrss can carry a parent's across exec)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
