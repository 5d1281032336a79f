"""A recurrent token mixer in place of attention: an RWKV-style time mix (after RWKV-5 "Eagle",
Peng et al. 2024), chosen with `ModelConfig.mixer = "rwkv"`.

Each head keeps a head_dim × head_dim state S that decays per channel at a learned rate and takes
in every token's key ⊗ value; a token reads the state with its receptance r, and its own
key/value with a learned per-channel bonus u:

    S_t = diag(w)·S_{t−1} + k_tᵀ v_t          w = exp(−exp(decay)) ∈ (0, 1) per channel
    y_t = r_t·(S_{t−1} + diag(u)·k_tᵀ v_t)     out = o_proj(norm(y) · silu(g))

r, k, v and the gate g are projections of a token-shifted input (a learned per-channel mix of x_t
and x_{t−1}). Training runs the recurrence in chunks of CHUNK tokens: within a chunk as a masked
matrix product, across chunks as a short loop over the carried state; the result equals the
step-by-step recurrence (tests/model/test_recurrence.py). The state (last input, S) lives in the
KVCache, so decoding costs the same for every new token. Packed examples reset the state (and the
token shift) where a segment starts. Position encodings act only on attention, so rope/alibi do
nothing here; a learned position table is still added to the embeddings.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.model.cache import KVCache
from jaforge.model.config import ModelConfig
from jaforge.model.layers.attention import MIXERS, AttentionInputs
from jaforge.model.layers.norms import build_norm

CHUNK = 16
MAX_DECAY_RATE = 8.0
"""exp(decay) is capped here (w ≥ e⁻⁸ per token), which keeps w^±(CHUNK/2) of the chunked
product inside float32; a state forgetting faster than that is gone after one token anyway."""


@MIXERS.register("rwkv")
class TimeMix(nn.Module):
    """token shift → r, k, v, g projections → chunked decaying-state recurrence → per-head norm,
    silu gate → output projection."""

    def __init__(self, cfg: ModelConfig, layer: int = 0):
        super().__init__()
        self.layer, self.n_layer = layer, cfg.n_layer
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        width = cfg.n_head * cfg.head_dim
        # share of x_t (vs x_{t−1}) per channel in the inputs of r, k, v, g; 1-D: not weight-decayed
        self.shift_mix = nn.Parameter(torch.ones(4 * cfg.d_model))
        self.r_proj, self.k_proj, self.v_proj, self.g_proj = (
            nn.Linear(cfg.d_model, width, bias=cfg.bias) for _ in range(4))
        self.o_proj = nn.Linear(width, cfg.d_model, bias=cfg.bias)
        self.decay = nn.Parameter(torch.zeros(width))
        self.bonus = nn.Parameter(torch.ones(width))
        self.out_norm = build_norm(cfg.norm, cfg.head_dim, cfg.norm_eps)

    @torch.no_grad()
    def init_own_parameters(self) -> None:
        """RWKV-style spread (deterministic): decay rates from fast (e⁻¹) to slow (e⁻⁶) across the
        channels, slower in deeper layers; token-shift shares rising across the channels."""
        depth = self.layer / max(self.n_layer - 1, 1)
        channel = torch.linspace(0, 1, self.decay.numel())
        self.decay.copy_(-6 + 5 * (1 - channel) ** (0.7 + 1.3 * depth))
        share = torch.arange(self.shift_mix.numel() // 4) / (self.shift_mix.numel() // 4)
        power = 1 - self.layer / self.n_layer
        self.shift_mix.copy_(torch.cat((share ** (0.5 * power), share ** power, share ** power,
                                        share ** (0.5 * power))))

    def forward(self, x: torch.Tensor, inputs: AttentionInputs) -> torch.Tensor:
        batch, seq_len, d_model = x.shape
        cache: Optional[KVCache] = inputs.cache
        past = cache.recurrent_state(self.layer) if cache is not None else None
        last_x, state = past if past is not None else (None, None)
        shifted = token_shift(x, last_x, inputs.segment_starts)
        share = self.shift_mix.view(4, 1, 1, d_model)
        mixed = shifted + (x - shifted) * share     # [4, batch, seq, d_model]: inputs of r, k, v, g
        r, k, v = (self.heads(proj(h)) for proj, h in zip((self.r_proj, self.k_proj, self.v_proj), mixed))
        log_w = -self.decay.float().exp().clamp(max=MAX_DECAY_RATE).view(self.n_head, self.head_dim)
        u = self.bonus.float().view(self.n_head, self.head_dim)
        # decay powers and long sums need float32 even under bf16 autocast
        with torch.autocast(x.device.type, enabled=False):
            y, state = decaying_state_scan(r.float(), k.float(), v.float(), log_w, u, state,
                                           inputs.segment_starts)
        if cache is not None:
            cache.set_recurrent_state(self.layer, (x[:, -1], state), seq_len)
        y = self.out_norm(y.transpose(1, 2)).reshape(batch, seq_len, -1).to(x.dtype)
        return self.o_proj(y * F.silu(self.g_proj(mixed[3])))

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        """[batch, seq, width] → [batch, heads, seq, head_dim]."""
        return t.view(t.shape[0], t.shape[1], self.n_head, self.head_dim).transpose(1, 2)


def token_shift(x: torch.Tensor, last_x: Optional[torch.Tensor],
                starts: Optional[torch.Tensor]) -> torch.Tensor:
    """x_{t−1} for every t: the cached last input (or zeros) before the first token, zeros where a
    segment starts."""
    first = last_x[:, None] if last_x is not None else x.new_zeros(x.shape[0], 1, x.shape[2])
    shifted = torch.cat((first.to(x.dtype), x[:, :-1]), dim=1)
    return shifted if starts is None else shifted.masked_fill(starts[..., None], 0.0)


def segment_starts(key_segments: Optional[torch.Tensor], past: int) -> Optional[torch.Tensor]:
    """[batch, T] True where a new token's segment differs from the token before it (cached or
    new); None without segments. The very first token of an empty cache has no state to reset."""
    if key_segments is None:
        return None
    new = key_segments[:, past:]
    before = key_segments[:, past - 1:-1] if past else torch.cat((new[:, :1], new[:, :-1]), dim=1)
    return new != before


def decaying_state_scan(r, k, v, log_w, u, state, starts):
    """The recurrence of the module doc over r, k, v [batch, heads, T, head_dim] from `state`
    (None: zeros) → (y [batch, heads, T, head_dim], the state after the last token). The
    T mod CHUNK leading tokens form one short chunk, the rest full chunks."""
    lead = r.shape[2] % CHUNK
    outputs = []
    for lo, hi, size in ((0, lead, lead), (lead, r.shape[2], CHUNK)):
        if hi > lo:
            part = None if starts is None else starts[:, lo:hi]
            y, state = chunk_scan(r[:, :, lo:hi], k[:, :, lo:hi], v[:, :, lo:hi], log_w, u, state, part, size)
            outputs.append(y)
    return torch.cat(outputs, dim=2), state


def chunk_scan(r, k, v, log_w, u, state, starts, size: int):
    """`decaying_state_scan` for T a multiple of `size`. Inside a chunk (local t, i < size):
    y_t = Σ_{i<t} (r_t·w^{t−1−i}·k_i) v_i + (r_t·u·k_t) v_t + (r_t·w^t)·S_entry, with w^{t−1−i}
    split as w^{t−c}·w^{c−1−i} (c = size/2) so the first sum is one matrix product."""
    batch, n_head, seq_len, head_dim = r.shape
    r, k, v = (t.reshape(batch, n_head, seq_len // size, size, head_dim) for t in (r, k, v))
    t = torch.arange(size, device=r.device, dtype=r.dtype)[:, None]
    centre = size // 2
    log_w = log_w[:, None, None, :]                              # [heads, 1, 1, head_dim]
    scores = (r * (log_w * (t - centre)).exp()) @ (k * (log_w * (centre - 1 - t)).exp()).transpose(-1, -2)
    scores = scores.tril(-1) + torch.diag_embed((r * u[:, None, None, :] * k).sum(-1))
    r_entry, k_exit = r * (log_w * t).exp(), k * (log_w * (size - 1 - t)).exp()
    carry = None
    if starts is not None:
        # run index inside each chunk: 0 until the first segment start, +1 at each start
        run = starts.reshape(batch, 1, -1, size).long().cumsum(-1)
        scores = scores * (run[..., :, None] == run[..., None, :])
        r_entry = r_entry * (run == 0)[..., None]
        k_exit = k_exit * (run == run[..., -1:])[..., None]
        carry = (run[..., -1] == 0)[..., None, None]             # [batch, 1, chunks, 1, 1]
    chunk_kv = k_exit.transpose(-1, -2) @ v                      # [batch, heads, chunks, K, K]
    decay_chunk = (log_w[:, 0] * size).exp().transpose(-1, -2)   # [heads, K, 1]: w^size per row of S
    if state is None:
        state = r.new_zeros(batch, n_head, head_dim, head_dim)
    entries = []
    for n in range(chunk_kv.shape[2]):
        entries.append(state)
        kept = decay_chunk * state
        state = (kept if carry is None else kept * carry[:, :, n]) + chunk_kv[:, :, n]
    y = scores @ v + r_entry @ torch.stack(entries, dim=2)
    return y.reshape(batch, n_head, seq_len, head_dim), state
