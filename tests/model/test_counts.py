"""Parameter counts equal the built module's, for every switch; FLOP estimates follow 6N + attention."""

from __future__ import annotations

import pytest

from .test_transformer import SWITCHES
from .tiny_models import tiny, torch  # noqa: F401

from jaforge.model import Transformer, count_params, estimate_flops  # noqa: E402


@pytest.mark.parametrize("switches", SWITCHES + [dict(position="learned", tie_embeddings=False),
                                                 dict(norm_placement="post", norm="layernorm", bias=True)],
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_count_params_equals_the_module(switches):
    cfg = tiny(**switches)
    model = Transformer(cfg)
    counts = count_params(cfg)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] == counts["embedding"] + counts["non_embedding"]
    embedding = {id(model.tok_embeddings.weight), id(model.lm_head.weight)}
    embedding |= {id(p) for p in model.position.parameters()}
    assert counts["embedding"] == sum(p.numel() for p in model.parameters() if id(p) in embedding)


def test_embedding_counts_the_untied_head_and_the_position_table():
    base = count_params(tiny())
    assert base["embedding"] == 64 * 32
    assert count_params(tiny(tie_embeddings=False))["embedding"] == 2 * 64 * 32
    assert count_params(tiny(position="learned"))["embedding"] == 64 * 32 + 32 * 32
    assert count_params(tiny(tie_embeddings=False))["non_embedding"] == base["non_embedding"]


def test_flops_are_six_n_plus_the_attention_term():
    cfg = tiny(tie_embeddings=False, d_ff=96)
    # per layer: q,k,v,o 4·32·32 + swiglu 3·32·96; head 64·32
    n = 2 * (4 * 32 * 32 + 3 * 32 * 96) + 64 * 32
    flops = estimate_flops(cfg, seq_len=16)
    assert flops["forward_per_token"] == 2 * n + 4 * 2 * 4 * 8 * 16
    assert flops["train_per_token"] == 6 * n + 12 * 2 * 4 * 8 * 16


def test_flops_count_only_routed_experts_and_the_window():
    dense, moe = tiny(), tiny(moe_experts=8, moe_top_k=2)
    ffn = 3 * 32 * dense.d_ff
    extra = 2 * 2 * (ffn + 32 * 8)           # forward: 2 layers × (one more expert + router)
    assert estimate_flops(moe, 16)["forward_per_token"] == estimate_flops(dense, 16)["forward_per_token"] + extra
    windowed = estimate_flops(tiny(sliding_window=4), 16)["forward_per_token"]
    assert estimate_flops(dense, 16)["forward_per_token"] - windowed == 4 * 2 * 4 * 8 * (16 - 4)


def test_flops_of_the_recurrent_mixer_replace_the_context_by_the_state():
    cfg = tiny(mixer="rwkv", tie_embeddings=False, d_ff=96)
    # per layer: r, k, v, g, o 5·32·32 + swiglu 3·32·96; head 64·32; state 4·n_head·head_dim²
    n = 2 * (5 * 32 * 32 + 3 * 32 * 96) + 64 * 32
    for seq_len in (16, 1024):
        assert estimate_flops(cfg, seq_len)["forward_per_token"] == 2 * n + 4 * 2 * 4 * 8 * 8
