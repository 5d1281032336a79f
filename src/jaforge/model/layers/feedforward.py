"""Feed-forward layers: plain MLPs (gelu, relu, squared relu, silu), gated MLPs (swiglu, geglu) and
a mixture of experts (top-k router with the Switch-Transformer load-balancing loss).

Every feed-forward returns its output; the MoE layer also keeps the last `aux_loss` it computed,
which the transformer collects after the forward pass.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.registry import Registry

FEEDFORWARDS: Registry[Callable[[int, int, bool], nn.Module]] = Registry("feed-forward")


def relu2(x: torch.Tensor) -> torch.Tensor:
    """Squared ReLU (Primer, So et al. 2021)."""
    return F.relu(x).square()


class MLP(nn.Module):
    """down(act(up(x)))."""

    def __init__(self, d_model: int, d_ff: int, bias: bool, act: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.act = act
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.up_proj(x)))


class GatedMLP(nn.Module):
    """down(act(gate(x)) * up(x)) (Shazeer 2020, 'GLU variants improve transformer')."""

    def __init__(self, d_model: int, d_ff: int, bias: bool, act: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.act = act
        self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


FEEDFORWARDS.register("gelu")(lambda d, f, b: MLP(d, f, b, F.gelu))
FEEDFORWARDS.register("relu")(lambda d, f, b: MLP(d, f, b, F.relu))
FEEDFORWARDS.register("relu2")(lambda d, f, b: MLP(d, f, b, relu2))
FEEDFORWARDS.register("silu")(lambda d, f, b: MLP(d, f, b, F.silu))
FEEDFORWARDS.register("swiglu")(lambda d, f, b: GatedMLP(d, f, b, F.silu))
FEEDFORWARDS.register("geglu")(lambda d, f, b: GatedMLP(d, f, b, _gelu_tanh))


class MoEFeedForward(nn.Module):
    """Token-choice mixture of experts: a linear router picks `top_k` experts per token; their
    outputs are mixed with the renormalised router probabilities.

    `aux_loss` is the load-balancing loss E · Σ_i f_i · P_i (Fedus et al. 2021), where f_i is the
    share of routed slots that went to expert i and P_i its mean router probability; it is 1 when
    routing is perfectly uniform and grows as tokens crowd onto fewer experts.
    """

    def __init__(self, d_model: int, d_ff: int, bias: bool, activation: str, n_experts: int, top_k: int):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(FEEDFORWARDS.get(activation)(d_model, d_ff, bias)
                                     for _ in range(n_experts))
        self.aux_loss = torch.zeros(())

    def route(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Router probabilities [N, E], chosen experts [N, k] and their mixing weights [N, k]."""
        probs = self.router(tokens).float().softmax(dim=-1)
        weights, chosen = probs.topk(self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        return probs, chosen, weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(-1, x.shape[-1])
        probs, chosen, weights = self.route(tokens)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.nonzero(chosen == e, as_tuple=True)
            if rows.numel():
                mixed = expert(tokens[rows]) * weights[rows, slot, None].to(tokens.dtype)
                out.index_add_(0, rows, mixed)
        n_experts = len(self.experts)
        routed_share = F.one_hot(chosen, n_experts).float().sum(dim=(0, 1)) / chosen.numel()
        self.aux_loss = n_experts * (routed_share * probs.mean(dim=0)).sum()
        return out.reshape_as(x)


def build_feedforward(activation: str, d_model: int, d_ff: int, bias: bool) -> nn.Module:
    """A dense feed-forward of registered type `activation`."""
    return FEEDFORWARDS.get(activation)(d_model, d_ff, bias)
