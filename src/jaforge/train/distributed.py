"""Process-group set-up for `torchrun`: the same command runs on 1 process or N (DDP or FSDP2).

    torchrun --nproc_per_node 2 -m jaforge.cli pretrain --config recipes/pretrain-tiny.yaml

With WORLD_SIZE > 1 in the environment, the default process group is initialised from the env vars
torchrun sets (gloo on CPU, nccl on CUDA); each rank takes its share of every global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from jaforge.train.device import is_cuda, resolve_device


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


def init_processes(device: str = "auto") -> ProcessInfo:
    """Join the torchrun process group when WORLD_SIZE > 1; resolve this process's device from the
    `trainer.device` setting."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if is_cuda(resolved):
        torch.cuda.set_device(torch.device(resolved))
    if world_size <= 1:
        return ProcessInfo(device=resolved)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if is_cuda(resolved) else "gloo")
    return ProcessInfo(dist.get_rank(), dist.get_world_size(), local_rank, resolved)


def mean_over_processes(value: torch.Tensor, info: ProcessInfo) -> torch.Tensor:
    """The mean of a per-process tensor across all processes (the tensor itself on one)."""
    if not info.distributed:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / info.world_size


def all_agree(ok: bool, info: ProcessInfo) -> bool:
    """True when every process passes `ok` (a collective; True on one process)."""
    if not info.distributed:
        return ok
    flag = torch.tensor([0 if ok else 1], device=info.device)
    dist.all_reduce(flag)
    return int(flag.item()) == 0


def barrier(info: ProcessInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown(info: ProcessInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
