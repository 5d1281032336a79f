"""Tiny model configs and helpers for the model tests (a few thousand parameters, one thread)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the model tests need torch (pip install 'jaforge[train]')")

from jaforge.model.config import ModelConfig  # noqa: E402

torch.set_num_threads(1)


def tiny(**switches) -> ModelConfig:
    """A 2-layer, 32-wide model over a 64-token vocabulary with the given switches."""
    base = dict(vocab_size=64, n_layer=2, d_model=32, n_head=4, max_seq_len=32)
    return ModelConfig(**{**base, **switches})


def randomize(model, seed: int = 0) -> None:
    """Replace every parameter (norm gains and biases too) by random values, so weight mappings
    that mix up two tensors cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2 + (param.ndim == 1))
