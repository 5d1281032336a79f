"""The jaforge decoder: one configurable decoder-only transformer, read top to bottom.

    from jaforge.model import ModelConfig, Transformer
    model = Transformer(ModelConfig(vocab_size=32000, n_layer=4, d_model=256, n_head=4))
    out = model(input_ids, labels=input_ids)      # out.logits [B, T, V], out.loss (shifted inside)

Every architecture switch of `ModelConfig` is routed through a registered layer module
(`jaforge.model.layers`): the token mixer (attention or a recurrence), the norm type, the
feed-forward (activation or MoE), the position encoding and the init scheme. Module names follow
the Llama layout (q_proj, gate_proj, …) so `jaforge.model.hf` maps weights to Hugging Face by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.model.cache import KVCache
from jaforge.model.config import ModelConfig
from jaforge.model.loss import IGNORE_INDEX, cross_entropy, linear_cross_entropy
from jaforge.model.layers import (AttentionInputs, MoEFeedForward, attention_mask, build_feedforward,
                                  build_mixer, build_norm, build_position, init_weights, segment_starts)


@dataclass
class ModelOutput:
    logits: Optional[torch.Tensor]
    """[batch, seq, vocab] next-token logits; None from `forward(…, return_logits=False)`."""
    loss: Optional[torch.Tensor] = None
    """ce_loss + aux_loss; None without labels."""
    aux_loss: Optional[torch.Tensor] = None
    """z-loss + MoE load-balancing loss (0 when both are off)."""
    ce_loss: Optional[torch.Tensor] = None
    """Mean next-token cross-entropy alone (the validation loss); None without labels."""
    hidden: Optional[torch.Tensor] = None
    """[batch, seq, d_model] final hidden states, from `forward(…, return_hidden=True)` only."""


class Block(nn.Module):
    """One transformer block: the token mixer (`attn`: attention, or the recurrence that `mixer`
    names) then the feed-forward, each a residual branch whose norms sit where `norm_placement`
    says (pre, post or sandwich)."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.placement = cfg.norm_placement
        self.branch_scale = cfg.branch_scale
        self.attn_norm = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps)
        self.attn = build_mixer(cfg, layer)
        self.ffn_norm = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps)
        if cfg.is_moe_layer(layer):
            self.ffn = MoEFeedForward(cfg.d_model, cfg.d_ff, cfg.bias, cfg.activation,
                                      cfg.moe_experts, cfg.moe_top_k)
        else:
            self.ffn = build_feedforward(cfg.activation, cfg.d_model, cfg.d_ff, cfg.bias)
        sandwich = cfg.norm_placement == "sandwich"
        self.attn_post_norm = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps) if sandwich else None
        self.ffn_post_norm = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps) if sandwich else None
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()

    def residual(self, x: torch.Tensor, branch, norm: nn.Module, post_norm: Optional[nn.Module]):
        if self.placement == "post":
            return norm(x + self.scaled(branch(x)))
        out = branch(norm(x))
        if post_norm is not None:
            out = post_norm(out)
        return x + self.scaled(out)

    def scaled(self, out: torch.Tensor) -> torch.Tensor:
        """Dropout and residual scaling of a branch's output (skipped when they are no-ops,
        which saves two passes over the activations per branch)."""
        out = self.drop(out)
        return out if self.branch_scale == 1.0 else out * self.branch_scale

    def forward(self, x: torch.Tensor, inputs: AttentionInputs) -> torch.Tensor:
        x = self.residual(x, lambda h: self.attn(h, inputs), self.attn_norm, self.attn_post_norm)
        return self.residual(x, self.ffn, self.ffn_norm, self.ffn_post_norm)


