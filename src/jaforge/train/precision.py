"""Precision and memory switches of the training loop: bf16 autocast, bf16 parameters with fp32
master weights and optimiser state, and activation checkpointing per block.

    with autocast(device, "bf16"): loss = model(x, labels=x).loss
    masters = MasterWeights(model)            # params now bf16; masters.params are fp32 copies
    loss.backward(); masters.gradients_to_masters(); optimizer.step(); masters.masters_to_params()
    checkpoint_blocks(model)                  # each block recomputes its activations in backward

With `param_dtype: bf16` the forward and backward read half the weight bytes and keep bf16
gradients; the optimiser steps fp32 masters (its state fp32 too), and the bf16 weights are
rounded from them after each step, so small updates are not lost to bf16 rounding. Buffers (RoPE
frequencies) stay fp32. Checkpoints store the fp32 masters (`full_precision_weights`).
"""

from __future__ import annotations

import contextlib
import types
from typing import Iterator

import torch

from jaforge.train.device import is_cuda


def autocast(device: str, precision: str) -> torch.autocast:
    return torch.autocast("cuda" if is_cuda(device) else "cpu", dtype=torch.bfloat16,
                          enabled=precision == "bf16")


class MasterWeights:
    """fp32 masters of a model's trainable parameters, whose own storage becomes bf16."""

    def __init__(self, model: torch.nn.Module):
        self.pairs = []
        for param in model.parameters():
            master = None
            if param.requires_grad:
                master = torch.nn.Parameter(param.detach().float().clone())
            param.data = param.data.to(torch.bfloat16)
            if master is not None:
                self.pairs.append((param, master))
        self.by_id = {id(p): m for p, m in self.pairs}

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return [m for _, m in self.pairs]

    def gradients_to_masters(self) -> None:
        for param, master in self.pairs:
            master.grad = None if param.grad is None else param.grad.float()
            param.grad = None

    @torch.no_grad()
    def masters_to_params(self) -> None:
        for param, master in self.pairs:
            param.copy_(master)

    @torch.no_grad()
    def params_to_masters(self) -> None:
        """After weights were loaded into the (bf16) model from outside."""
        for param, master in self.pairs:
            master.copy_(param)

    @contextlib.contextmanager
    def full_precision_weights(self) -> Iterator[None]:
        """The model's trainable parameters hold the fp32 masters while the block runs (to save)."""
        saved = [(param, param.data) for param, _ in self.pairs]
        for param, master in self.pairs:
            param.data = master.data
        try:
            yield
        finally:
            for param, data in saved:
                param.data = data


def _checkpointed_forward(self: torch.nn.Module, *args, **kwargs):
    from torch.utils.checkpoint import checkpoint

    return checkpoint(type(self).forward, self, *args, use_reentrant=False, **kwargs)


def checkpoint_blocks(model: torch.nn.Module) -> int:
    """Make every block in `model.blocks` recompute its activations in the backward pass (the
    block's own forward, its state dict and names unchanged); how many blocks."""
    blocks = getattr(model, "blocks", [])
    for block in blocks:
        # a method bound to the block: copy.deepcopy binds the copy's own one
        block.forward = types.MethodType(_checkpointed_forward, block)
    return len(blocks)
