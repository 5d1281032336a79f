"""Process-group set-up for `torchrun`: the same command runs on 1 process or N (DDP).

    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config recipes/pretrain-tiny.yaml

With WORLD_SIZE > 1 in the environment, the default process group is initialised from the env vars
torchrun sets (gloo on CPU, nccl on CUDA); each rank takes its share of every global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class ProcessInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_processes() -> ProcessInfo:
    """Join the torchrun process group when WORLD_SIZE > 1; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if world_size <= 1:
        return ProcessInfo(device=device)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return ProcessInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def mean_over_processes(value: float, info: ProcessInfo) -> float:
    """The mean of a per-process number across all processes (the number itself on one)."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def barrier(info: ProcessInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown(info: ProcessInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
