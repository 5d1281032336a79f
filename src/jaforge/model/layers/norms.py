"""Normalisation layers: RMSNorm (Llama) and LayerNorm (GPT-2), registered by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.registry import Registry

NORMS: Registry[type[nn.Module]] = Registry("norm")


@NORMS.register("rmsnorm")
class RMSNorm(nn.Module):
    """x / rms(x) · weight, computed in float32 like the Llama reference (then cast back)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(x.dtype)
        return self.weight * normed


@NORMS.register("layernorm")
class LayerNorm(nn.LayerNorm):
    """Standard LayerNorm with weight and bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__(dim, eps=eps)


def build_norm(kind: str, dim: int, eps: float) -> nn.Module:
    """A norm layer of registered type `kind` over the last `dim` features."""
    return NORMS.get(kind)(dim, eps)
