"""Position encodings, registered by name. Each one acts at up to three places of the model:

    embed(h, positions)                 added to the token embeddings (learned absolute table)
    rotate(q, k, positions)             applied to queries and keys per head (RoPE)
    attention_bias(query_index, key_index)   an additive [n_head, Tq, Tk] bias on scores (ALiBi)

and leaves the others unchanged, so the transformer calls all three without knowing which is used.
`positions` is None for 0 … T−1 (the common case, served from cached tables), a [T] tensor
(decoding after a cache) or a [batch, T] tensor (packed examples restarting at 0).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from jaforge.model.config import ModelConfig
from jaforge.registry import Registry

POSITIONS: Registry[type["PositionEncoding"]] = Registry("position encoding")


class PositionEncoding(nn.Module):
    """No position information at all ('none', NoPE): causal masking alone orders the tokens."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()

    def embed(self, h: torch.Tensor, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        return h

    def rotate(self, q: torch.Tensor, k: torch.Tensor,
               positions: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries and keys laid out [batch, seq, heads, head_dim]."""
        return q, k

    def attention_bias(self, query_index: torch.Tensor, key_index: torch.Tensor) -> Optional[torch.Tensor]:
        return None


POSITIONS.register("none")(PositionEncoding)


@POSITIONS.register("learned")
class LearnedPositions(PositionEncoding):
    """A trained table of max_seq_len absolute position vectors added to the embeddings (GPT-2)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.weight = nn.Parameter(torch.zeros(cfg.max_seq_len, cfg.d_model))

    def embed(self, h: torch.Tensor, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        last = h.shape[1] if positions is None else int(positions.max()) + 1
        if last > self.weight.shape[0]:
            raise ValueError(f"position {last - 1} is beyond max_seq_len={self.weight.shape[0]} "
                             f"of the learned position table")
        return h + (self.weight[:h.shape[1]] if positions is None else self.weight[positions])


@POSITIONS.register("rope")
class RotaryPositions(PositionEncoding):
    """Rotary embeddings (Su et al. 2021) in the half-split layout used by Llama/HF, so exported
    q/k weights need no permutation. cos/sin tables are cached per length and device."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        dim = cfg.head_dim
        inv_freq = 1.0 / (cfg.rope_base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        inv_freq = inv_freq / cfg.rope_scale  # position interpolation: angle of position p / scale
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache: dict = {}

    def cos_sin(self, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of the rotation angles, [seq_len, 1, head_dim // 2]."""
        key = (seq_len, str(device))
        if key not in self._cache:
            positions = torch.arange(seq_len, device=device, dtype=torch.float)
            angles = torch.outer(positions, self.inv_freq.to(device))[:, None, :]
            self._cache = {key: (angles.cos(), angles.sin())}
        return self._cache[key]

    def rotate(self, q: torch.Tensor, k: torch.Tensor,
               positions: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate q and k, laid out [batch, seq, heads, head_dim]: each pair (x_i, x_{i+d/2})
        turns by position·θ^(-2i/d)."""
        if positions is None:
            cos, sin = self.cos_sin(q.shape[1], q.device)
        else:
            angles = positions[..., None].float() * self.inv_freq.to(q.device)
            angles = angles.unsqueeze(-2)   # [.., seq, 1, head_dim // 2]: one angle for all heads
            cos, sin = angles.cos(), angles.sin()
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        if torch.compiler.is_compiling():
            # inductor fuses the concatenated formula into one kernel per tensor, fwd and bwd
            return rotate_concat(q, cos, sin), rotate_concat(k, cos, sin)
        return Rotation.apply(q, k, cos, sin)


class Rotation(torch.autograd.Function):
    """Rotate q and k by the same angles. A rotation's gradient is the inverse rotation, so the
    backward rotates the incoming gradients by −angle instead of replaying autograd's eight
    elementwise kernels per tensor (half the time on CPU, and nothing saved but cos/sin)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        ctx.save_for_backward(cos, sin)
        return rotate_pairs(q, cos, sin), rotate_pairs(k, cos, sin)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_q: torch.Tensor, grad_k: torch.Tensor):
        cos, sin = ctx.saved_tensors
        return rotate_pairs(grad_q, cos, -sin), rotate_pairs(grad_k, cos, -sin), None, None


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin) on the two halves of the last dimension,
    the same as Llama's x·cos + rotate_half(x)·sin without its full-width negation and copy.
    The halves are written in place into one output: a quarter of the time of the
    concatenated form on CPU."""
    out = torch.empty_like(x)
    x1, x2 = x.chunk(2, dim=-1)
    out1, out2 = out.chunk(2, dim=-1)
    out1.copy_(x1).mul_(cos).addcmul_(x2, sin, value=-1)
    out2.copy_(x2).mul_(cos).addcmul_(x1, sin)
    return out


def rotate_concat(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """`rotate_pairs` as one expression, for torch.compile (which fuses it)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Head slopes of ALiBi (Press et al. 2022): a geometric sequence from 2^(-8/n); for head
    counts that are not powers of two, the closest power's slopes plus every other slope of the
    next power (as in the reference implementation)."""
    def power_of_two_slopes(n: int) -> list[float]:
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(n_head))
    slopes = power_of_two_slopes(closest)
    if closest < n_head:
        slopes += power_of_two_slopes(2 * closest)[0::2][: n_head - closest]
    return torch.tensor(slopes)


@POSITIONS.register("alibi")
class ALiBiPositions(PositionEncoding):
    """Linear biases −slope·(i − j) on the attention score of query i to key j."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.register_buffer("slopes", alibi_slopes(cfg.n_head), persistent=False)

    def attention_bias(self, query_index: torch.Tensor, key_index: torch.Tensor) -> torch.Tensor:
        """[n_head, Tq, Tk] biases from the distance between query and key indexes in the sequence
        (within one packed example this is also their position distance)."""
        distance = (query_index[:, None] - key_index[None, :]).clamp(min=0).float()
        return -self.slopes.to(query_index.device)[:, None, None] * distance


def build_position(cfg: ModelConfig) -> PositionEncoding:
    """The registered position encoding named by `cfg.position`."""
    return POSITIONS.get(cfg.position)(cfg)
