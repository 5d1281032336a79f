"""The jaforge decoder: one configurable decoder-only transformer, read top to bottom.

    from jaforge.model import ModelConfig, Transformer
    model = Transformer(ModelConfig(vocab_size=32000, n_layer=4, d_model=256, n_head=4))
    out = model(input_ids, labels=input_ids)      # out.logits [B, T, V], out.loss (shifted inside)

Every architecture switch of `ModelConfig` is routed through a registered layer module
(`jaforge.model.layers`): the norm type, the feed-forward (activation or MoE), the position
encoding and the init scheme. Module names follow the Llama layout (q_proj, gate_proj, …) so
`jaforge.model.hf` maps weights to Hugging Face by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from jaforge.model.config import ModelConfig
from jaforge.model.layers import (Attention, MoEFeedForward, PositionEncoding, attention_mask,
                                  build_feedforward, build_norm, build_position, init_weights)

IGNORE_INDEX = -100


@dataclass
class ModelOutput:
    logits: torch.Tensor
    """[batch, seq, vocab] next-token logits."""
    loss: Optional[torch.Tensor] = None
    """ce_loss + aux_loss; None without labels."""
    aux_loss: Optional[torch.Tensor] = None
    """z-loss + MoE load-balancing loss (0 when both are off)."""
    ce_loss: Optional[torch.Tensor] = None
    """Mean next-token cross-entropy alone (the validation loss); None without labels."""


class Block(nn.Module):
    """One transformer block: attention then feed-forward, each a residual branch whose norms sit
    where `norm_placement` says (pre, post or sandwich)."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.placement = cfg.norm_placement
        self.branch_scale = cfg.branch_scale
        self.attn_norm = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
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

    def forward(self, x: torch.Tensor, position: PositionEncoding,
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = self.residual(x, lambda h: self.attn(h, position, mask), self.attn_norm, self.attn_post_norm)
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

    def forward(self, input_ids: torch.Tensor, labels: Optional[torch.Tensor] = None) -> ModelOutput:
        seq_len = input_ids.shape[1]
        h = self.drop(self.position.embed(self.tok_embeddings(input_ids)))
        mask = attention_mask(seq_len, self.config.sliding_window,
                              self.position.attention_bias(seq_len, input_ids.device), input_ids.device)
        for block in self.blocks:
            h = block(h, self.position, mask)
        logits = self.lm_head(self.norm_f(h))
        if labels is None:
            return ModelOutput(logits=logits)
        return self.losses(logits, labels)

    def losses(self, logits: torch.Tensor, labels: torch.Tensor) -> ModelOutput:
        """Next-token cross-entropy (labels shifted here) plus the z-loss and MoE balancing terms."""
        # shift the labels, not the logits: slicing [B, T, V] logits would copy them
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX).reshape(-1)
        flat_logits = logits.reshape(-1, logits.shape[-1]).float()
        ce_loss = F.cross_entropy(flat_logits, targets, ignore_index=IGNORE_INDEX)
        aux_loss = torch.zeros((), device=logits.device)
        if self.config.z_loss > 0:
            valid = targets != IGNORE_INDEX
            log_z = flat_logits[valid].logsumexp(dim=-1)
            aux_loss = aux_loss + self.config.z_loss * log_z.square().mean()
        if self.config.moe_experts > 0:
            moe = sum(b.ffn.aux_loss for b in self.blocks if isinstance(b.ffn, MoEFeedForward))
            aux_loss = aux_loss + self.config.moe_aux_loss * moe
        return ModelOutput(logits=logits, loss=ce_loss + aux_loss, aux_loss=aux_loss, ce_loss=ce_loss)

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
        No key/value cache: each step reruns the last max_seq_len tokens (fine for samples and
        evaluation of small models). Stops early once every row has produced `eos_id`."""
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for _ in range(max_new_tokens):
            logits = self(input_ids[:, -self.config.max_seq_len:]).logits[:, -1].float()
            if temperature <= 0:
                next_id = logits.argmax(dim=-1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                next_id = torch.multinomial(logits.softmax(dim=-1), 1)[:, 0]
            input_ids = torch.cat((input_ids, next_id[:, None]), dim=1)
            if eos_id is not None:
                finished |= next_id == eos_id
                if finished.all():
                    break
        return input_ids

    def num_params(self) -> int:
        """Parameters of the module (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())
