"""The decoder: every switch builds and trains a step; causal masking, GQA/MQA, sliding window,
ALiBi/RoPE, MoE routing and the losses behave as documented."""

from __future__ import annotations

import pytest

from .tiny_models import randomize, tiny, torch

from jaforge.model import ModelConfig, Transformer  # noqa: E402
from jaforge.model.layers import POSITIONS, attention_mask  # noqa: E402
from jaforge.model.layers.positions import alibi_slopes  # noqa: E402

SWITCHES = [
    dict(activation="gelu"), dict(activation="relu"), dict(activation="relu2"), dict(activation="silu"),
    dict(activation="swiglu"), dict(activation="geglu"),
    dict(norm="layernorm"), dict(norm="rmsnorm"),
    dict(norm_placement="pre"), dict(norm_placement="post"), dict(norm_placement="sandwich"),
    dict(position="learned"), dict(position="rope", rope_base=500000.0), dict(position="alibi"),
    dict(position="none"),
    dict(n_kv_head=2), dict(n_kv_head=1), dict(head_dim=16), dict(qk_norm=True),
    dict(qk_norm=True, norm="layernorm"), dict(sliding_window=4), dict(bias=True),
    dict(tie_embeddings=False), dict(dropout=0.1), dict(init="normal"), dict(init="scaled"),
    dict(init="small"), dict(residual_scale=0.5), dict(residual_scale_by_depth=True),
    dict(z_loss=1e-4), dict(moe_experts=4, moe_top_k=2), dict(moe_experts=3, moe_top_k=1, moe_every=2),
    dict(moe_experts=4, activation="gelu", n_kv_head=1, position="alibi", sliding_window=5,
         norm_placement="sandwich", norm="layernorm", qk_norm=True, bias=True, tie_embeddings=False),
    dict(mixer="rwkv"),
    dict(mixer="rwkv", position="learned", norm="layernorm", norm_placement="sandwich", bias=True,
         tie_embeddings=False, moe_experts=2, head_dim=6, dropout=0.1),
]


def ids(n_batch: int = 2, seq_len: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 64, (n_batch, seq_len), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_every_switch_runs_forward_and_backward(switches):
    torch.manual_seed(0)
    model = Transformer(tiny(**switches))
    x = ids()
    out = model(x, labels=x)
    assert out.logits.shape == (2, 12, 64)
    assert torch.isfinite(out.loss) and out.loss > 0
    out.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_switches_change_the_model():
    """Each switch reaches the model: outputs differ from the default under the same seed."""
    x = ids()
    torch.manual_seed(0)
    base = Transformer(tiny()).eval()(x).logits
    for switches in (dict(activation="gelu"), dict(position="alibi"), dict(norm="layernorm"),
                     dict(norm_placement="sandwich"), dict(qk_norm=True), dict(sliding_window=3),
                     dict(residual_scale=0.5), dict(init="small"), dict(rope_base=100.0), dict(mixer="rwkv")):
        torch.manual_seed(0)
        other = Transformer(tiny(**switches)).eval()(x).logits
        assert not torch.allclose(base, other), switches


def test_init_is_deterministic_under_the_seed():
    torch.manual_seed(3)
    a = Transformer(tiny())
    torch.manual_seed(3)
    b = Transformer(tiny())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("switches", [dict(), dict(position="alibi"), dict(position="learned"),
                                      dict(sliding_window=3, n_kv_head=1), dict(moe_experts=4),
                                      dict(norm_placement="post", position="none"), dict(mixer="rwkv"),
                                      dict(mixer="rwkv", position="learned", n_layer=3)])
def test_a_later_token_never_changes_earlier_logits(switches):
    torch.manual_seed(0)
    model = Transformer(tiny(**switches)).eval()
    randomize(model)
    x = ids(1, 21)                       # over one recurrence chunk (16) and a short one
    for t in (3, 6, 17):
        y = x.clone()
        y[0, t:] = (y[0, t:] + 1) % 64
        with torch.no_grad():
            a, b = model(x).logits, model(y).logits
        assert torch.allclose(a[0, :t], b[0, :t], atol=1e-6)
        assert not torch.allclose(a[0, t:], b[0, t:])


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_gqa_and_mqa_shapes(n_kv_head):
    model = Transformer(tiny(n_kv_head=n_kv_head, head_dim=8))
    attn = model.blocks[0].attn
    assert attn.q_proj.weight.shape == (4 * 8, 32)
    assert attn.k_proj.weight.shape == (n_kv_head * 8, 32)
    assert attn.v_proj.weight.shape == (n_kv_head * 8, 32)
    assert attn.o_proj.weight.shape == (32, 4 * 8)
    assert model(ids()).logits.shape == (2, 12, 64)


def test_gqa_equals_mha_with_repeated_key_value_heads():
    torch.manual_seed(0)
    gqa = Transformer(tiny(n_kv_head=2)).eval()
    randomize(gqa)
    mha = Transformer(tiny(n_kv_head=4)).eval()
    state = gqa.state_dict()
    for i in range(2):
        for name in ("k_proj", "v_proj"):
            w = state[f"blocks.{i}.attn.{name}.weight"].view(2, 8, 32)
            state[f"blocks.{i}.attn.{name}.weight"] = w.repeat_interleave(2, dim=0).reshape(32, 32)
    mha.load_state_dict(state)
    x = ids()
    assert torch.allclose(gqa(x).logits, mha(x).logits, atol=1e-5)


def test_sliding_window_sees_only_the_last_tokens():
    torch.manual_seed(0)
    model = Transformer(tiny(n_layer=1, sliding_window=3, position="none")).eval()
    randomize(model)
    x = ids(1, 10)
    y = x.clone()
    y[0, 2] = (y[0, 2] + 1) % 64
    with torch.no_grad():
        a, b = model(x).logits[0], model(y).logits[0]
    changed = [t for t in range(10) if not torch.allclose(a[t], b[t], atol=1e-6)]
    assert changed == [2, 3, 4]          # one layer: token 2 is seen by positions 2..2+window-1


def test_attention_mask_layout():
    index = torch.arange(4)
    allowed = torch.isfinite(attention_mask(index, index, sliding_window=2)[0, 0])
    assert allowed.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    segments = torch.tensor([[0, 0, 1, 1]])
    allowed = torch.isfinite(attention_mask(index, index, None, None, segments, segments)[0, 0])
    assert allowed.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]


