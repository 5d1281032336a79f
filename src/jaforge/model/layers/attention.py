"""Causal self-attention through `torch.nn.functional.scaled_dot_product_attention` (flash or
memory-efficient kernels on GPU), with multi-head, grouped-query and multi-query variants
(n_kv_head), optional per-head qk-norm, a sliding window, additive position biases (ALiBi),
a key/value cache and block-causal masking of packed examples (segment ids).

`MIXERS` registers the token mixers a block can use (`ModelConfig.mixer`): attention here, the
recurrent ones in `jaforge.model.layers.recurrence`.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.model.cache import KVCache
from jaforge.model.config import ModelConfig
from jaforge.model.layers.norms import build_norm
from jaforge.model.layers.positions import PositionEncoding
from jaforge.registry import Registry

MIXERS: Registry[type[nn.Module]] = Registry("token mixer")


@dataclass
class AttentionInputs:
    """What every layer's token mixer needs besides its hidden states, built once per forward."""
    position: PositionEncoding
    positions: Optional[torch.Tensor] = None
    """None (0 … T−1), [T] or [batch, T] position ids of the new tokens."""
    mask: Optional[torch.Tensor] = None
    """Additive [batch or 1, heads or 1, Tq, Tk] mask; None: SDPA's own causal (or no) masking."""
    is_causal: bool = True
    cache: Optional[KVCache] = None
    segment_starts: Optional[torch.Tensor] = None
    """Recurrent mixers only: [batch, T] True where a token starts a new segment (its state starts
    empty); None when no segments are in use."""


def attention_mask(query_index: torch.Tensor, key_index: torch.Tensor, sliding_window: Optional[int] = None,
                   bias: Optional[torch.Tensor] = None, query_segments: Optional[torch.Tensor] = None,
                   key_segments: Optional[torch.Tensor] = None) -> torch.Tensor:
    """An additive float mask [batch or 1, heads or 1, Tq, Tk]: −inf where the key lies after the
    query, beyond the window or in another segment; plus `bias` ([heads, Tq, Tk]) elsewhere.
    The indexes are the tokens' places in the (cached + new) sequence."""
    distance = query_index[:, None] - key_index[None, :]
    allowed = distance >= 0
    if sliding_window is not None:
        allowed = allowed & (distance < sliding_window)
    allowed = allowed[None, None]
    if query_segments is not None:
        allowed = allowed & (query_segments[:, None, :, None] == key_segments[:, None, None, :])
    mask = torch.zeros(allowed.shape, device=query_index.device).masked_fill(~allowed, float("-inf"))
    return mask if bias is None else mask + bias[None]


@MIXERS.register("attention")
class Attention(nn.Module):
    """q, k, v projections → (qk-norm) → position rotation → (cache) → SDPA → output projection."""

    def __init__(self, cfg: ModelConfig, layer: int = 0):
        super().__init__()
        self.layer = layer
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.dropout = cfg.dropout
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_head * cfg.head_dim, bias=cfg.bias)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * cfg.head_dim, bias=cfg.bias)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_head * cfg.head_dim, bias=cfg.bias)
        self.o_proj = nn.Linear(cfg.n_head * cfg.head_dim, cfg.d_model, bias=cfg.bias)
        if cfg.qk_norm:
            self.q_norm = build_norm(cfg.norm, cfg.head_dim, cfg.norm_eps)
            self.k_norm = build_norm(cfg.norm, cfg.head_dim, cfg.norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(self, x: torch.Tensor, inputs: AttentionInputs) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        # [batch, seq, heads, head_dim] while contiguous (cheaper element-wise work), then heads first
        q = self.q_proj(x).view(batch, seq_len, self.n_head, self.head_dim)
        k = self.k_proj(x).view(batch, seq_len, self.n_kv_head, self.head_dim)
        v = self.v_proj(x).view(batch, seq_len, self.n_kv_head, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = inputs.position.rotate(q, k, inputs.positions)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        if inputs.cache is not None:
            k, v = inputs.cache.update(self.layer, k, v)
        dtype = q.dtype
        # CPU autocast runs SDPA in bf16, whose backward is ~4× slower than fp32's there; attention
        # is a small share of the FLOPs, so on CPU it always runs in fp32
        cpu_fp32 = q.device.type == "cpu" and (dtype != torch.float32 or torch.is_autocast_enabled("cpu"))
        if cpu_fp32:
            q, k, v = q.float(), k.float(), v.float()
        mask = inputs.mask.to(q.dtype) if inputs.mask is not None else None
        with torch.autocast("cpu", enabled=False) if cpu_fp32 else contextlib.nullcontext():
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=inputs.is_causal and mask is None,
                dropout_p=self.dropout if self.training else 0.0,
                enable_gqa=self.n_kv_head != self.n_head)
        return self.o_proj(y.to(dtype).transpose(1, 2).reshape(batch, seq_len, -1))


def build_mixer(cfg: ModelConfig, layer: int) -> nn.Module:
    """The registered token mixer named by `cfg.mixer` for block `layer`."""
    return MIXERS.get(cfg.mixer)(cfg, layer)
