"""Normalisation layers: RMSNorm (Llama) and LayerNorm (GPT-2), registered by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

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
        if torch.compiler.is_compiling():
            # inductor fuses the plain formula with its neighbours and derives a fused backward
            wide = x.to(torch.promote_types(x.dtype, torch.float32))
            normed = F.rms_norm(wide, (x.shape[-1],), eps=self.eps).to(x.dtype)
            return self.weight * normed
        return RMSNormFunction.apply(x, self.weight, self.eps)


class RMSNormFunction(torch.autograd.Function):
    """weight · x / rms(x) with a hand-written backward. Autograd's generic backward of the same
    formula (or of F.rms_norm) runs about a dozen elementwise kernels and costs 5–8× the forward
    on CPU; this one re-derives x̂ from the saved 1/rms and needs about half as many."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        inv_rms = torch.rsqrt(wide.square().mean(-1, keepdim=True).add_(eps))
        ctx.save_for_backward(x, weight, inv_rms)
        return weight * (wide * inv_rms).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight, inv_rms = ctx.saved_tensors
        normed = x.to(inv_rms.dtype) * inv_rms
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = (grad * normed.to(x.dtype)).reshape(-1, x.shape[-1]).sum(0).to(weight.dtype)
        # d x̂ = grad · w;  dx = (d x̂ − x̂ · mean(d x̂ · x̂)) / rms
        grad_normed = grad.to(inv_rms.dtype) * weight
        dot = (grad_normed * normed).mean(-1, keepdim=True)
        grad_x = grad_normed.sub_(normed.mul_(dot)).mul_(inv_rms).to(x.dtype)
        return grad_x, grad_weight, None


@NORMS.register("layernorm")
class LayerNorm(nn.LayerNorm):
    """Standard LayerNorm with weight and bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__(dim, eps=eps)


def build_norm(kind: str, dim: int, eps: float) -> nn.Module:
    """A norm layer of registered type `kind` over the last `dim` features."""
    return NORMS.get(kind)(dim, eps)
