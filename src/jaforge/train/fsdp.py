"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for models that do not fit one device.

    torchrun --nproc_per_node 8 -m jaforge.cli pretrain --config big.yaml --trainer.strategy fsdp

Each transformer block, then the whole model, is sharded across the processes (parameters,
gradients and optimiser state), so the optimiser is built after sharding. With precision bf16 the
mixed-precision policy keeps the shards (and the optimiser state) in fp32, gathers bf16
parameters for the forward and backward, and reduces gradients in fp32. Checkpoints hold full,
unsharded tensors gathered to the CPU of rank 0 (the same files as a single-process run, with the
optimiser state keyed by parameter name), so a run resumes on any number of processes of FSDP.
Tested on CPU with gloo (2 processes) in tests/train/test_ddp.py.
"""

from __future__ import annotations

from typing import Any

import torch

from jaforge.model.transformer import Transformer


def shard_model(model: torch.nn.Module, precision: str = "fp32") -> None:
    """Shard every block, then the rest (embeddings, final norm, head), in place."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if precision == "bf16" else MixedPrecisionPolicy()
    for block in model.blocks:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_model_state(model: torch.nn.Module) -> dict:
    """The full model state dict on rank 0's CPU; a collective every rank must call."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options())


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The full (name-keyed) optimiser state on rank 0's CPU; a collective every rank must call."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options())


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: Any) -> None:
    """Load a full (name-keyed) optimiser state saved by `full_states` into the sharded optimiser."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_optimizer_state_dict,
    )

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True))


def unsharded_copy(model_cfg: Any, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A plain model holding the gathered weights, for save_model on rank 0."""
    with torch.random.fork_rng():  # building it must not move the RNG a resumed run replays
        plain = Transformer(model_cfg)
    plain.load_state_dict(weights, strict=False)  # a tied head may come once, as the embedding
    return plain