def test_alibi_bias_is_linear_in_distance_with_geometric_slopes():
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    assert alibi_slopes(6).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]
    bias = POSITIONS.get("alibi")(tiny(position="alibi")).attention_bias(torch.arange(5), torch.arange(5))
    assert bias.shape == (4, 5, 5)
    assert torch.allclose(bias[0, 4, :4], -alibi_slopes(4)[0] * torch.tensor([4.0, 3, 2, 1]))


def test_rope_scores_depend_only_on_relative_position():
    rope = POSITIONS.get("rope")(tiny(head_dim=8))
    q, k = torch.randn(1, 1, 1, 8).expand(1, 12, 1, 8), torch.randn(1, 1, 1, 8).expand(1, 12, 1, 8)
    rq, rk = rope.rotate(q, k)
    scores = (rq[0, :, 0] @ rk[0, :, 0].T)
    assert torch.allclose(scores[5, 2], scores[9, 6], atol=1e-5)
    assert torch.allclose(rq.norm(dim=-1), q.norm(dim=-1), atol=1e-5)     # a rotation
    assert not torch.allclose(scores[5, 2], scores[5, 4])


def test_moe_routes_each_token_to_top_k_experts_and_balancing_loss_is_positive():
    torch.manual_seed(0)
    model = Transformer(tiny(moe_experts=4, moe_top_k=2, moe_aux_loss=0.1))
    moe = model.blocks[0].ffn
    tokens = torch.randn(20, 32)
    probs, chosen, weights = moe.route(tokens)
    assert chosen.shape == (20, 2) and (chosen[:, 0] != chosen[:, 1]).all()
    assert torch.equal(chosen, probs.topk(2, dim=-1).indices)
    assert torch.allclose(weights.sum(-1), torch.ones(20))
    x = ids()
    out = model(x, labels=x)
    assert out.aux_loss > 0
    assert torch.allclose(out.loss, out.ce_loss + out.aux_loss)
    expected = 0.1 * sum(b.ffn.aux_loss for b in model.blocks)
    assert torch.allclose(out.aux_loss, expected)
    moe(tokens)
    routed_share = torch.bincount(chosen.flatten(), minlength=4) / chosen.numel()
    assert torch.allclose(moe.aux_loss, 4 * (routed_share * probs.mean(0)).sum())


def test_moe_with_one_expert_equals_its_dense_feedforward():
    torch.manual_seed(0)
    moe = Transformer(tiny(moe_experts=1, moe_top_k=1)).eval()
    dense = Transformer(tiny()).eval()
    state = {k.replace("ffn.experts.0.", "ffn."): v for k, v in moe.state_dict().items()
             if "router" not in k}
    dense.load_state_dict(state)
    x = ids()
    assert torch.allclose(moe(x).logits, dense(x).logits, atol=1e-6)


def test_loss_is_shifted_cross_entropy_and_ignores_minus_100():
    torch.manual_seed(0)
    model = Transformer(tiny())
    x = ids()
    labels = x.clone()
    labels[:, :5] = -100
    out = model(x, labels=labels)
    manual = torch.nn.functional.cross_entropy(out.logits[:, 4:-1].reshape(-1, 64), x[:, 5:].reshape(-1))
    assert torch.allclose(out.loss, manual, atol=1e-6)
    assert out.aux_loss == 0 and model(x).loss is None


