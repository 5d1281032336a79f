"""The key/value cache (a recurrent mixer's state) and packed examples give the same logits as
plain forward passes."""

from __future__ import annotations

import pytest

from .tiny_models import randomize, tiny, torch

from jaforge.model import KVCache, Transformer  # noqa: E402

VARIANTS = [dict(), dict(position="learned"), dict(position="alibi"), dict(position="none"),
            dict(sliding_window=3), dict(n_kv_head=1, qk_norm=True), dict(moe_experts=4, moe_top_k=2),
            dict(mixer="rwkv"), dict(mixer="rwkv", position="learned")]
MIXERS = [dict(), dict(mixer="rwkv")]


def model_with(**switches) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(tiny(**switches))
    randomize(model)
    return model.eval()


def ids(n_batch: int, seq_len: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 64, (n_batch, seq_len), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("switches", VARIANTS, ids=str)
def test_cached_prefix_then_continuation_equals_one_pass(switches):
    model, x = model_with(**switches), ids(2, 29)
    with torch.no_grad():
        full = model(x).logits
        cache = KVCache()
        parts = [model(x[:, :6], cache=cache).logits, model(x[:, 6:9], cache=cache).logits,
                 model(x[:, 9:10], cache=cache).logits, model(x[:, 10:], cache=cache).logits]
    assert cache.length == 29
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("switches", MIXERS, ids=str)
def test_repeated_context_scores_every_choice_like_separate_passes(switches):
    model, context, choices = model_with(**switches), ids(1, 7), ids(3, 4, seed=1)
    with torch.no_grad():
        cache = KVCache()
        model(context, cache=cache)
        shared = model(choices, cache=cache.repeat_rows(3)).logits
        separate = model(torch.cat((context.expand(3, -1), choices), dim=1)).logits[:, 7:]
        picked = model(choices[1:2], cache=cache.repeat_rows(3).select_rows([1])).logits
    assert torch.allclose(shared, separate, atol=1e-5)
    assert torch.allclose(picked[0], separate[1], atol=1e-5)


@pytest.mark.parametrize("switches", [dict(), dict(position="learned"), dict(position="alibi"),
                                      dict(mixer="rwkv")], ids=str)
def test_packed_examples_match_their_own_forward_passes(switches):
    model = model_with(**switches)
    a, b = ids(1, 5), ids(1, 7, seed=2)
    packed = torch.cat((a, b), dim=1)
    segments = torch.tensor([[0] * 5 + [1] * 7])
    positions = torch.tensor([list(range(5)) + list(range(7))])
    with torch.no_grad():
        out = model(packed, position_ids=positions, segment_ids=segments).logits
        alone_a, alone_b = model(a).logits, model(b).logits
    assert torch.allclose(out[:, :5], alone_a, atol=1e-5)
    assert torch.allclose(out[:, 5:], alone_b, atol=1e-5)
    unmasked = model(packed).logits.detach()
    assert not torch.allclose(unmasked[:, 5:], alone_b, atol=1e-3)   # the mask matters


@pytest.mark.parametrize("switches", MIXERS, ids=str)
def test_left_padded_rows_decode_like_unpadded_ones(switches):
    model = model_with(**switches)
    short, long = ids(1, 4), ids(1, 6, seed=3)
    pad = torch.zeros(1, 2, dtype=torch.long)
    batch = torch.cat((torch.cat((pad, short), dim=1), long))
    segments = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6])
    positions = (segments.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        cache = KVCache()
        first = model(batch, position_ids=positions, segment_ids=segments, cache=cache).logits[:, -1]
        step = model(torch.tensor([[5], [6]]), position_ids=positions[:, -1:] + 1, cache=cache).logits[:, -1]
        alone = model(torch.cat((short, torch.tensor([[5]])), dim=1)).logits[0]
    assert torch.allclose(first[0], alone[-2], atol=1e-5)
    assert torch.allclose(step[0], alone[-1], atol=1e-5)


@pytest.mark.parametrize("switches", MIXERS, ids=str)
def test_cached_generation_equals_recomputing_every_step(switches):
    model, prompt = model_with(**switches), ids(2, 5)
    out = model.generate(prompt, max_new_tokens=20)       # past one recurrence chunk (16)
    expect = prompt
    with torch.no_grad():
        for _ in range(20):
            expect = torch.cat((expect, model(expect).logits[:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(out, expect)


@pytest.mark.parametrize("switches", MIXERS, ids=str)
def test_generation_past_max_seq_len_keeps_going(switches):
    model = model_with(position="learned", **switches)
    out = model.generate(ids(1, 5), max_new_tokens=model.config.max_seq_len)
    assert out.shape[1] == 5 + model.config.max_seq_len
