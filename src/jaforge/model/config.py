"""The decoder's configuration: every architecture switch the model understands, documented in place.

`ModelConfig` imports no torch, so stage configs (pretrain, explore) can embed it and print it with
`jaforge <stage> --help` on machines without torch. The names of norms, feed-forwards, position
encodings, token mixers and init schemes are the keys of the registries in `jaforge.model.layers`
(a test keeps the two lists equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Union

from annotated_types import Ge, Gt, Lt

from jaforge.errors import ConfigError

Norm = Literal["rmsnorm", "layernorm"]
Activation = Literal["swiglu", "geglu", "gelu", "relu", "relu2", "silu"]
Position = Literal["rope", "alibi", "learned", "none"]
NormPlacement = Literal["pre", "post", "sandwich"]
InitScheme = Literal["normal", "scaled", "small"]
Mixer = Literal["attention", "rwkv"]

GATED_ACTIVATIONS = ("swiglu", "geglu")
Positive = Annotated[int, Ge(1)]


@dataclass
class ModelConfig:
    vocab_size: Union[Positive, Literal["auto"]] = 32000
    """Rows of the token embedding (and of the output head); `auto` (pretrain): the token data's
    vocabulary (plus UL2's sentinel rows with objective ul2), read from its meta.json."""
    n_layer: Positive = 4
    """Number of transformer blocks."""
    d_model: Positive = 256
    """Width of the residual stream."""
    n_head: Positive = 4
    """Query heads per attention layer."""
    n_kv_head: Optional[Positive] = None
    """Key/value heads: None or n_head = multi-head (MHA), 1 = multi-query (MQA), between = grouped
    (GQA); must divide n_head."""
    head_dim: Optional[Positive] = None
    """Width of one attention head; None (null) = derived: d_model // n_head."""
    d_ff: Optional[Positive] = None
    """Hidden width of the feed-forward; None (null) = derived: 4·d_model, or 8/3·d_model for gated
    activations (swiglu, geglu) so the parameter count matches, rounded up to a multiple of
    `ffn_multiple_of`."""
    ffn_multiple_of: Positive = 32
    """The default d_ff is rounded up to a multiple of this (hardware-friendly widths)."""
    max_seq_len: Positive = 1024
    """Longest sequence the model is built for (size of a learned position table; RoPE/ALiBi
    extrapolate but are only trained up to here)."""
    activation: Activation = "swiglu"
    """Feed-forward: swiglu, geglu (gated), gelu, relu, relu2 (squared ReLU), silu."""
    norm: Norm = "rmsnorm"
    """Normalisation layer: rmsnorm or layernorm."""
    norm_eps: Annotated[float, Gt(0)] = 1e-5
    """Epsilon of every norm."""
    norm_placement: NormPlacement = "pre"
    """pre: x + f(norm(x)); post: norm(x + f(x)) (original transformer); sandwich: x + norm(f(norm(x)))."""
    position: Position = "rope"
    """Position encoding: rope (rotary), alibi (linear attention biases), learned (absolute table),
    none (causal masking alone, NoPE)."""
    rope_base: Annotated[float, Gt(0)] = 10000.0
    """RoPE frequency base θ (Llama 2: 1e4, Llama 3: 5e5)."""
    rope_scale: Annotated[float, Gt(0)] = 1.0
    """Linear RoPE position interpolation (Chen et al. 2023): positions are divided by this, so a
    model trained at L tokens runs at rope_scale·L tokens with the angles it knows (HF
    `rope_scaling: {rope_type: linear, factor}`); 1 = plain RoPE."""
    qk_norm: bool = False
    """Normalise queries and keys per head (with the `norm` type) before the dot product."""
    sliding_window: Optional[Positive] = None
    """Each token attends to at most this many latest tokens (itself included); None = full causal."""
    mixer: Mixer = "attention"
    """Token mixer of every block: attention (causal softmax self-attention), or rwkv (an RWKV-style
    recurrence: token shift, per-channel learned decay, one head_dim×head_dim state per head; see
    jaforge.model.layers.recurrence). rwkv orders tokens by itself, so it ignores rope and alibi (a
    learned position table is still added to the embeddings); it refuses the attention-only
    switches sliding_window, qk_norm and n_kv_head ≠ n_head."""
    bias: bool = False
    """Biases in the attention and feed-forward projections."""
    tie_embeddings: bool = True
    """Share the token embedding with the output head."""
    dropout: Annotated[float, Ge(0), Lt(1)] = 0.0
    """Dropout on embeddings, attention weights and each residual branch (training only)."""
    init: InitScheme = "scaled"
    """Weight init: normal (every matrix N(0, init_std)); scaled (as normal, but the residual
    output projections get init_std/√(2·n_layer), GPT-2); small (small-init √(2/(5·d_model)) and
    output projections 2/(n_layer·√d_model), GPT-NeoX)."""
    init_std: Annotated[float, Gt(0)] = 0.02
    """Standard deviation for the normal and scaled schemes."""
    residual_scale: Annotated[float, Gt(0)] = 1.0
    """Each branch's output is multiplied by this before it is added to the residual stream."""
    residual_scale_by_depth: bool = False
    """Also multiply each branch by 1/√(2·n_layer) (depth-scaled residuals)."""
    z_loss: Annotated[float, Ge(0)] = 0.0
    """Coefficient of the z-loss, mean(log Z)² of the output softmax (PaLM uses 1e-4); 0 = off."""
    moe_experts: Annotated[int, Ge(0)] = 0
    """Experts per mixture-of-experts feed-forward; 0 = dense feed-forward."""
    moe_top_k: Positive = 2
    """Experts each token is routed to."""
    moe_every: Positive = 1
    """Every k-th block (the k-th, 2k-th, …) has the MoE feed-forward; the others are dense."""
    moe_aux_loss: Annotated[float, Ge(0)] = 0.01
    """Coefficient of the Switch-Transformer load-balancing loss E·Σ f_i·P_i per MoE layer."""

    def __post_init__(self) -> None:
        if self.n_head < 1 or self.d_model < 1:  # ranges are checked by the config loader; code may skip it
            raise ConfigError(f"n_head and d_model must be >= 1, got {self.n_head} and {self.d_model}")
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.head_dim is None:
            if self.d_model % self.n_head:
                raise ConfigError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}; "
                                 "set head_dim explicitly")
            self.head_dim = self.d_model // self.n_head
        if self.d_ff is None:
            self.d_ff = default_d_ff(self.d_model, self.activation, self.ffn_multiple_of)
        self._check()

    def _check(self) -> None:
        if self.n_head % self.n_kv_head:
            raise ConfigError(f"n_kv_head={self.n_kv_head} must divide n_head={self.n_head}")
        if self.position == "rope" and self.mixer == "attention" and self.head_dim % 2:
            raise ConfigError(f"rope needs an even head_dim, got {self.head_dim}")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ConfigError(f"sliding_window must be ≥ 1 or None, got {self.sliding_window}")
        if self.moe_experts and not 1 <= self.moe_top_k <= self.moe_experts:
            raise ConfigError(f"moe_top_k={self.moe_top_k} must be in 1..moe_experts={self.moe_experts}")
        if self.moe_every < 1:
            raise ConfigError(f"moe_every must be ≥ 1, got {self.moe_every}")
        if self.mixer != "attention":
            attention_only = {"sliding_window": self.sliding_window is not None, "qk_norm": self.qk_norm,
                              "n_kv_head": self.n_kv_head != self.n_head}
            used = [name for name, on in attention_only.items() if on]
            if used:
                raise ConfigError(f"mixer={self.mixer!r} has no attention; unset the attention-only "
                                 f"switch(es) {', '.join(used)}")

    def is_moe_layer(self, layer: int) -> bool:
        """Whether block `layer` (0-based) has the mixture-of-experts feed-forward."""
        return self.moe_experts > 0 and (layer + 1) % self.moe_every == 0

    @property
    def branch_scale(self) -> float:
        """The multiplier on every residual branch's output."""
        depth = (2 * self.n_layer) ** -0.5 if self.residual_scale_by_depth else 1.0
        return self.residual_scale * depth


def default_d_ff(d_model: int, activation: str, multiple_of: int) -> int:
    """4·d_model, or 8/3·d_model for gated activations, rounded up to `multiple_of`."""
    width = 8 * d_model // 3 if activation in GATED_ACTIVATIONS else 4 * d_model
    return -(-width // multiple_of) * multiple_of