def test_z_loss_adds_the_squared_log_partition():
    torch.manual_seed(0)
    model = Transformer(tiny(z_loss=1e-2))
    x = ids()
    out = model(x, labels=x)
    log_z = out.logits[:, :-1].logsumexp(-1)
    assert torch.allclose(out.aux_loss, 1e-2 * log_z.square().mean(), atol=1e-6)
    assert torch.allclose(out.loss, out.ce_loss + out.aux_loss)


def test_tied_and_untied_embeddings():
    tied, untied = Transformer(tiny()), Transformer(tiny(tie_embeddings=False))
    assert tied.lm_head.weight is tied.tok_embeddings.weight
    assert untied.lm_head.weight is not untied.tok_embeddings.weight


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    model = Transformer(tiny(dropout=0.5))
    x = ids()
    assert not torch.allclose(model(x).logits, model(x).logits)
    model.eval()
    assert torch.allclose(model(x).logits, model(x).logits)


def test_init_schemes_set_the_documented_std():
    torch.manual_seed(0)
    cfg = tiny(n_layer=8, d_model=64, d_ff=512, init="scaled", init_std=0.05)
    model = Transformer(cfg)
    assert abs(model.blocks[0].ffn.up_proj.weight.std() - 0.05) < 0.005
    assert abs(model.blocks[0].ffn.down_proj.weight.std() - 0.05 / 4) < 0.002
    small = Transformer(ModelConfig(**{**cfg.__dict__, "init": "small"}))
    assert abs(small.blocks[0].attn.q_proj.weight.std() - (2 / (5 * 64)) ** 0.5) < 0.01
    assert abs(small.blocks[0].attn.o_proj.weight.std() - 2 / (8 * 8)) < 0.004


def test_param_groups_leave_norms_biases_and_embeddings_undecayed():
    model = Transformer(tiny(bias=True, position="learned", tie_embeddings=False))
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids_decay = {id(p) for p in decay["params"]}
    assert id(model.blocks[0].attn.q_proj.weight) in ids_decay
    assert id(model.lm_head.weight) in ids_decay
    for p in (model.tok_embeddings.weight, model.position.weight, model.blocks[0].attn_norm.weight,
              model.blocks[0].attn.q_proj.bias):
        assert id(p) not in ids_decay
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_learned_positions_refuse_sequences_longer_than_the_table():
    with pytest.raises(ValueError, match="max_seq_len"):
        Transformer(tiny(position="learned", max_seq_len=8))(ids(1, 9))


def test_sampling_respects_top_k_and_eos():
    torch.manual_seed(0)
    model = Transformer(tiny()).eval()
    randomize(model)
    prompt = ids(4, 3)
    with torch.no_grad():
        allowed = model(prompt).logits[:, -1].topk(2, dim=-1).indices
    sampled = model.generate(prompt, max_new_tokens=1, temperature=5.0, top_k=2)
    assert all(sampled[i, -1] in allowed[i] for i in range(4))
    greedy = model.generate(prompt[:1], max_new_tokens=6)
    stop = model.generate(prompt[:1], max_new_tokens=6, eos_id=int(greedy[0, 3]))
    assert torch.equal(stop, greedy[:, :4])


@pytest.mark.parametrize("switches", [dict(), dict(moe_experts=4, position="alibi", qk_norm=True),
                                      dict(mixer="rwkv")], ids=str)
def test_bf16_autocast_runs_and_stays_close_to_fp32(switches):
    torch.manual_seed(0)
    model = Transformer(tiny(**switches))
    x = ids()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, labels=x)
    out.loss.backward()
    assert out.logits.dtype == torch.bfloat16
    assert abs(out.loss.item() - model(x, labels=x).loss.item()) < 0.05


def test_cpu_bf16_autocast_runs_attention_in_fp32(monkeypatch):
    """CPU SDPA's bf16 backward is several times slower than fp32's, so bf16 runs keep it in fp32."""
    import jaforge.model.layers.attention as attention

    seen = []
    real = attention.F.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        out = real(q, k, v, **kwargs)
        seen.append((q.dtype, out.dtype))
        return out

    monkeypatch.setattr(attention.F, "scaled_dot_product_attention", spy)
    model = Transformer(tiny())
    x = ids()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x, labels=x).loss
    loss.backward()
    assert seen and all(dtypes == (torch.float32, torch.float32) for dtypes in seen)


def test_logits_to_keep_gives_the_last_positions_logits_only():
    model = Transformer(tiny())
    randomize(model)
    ids = torch.randint(0, 64, (2, 11), generator=torch.Generator().manual_seed(4))
    full = model(ids).logits
    last = model(ids, logits_to_keep=3).logits
    assert last.shape == (2, 3, full.shape[-1])
    torch.testing.assert_close(last, full[:, -3:])
    torch.testing.assert_close(model(ids, logits_to_keep=0).logits, full)
