"""Causal self-attention through `torch.nn.functional.scaled_dot_product_attention` (flash or
memory-efficient kernels on GPU), with multi-head, grouped-query and multi-query variants
(n_kv_head), optional per-head qk-norm, a sliding window and additive position biases (ALiBi).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.model.config import ModelConfig
from jaforge.model.layers.norms import build_norm
from jaforge.model.layers.positions import PositionEncoding


def attention_mask(seq_len: int, sliding_window: Optional[int], bias: Optional[torch.Tensor],
                   device: torch.device) -> Optional[torch.Tensor]:
    """An additive float mask [heads or 1, T, T]: −inf above the diagonal and beyond the window,
    plus `bias`; None when plain causal masking suffices (then SDPA's is_causal fast path is used)."""
    if sliding_window is None and bias is None:
        return None
    pos = torch.arange(seq_len, device=device)
    distance = pos[:, None] - pos[None, :]
    allowed = distance >= 0
    if sliding_window is not None:
        allowed &= distance < sliding_window
    mask = torch.zeros(seq_len, seq_len, device=device).masked_fill(~allowed, float("-inf"))
    return mask[None] if bias is None else mask[None] + bias


class Attention(nn.Module):
    """q, k, v projections → (qk-norm) → position rotation → SDPA → output projection."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
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

    def forward(self, x: torch.Tensor, position: PositionEncoding,
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        # [batch, seq, heads, head_dim] while contiguous (cheaper element-wise work), then heads first
        q = self.q_proj(x).view(batch, seq_len, self.n_head, self.head_dim)
        k = self.k_proj(x).view(batch, seq_len, self.n_kv_head, self.head_dim)
        v = self.v_proj(x).view(batch, seq_len, self.n_kv_head, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = position.rotate(q, k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        if mask is not None:
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_head != self.n_head)
        return self.o_proj(y.transpose(1, 2).reshape(batch, seq_len, -1))