class Transformer(nn.Module):
    """Token embedding → position encoding → n_layer blocks → final norm → output head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.position = build_position(cfg)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        # post-norm blocks already end in a norm, so only pre/sandwich need a final one
        self.norm_f = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps) \
            if cfg.norm_placement != "post" else nn.Identity()
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.tok_embeddings.weight
        init_weights(self, cfg)

    def forward(self, input_ids: torch.Tensor, labels: Optional[torch.Tensor] = None, *,
                position_ids: Optional[torch.Tensor] = None, segment_ids: Optional[torch.Tensor] = None,
                cache: Optional[KVCache] = None, return_logits: bool = True,
                logits_to_keep: int = 0, return_hidden: bool = False) -> ModelOutput:
        """`input_ids` [B, T]; `labels` [B, T] (−100: ignored) turn on the losses. Packed examples:
        `segment_ids` [B, T] keep attention inside each example and `position_ids` [B, T] restart
        its positions at 0. `cache` holds earlier tokens' keys/values: the new tokens attend to
        them and their positions continue after them (unless `position_ids` say otherwise).
        `return_logits=False` with labels computes the output head and its loss chunk by chunk,
        never holding the [B, T, V] logits (the trainers' memory saver; `logits` is then None).
        `logits_to_keep=n` (without labels) computes the last n positions' logits only, as in
        transformers: scoring and generation read the last position of a prompt, not all of it.
        `return_hidden=True` (without labels) returns the final hidden states instead of logits,
        for a loss that runs the head at some positions only; through `forward`, so that a
        torch.compile wrapper still compiles the body."""
        h = self.hidden_states(input_ids, position_ids=position_ids, segment_ids=segment_ids, cache=cache)
        if return_hidden and labels is None:
            return ModelOutput(logits=None, hidden=h)
        if labels is not None and not return_logits and self.can_fuse_head():
            return self.fused_losses(h, labels)
        if labels is None:
            return ModelOutput(logits=self.lm_head(h[:, -logits_to_keep:] if logits_to_keep else h))
        return self.losses(self.lm_head(h), labels)

    def hidden_states(self, input_ids: torch.Tensor, *, position_ids: Optional[torch.Tensor] = None,
                      segment_ids: Optional[torch.Tensor] = None,
                      cache: Optional[KVCache] = None) -> torch.Tensor:
        """The final normalised hidden states [B, T, d_model] that the output head reads (for
        losses that need the head at some positions only, such as sft's response tokens)."""
        inputs = self.attention_inputs(input_ids, position_ids, segment_ids, cache)
        h = self.drop(self.position.embed(self.tok_embeddings(input_ids), inputs.positions))
        for block in self.blocks:
            h = block(h, inputs)
        return self.norm_f(h)

    def can_fuse_head(self) -> bool:
        """The fused head reads `lm_head.weight` directly: a plain linear layer (not one wrapped
        by LoRA) with a plain tensor, outside torch.compile (which fuses the plain loss itself)."""
        return (type(self.lm_head) is nn.Linear and type(self.lm_head.weight.data) is torch.Tensor
                and not torch.compiler.is_compiling())

    def attention_inputs(self, input_ids: torch.Tensor, position_ids: Optional[torch.Tensor],
                         segment_ids: Optional[torch.Tensor], cache: Optional[KVCache]) -> AttentionInputs:
        """Positions and the attention mask of one forward pass, shared by every layer."""
        seq_len, device = input_ids.shape[1], input_ids.device
        past = cache.length if cache is not None else 0
        positions = position_ids
        if positions is None and past:
            positions = torch.arange(past, past + seq_len, device=device)
        key_segments = cache.key_segments(segment_ids, seq_len) if cache is not None else segment_ids
        if self.config.mixer != "attention":
            # a recurrence needs no mask: it is causal by construction and resets at segment starts
            return AttentionInputs(self.position, positions, None, False, cache,
                                   segment_starts(key_segments, past))
        query_index = torch.arange(past, past + seq_len, device=device)
        key_index = torch.arange(past + seq_len, device=device)
        bias = self.position.attention_bias(query_index, key_index)
        if bias is None and self.config.sliding_window is None and key_segments is None:
            # plain causal attention: SDPA's is_causal fast path, or no mask for one new token
            if past == 0 or seq_len == 1:
                return AttentionInputs(self.position, positions, None, past == 0, cache)
        query_segments = None if key_segments is None else key_segments[:, past:]
        mask = attention_mask(query_index, key_index, self.config.sliding_window, bias,
                              query_segments, key_segments)
        return AttentionInputs(self.position, positions, mask, False, cache)

    def losses(self, logits: torch.Tensor, labels: torch.Tensor) -> ModelOutput:
        """Next-token cross-entropy (labels shifted here) plus the z-loss and MoE balancing terms."""
        # shift the labels, not the logits: slicing [B, T, V] logits would copy them
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX).reshape(-1)
        flat_logits = logits.reshape(-1, logits.shape[-1]).float()
        ce_loss = cross_entropy(flat_logits, targets)
        aux_loss = torch.zeros((), device=logits.device)
        if self.config.z_loss > 0:
            valid = targets != IGNORE_INDEX
            log_z = flat_logits[valid].logsumexp(dim=-1)
            aux_loss = aux_loss + self.config.z_loss * log_z.square().mean()
        if self.config.moe_experts > 0:
            moe = sum(b.ffn.aux_loss for b in self.blocks if isinstance(b.ffn, MoEFeedForward))
            aux_loss = aux_loss + self.config.moe_aux_loss * moe
        return ModelOutput(logits=logits, loss=ce_loss + aux_loss, aux_loss=aux_loss, ce_loss=ce_loss)

    def fused_losses(self, hidden: torch.Tensor, labels: torch.Tensor) -> ModelOutput:
        """`losses` without the logits: the head and cross-entropy (+ z-loss) fused."""
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX).reshape(-1)
        loss, aux_loss = linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]), self.lm_head.weight,
                                              targets, self.config.z_loss)
        if self.config.moe_experts > 0:
            moe = sum(b.ffn.aux_loss for b in self.blocks if isinstance(b.ffn, MoEFeedForward))
            loss = loss + self.config.moe_aux_loss * moe
            aux_loss = aux_loss + self.config.moe_aux_loss * moe
        return ModelOutput(logits=None, loss=loss, aux_loss=aux_loss, ce_loss=(loss - aux_loss).detach())

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimiser groups: weight decay on matrices, none on norms, biases and embeddings."""
        embeddings = {id(self.tok_embeddings.weight)}
        embeddings |= {id(p) for p in self.position.parameters()}
        decay, no_decay = [], []
        for param in self.parameters():
            if not param.requires_grad:
                continue
            (decay if param.ndim >= 2 and id(param) not in embeddings else no_decay).append(param)
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
                 top_k: Optional[int] = None, eos_id: Optional[int] = None) -> torch.Tensor:
        """Continue `input_ids` [B, T] by up to `max_new_tokens` tokens: greedy when temperature is
        0, else sampled from the softmax at that temperature (over the top_k logits when given).
        Keys and values (a recurrent mixer's state) are cached; a sequence that outgrows
        max_seq_len keeps its last max_seq_len tokens and starts a fresh cache. Stops once every
        row has produced `eos_id`."""
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        cache, fresh = KVCache(), input_ids[:, -self.config.max_seq_len:]
        for _ in range(max_new_tokens):
            logits = self(fresh, cache=cache, logits_to_keep=1).logits[:, -1].float()
            next_id = sample_next(logits, temperature, top_k)
            input_ids = torch.cat((input_ids, next_id[:, None]), dim=1)
            fresh = next_id[:, None]
            if cache.length + 1 > self.config.max_seq_len:
                cache, fresh = KVCache(), input_ids[:, -self.config.max_seq_len:]
            if eos_id is not None:
                finished |= next_id == eos_id
                if finished.all():
                    break
        return input_ids

    def num_params(self) -> int:
        """Parameters of the module (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


def sample_next(logits: torch.Tensor, temperature: float, top_k: Optional[int]) -> torch.Tensor:
    """The next token of each row: the argmax at temperature 0, else a softmax sample."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1)[:, 0]
