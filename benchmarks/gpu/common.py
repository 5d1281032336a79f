"""Helpers of the GPU benchmarks (see ../../../shared/BENCHMARKS.md, "On a GPU"): the device, a bf16
matmul peak measured in the same run, the spec peak of known GPUs, synchronised timing, peak
memory, the machine's description, and a time budget that skips what no longer fits.

With `--tiny` the same code runs on the CPU (small shapes), so the scripts are tested end to end
without a GPU; then peaks are measured in fp32 and the spec peak is unknown.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Optional

# Dense bf16 tensor-core peak by the vendors' datasheets (SXM parts), FLOP/s.
SPEC_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def device_name(tiny: bool) -> str:
    import torch

    if tiny or not torch.cuda.is_available():
        return "cpu"
    return "cuda:0"


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def spec_peak(device: str) -> Optional[float]:
    import torch

    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in SPEC_BF16.items() if key in name), None)


def matmul_peak(device: str, n: int = 8192, repeats: int = 10) -> float:
    """The best sustained matmul rate now: bf16 n³ on CUDA, fp32 on the CPU (small n)."""
    import torch

    if not device.startswith("cuda"):
        n, dtype = min(n, 512), torch.float32
    else:
        dtype = torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return repeats * 2 * n ** 3 / (time.perf_counter() - start)


def reset_memory(device: str) -> None:
    """Free what the previous measurement left (and its compiled graphs) before the next one."""
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch._dynamo.reset()


def peak_memory_gib(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    from jaforge.train.device import host_peak_rss_mb

    return host_peak_rss_mb() / 1024


def machine(device: str) -> dict[str, Any]:
    import torch

    info = {"torch": torch.__version__, "python": platform.python_version(), "nproc": os.cpu_count(),
            "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(), gpu_memory_gib=props.total_memory / 2**30,
                    cuda=torch.version.cuda, driver=_driver_version())
    return info


def _driver_version() -> str:
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Budget:
    """Seconds left for measurements; `fits(estimate)` is False once an item would overrun."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def fits(self, estimate_s: float) -> bool:
        return self.left() >= estimate_s


def write_results(path: Path, data: dict) -> None:
    """Atomically, after every measurement: a run cut short still leaves what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
