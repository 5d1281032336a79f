"""Exact parameter counts and FLOP estimates from a `ModelConfig`, without building the model.

    count_params(cfg)            {"total", "embedding", "non_embedding"}  (equals the module's count)
    estimate_flops(cfg, seq_len) {"forward_per_token", "train_per_token"}

"embedding" is the token embedding, the learned position table (if any) and the output head when
it is untied: the parameters that are lookups or scale with the vocabulary (Kaplan et al. 2020
leave them out of N). FLOPs count matrix multiplies as 2 per multiply-add: 2·N_active for the
projections, feed-forwards (only the top-k experts of a MoE) and the output head, plus
4·n_layer·n_head·head_dim·context for the attention scores and the weighted sum (PaLM, appendix B;
context = seq_len, or the sliding window when shorter). A recurrent mixer (mixer="rwkv") has
r, k, v, gate and output projections instead, and 4·n_layer·n_head·head_dim² for updating and
reading its head_dim × head_dim state per head (the state takes the place of the context; the
chunked training form does the same work rearranged, plus small in-chunk products). Training is
3× forward (backward = 2×).
"""

from __future__ import annotations

from jaforge.model.config import GATED_ACTIVATIONS, ModelConfig


def norm_params(cfg: ModelConfig, dim: int) -> int:
    return 2 * dim if cfg.norm == "layernorm" else dim


def attention_params(cfg: ModelConfig) -> int:
    q_width, kv_width = cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim
    weights = cfg.d_model * (2 * q_width + 2 * kv_width)
    biases = (q_width + 2 * kv_width + cfg.d_model) if cfg.bias else 0
    qk_norms = 2 * norm_params(cfg, cfg.head_dim) if cfg.qk_norm else 0
    return weights + biases + qk_norms


def recurrence_params(cfg: ModelConfig) -> int:
    """The RWKV-style time mix: r, k, v, g, o projections, token-shift shares (4·d_model), decay and
    bonus (one per channel) and the per-head output norm."""
    width = cfg.n_head * cfg.head_dim
    biases = (4 * width + cfg.d_model) if cfg.bias else 0
    return 5 * cfg.d_model * width + biases + 4 * cfg.d_model + 2 * width + norm_params(cfg, cfg.head_dim)


def mixer_params(cfg: ModelConfig) -> int:
    return attention_params(cfg) if cfg.mixer == "attention" else recurrence_params(cfg)


def feedforward_params(cfg: ModelConfig) -> int:
    """One dense feed-forward (one expert of a MoE)."""
    matrices = 3 if cfg.activation in GATED_ACTIVATIONS else 2
    biases = ((matrices - 1) * cfg.d_ff + cfg.d_model) if cfg.bias else 0
    return matrices * cfg.d_model * cfg.d_ff + biases


def block_params(cfg: ModelConfig, layer: int) -> int:
    norms = (4 if cfg.norm_placement == "sandwich" else 2) * norm_params(cfg, cfg.d_model)
    if cfg.is_moe_layer(layer):
        ffn = cfg.moe_experts * feedforward_params(cfg) + cfg.d_model * cfg.moe_experts
    else:
        ffn = feedforward_params(cfg)
    return norms + mixer_params(cfg) + ffn


def embedding_params(cfg: ModelConfig) -> int:
    table = cfg.vocab_size * cfg.d_model
    positions = cfg.max_seq_len * cfg.d_model if cfg.position == "learned" else 0
    head = 0 if cfg.tie_embeddings else table
    return table + positions + head


def count_params(cfg: ModelConfig) -> dict[str, int]:
    """Exact parameter counts: total, embedding (see module doc) and the rest."""
    final_norm = 0 if cfg.norm_placement == "post" else norm_params(cfg, cfg.d_model)
    non_embedding = sum(block_params(cfg, i) for i in range(cfg.n_layer)) + final_norm
    embedding = embedding_params(cfg)
    return {"total": embedding + non_embedding, "embedding": embedding, "non_embedding": non_embedding}


def active_matmul_params(cfg: ModelConfig) -> int:
    """Weights multiplied per token: projections, the routed experts' feed-forwards, routers and
    the output head (norms, biases and embedding lookups are left out)."""
    q_width, kv_width = cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim
    attention = cfg.d_model * (2 * q_width + 2 * kv_width)
    if cfg.mixer != "attention":
        attention = 5 * cfg.d_model * q_width
    matrices = 3 if cfg.activation in GATED_ACTIVATIONS else 2
    dense = matrices * cfg.d_model * cfg.d_ff
    total = cfg.vocab_size * cfg.d_model
    for layer in range(cfg.n_layer):
        ffn = dense
        if cfg.is_moe_layer(layer):
            ffn = cfg.moe_top_k * dense + cfg.d_model * cfg.moe_experts
        total += attention + ffn
    return total


def estimate_flops(cfg: ModelConfig, seq_len: int) -> dict[str, int]:
    """Forward and training FLOPs per token for sequences of `seq_len` tokens."""
    context = min(seq_len, cfg.sliding_window or seq_len)
    if cfg.mixer != "attention":
        context = cfg.head_dim
    attention = 4 * cfg.n_layer * cfg.n_head * cfg.head_dim * context
    forward = 2 * active_matmul_params(cfg) + attention
    return {"forward_per_token": forward, "train_per_token": 3 * forward}
