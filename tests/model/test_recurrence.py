"""The RWKV-style recurrent mixer (mixer="rwkv"): the chunked scan equals the step-by-step
recurrence (state carried in, segment resets), position encodings other than a learned table do
not reach it, its init spreads the decay rates, and it keeps only a fixed-size state in the cache."""

from __future__ import annotations

import pytest

from .tiny_models import randomize, tiny, torch

from jaforge.model import KVCache, Transformer  # noqa: E402
from jaforge.model.layers import MIXERS, TimeMix  # noqa: E402
from jaforge.model.layers.recurrence import CHUNK, decaying_state_scan  # noqa: E402


def stepwise(r, k, v, log_w, u, state, starts):
    """S_t = diag(w)·S_{t−1} + k_tᵀv_t, y_t = r_t·(S_{t−1} + diag(u)·k_tᵀv_t), one token at a time,
    with the state emptied where a segment starts."""
    batch, n_head, seq_len, head_dim = r.shape
    state = torch.zeros(batch, n_head, head_dim, head_dim) if state is None else state
    ys = []
    for t in range(seq_len):
        if starts is not None:
            state = state * ~starts[:, t, None, None, None]
        kv = k[:, :, t, :, None] * v[:, :, t, None, :]
        ys.append((r[:, :, t, None, :] @ (state + u[..., None] * kv))[:, :, 0])
        state = log_w.exp()[..., None] * state + kv
    return torch.stack(ys, dim=2), state


@pytest.mark.parametrize("seq_len", [1, 5, CHUNK, 2 * CHUNK + 7])
@pytest.mark.parametrize("with_state, with_starts", [(False, False), (True, False), (True, True)])
def test_chunked_scan_equals_the_stepwise_recurrence(seq_len, with_state, with_starts):
    gen = torch.Generator().manual_seed(seq_len)
    r, k, v = (torch.randn(2, 3, seq_len, 4, generator=gen) for _ in range(3))
    log_w = -8 * torch.rand(3, 4, generator=gen)          # from no decay to the fastest allowed
    u = torch.randn(3, 4, generator=gen)
    state = torch.randn(2, 3, 4, 4, generator=gen) if with_state else None
    starts = (torch.rand(2, seq_len, generator=gen) < 0.15) if with_starts else None
    y, final = decaying_state_scan(r, k, v, log_w, u, state, starts)
    expect_y, expect_final = stepwise(r, k, v, log_w, u, state, starts)
    assert torch.allclose(y, expect_y, atol=1e-4) and torch.allclose(final, expect_final, atol=1e-4)
    if with_starts and starts.any():
        assert not torch.allclose(y, decaying_state_scan(r, k, v, log_w, u, state, None)[0], atol=1e-3)


def test_rope_and_alibi_do_not_reach_the_recurrence_but_a_learned_table_does():
    x = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    logits = {}
    for position in ("rope", "alibi", "none", "learned"):
        torch.manual_seed(0)
        model = Transformer(tiny(mixer="rwkv", position=position)).eval()
        randomize(model)
        if position == "learned":
            assert model.position.weight.shape == (32, 32)
            with torch.no_grad():
                model.position.weight.normal_()
        logits[position] = model(x).logits
    assert torch.equal(logits["rope"], logits["alibi"]) and torch.equal(logits["rope"], logits["none"])
    assert not torch.allclose(logits["rope"], logits["learned"])


def test_the_block_uses_the_registered_mixer_and_its_init_spreads_the_decay():
    model = Transformer(tiny(mixer="rwkv", n_layer=3))
    assert MIXERS.names() == ["attention", "rwkv"]
    mixers = [block.attn for block in model.blocks]
    assert all(isinstance(m, TimeMix) for m in mixers)
    w = (-mixers[0].decay.exp()).exp()
    assert ((w > 0) & (w < 1)).all() and w.max() > 0.99 and w.min() < 0.7     # fast and slow channels
    assert mixers[2].decay.mean() < mixers[0].decay.mean()                     # deeper layers remember longer
    assert not any(n.endswith(("q_proj.weight", "k_norm.weight")) for n, _ in model.named_parameters())
    decayed = {id(p) for p in model.param_groups(0.1)[0]["params"]}
    assert id(mixers[0].decay) not in decayed and id(mixers[0].r_proj.weight) in decayed


def test_the_cache_holds_a_fixed_size_state():
    torch.manual_seed(0)
    model = Transformer(tiny(mixer="rwkv")).eval()
    cache = KVCache()
    with torch.no_grad():
        model(torch.randint(0, 64, (2, 20)), cache=cache)
        sizes = [tuple(t.shape) for state in cache.states for t in state]
        model(torch.randint(0, 64, (2, 3)), cache=cache)
    assert cache.length == 23 and not cache.layers
    assert sizes == [(2, 32), (2, 4, 8, 8)] * 2
    assert [tuple(t.shape) for state in cache.states for t in state] == sizes
    assert cache.repeat_rows(3).states[0][1].shape == (6, 4, 8, 8) and cache.repeat_rows(3).length == 23
