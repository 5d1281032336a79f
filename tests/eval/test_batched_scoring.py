"""Choice scoring batched across examples (left-padded contexts, right-padded continuations)
gives each example what it gets alone: contexts of different lengths, different numbers of
choices, one-token and longer continuations, and left-truncated requests mixed in."""

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.eval import load_backend
from jaforge.eval.prompts import build_prompts
from jaforge.eval.scoring import batched_continuation_logprobs, encode_choices, plan_contexts, truncated_logprobs
from jaforge.eval.tasks import TASKS, load_docs
from jaforge.eval.templates import get_template


def requests_of(backend, context_lengths: tuple[int, ...] = (90, 37, 120, 64, 12, 100, 75, 51, 20, 110)
                ) -> list:
    """(context ids, [continuation ids, …]) of JNLI (3 choices) and JCommonsenseQA (5 choices)
    prompts, each context cut to its last `context_lengths[i]` tokens so that the lengths differ;
    every JNLI request also gets a one-token continuation."""
    prompts = []
    for name in ("jnli", "jcommonsenseqa"):
        task = TASKS.get(name)
        prompts += build_prompts(load_docs(task, "validation")[:5], [], get_template("leaderboard", name), 0)
    requests = []
    for p, n in zip(prompts, context_lengths):
        ctx, conts = encode_choices(backend.tokenizer, p.context, p.continuations)
        requests.append((ctx[-n:], conts + [[conts[0][-1]]] if len(conts) == 3 else conts))
    return requests


def max_diff(a: list, b: list) -> float:
    assert [len(row) for row in a] == [len(row) for row in b]
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


@pytest.fixture(scope="module")
def jaforge_learned_positions(tiny_models, tmp_path_factory):
    """A jaforge model with learned absolute positions: a row whose positions did not restart at
    its first real token would score differently (rotary positions would hide that)."""
    import shutil

    import torch

    from jaforge.model import ModelConfig, Transformer, save_model

    hf_dir, _ = tiny_models
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=load_backend(hf_dir).tokenizer.rust.get_vocab_size(), n_layer=2,
                      d_model=32, n_head=4, max_seq_len=256, position="learned")
    directory = tmp_path_factory.mktemp("learned")
    save_model(Transformer(cfg), cfg, directory)
    shutil.copy(hf_dir / "tokenizer.json", directory / "tokenizer.json")
    shutil.copy(hf_dir / "tokenizer_config.json", directory / "tokenizer_config.json")
    return directory


@pytest.mark.parametrize("kind", ["hf", "jaforge", "jaforge-learned"])
def test_batched_scoring_equals_per_example_scoring(tiny_models, jaforge_learned_positions, kind):
    hf_dir, jf_dir = tiny_models
    backend = load_backend({"hf": hf_dir, "jaforge": jf_dir, "jaforge-learned": jaforge_learned_positions}[kind])
    requests = requests_of(backend)
    lengths = [len(ctx) for ctx, _ in requests]
    conts = [len(c) for _, cs in requests for c in cs]
    assert len(set(lengths)) == len(requests) and min(conts) == 1 and max(conts) > 2
    assert max(lengths) + max(conts) <= backend.max_length  # the cached-context path throughout
    alone = batched_continuation_logprobs(backend, requests, batch_size=1)
    batched = batched_continuation_logprobs(backend, requests, batch_size=5)
    assert max_diff(batched, alone) < 1e-5
    assert batched_continuation_logprobs(backend, requests[3:4], batch_size=5) == alone[3:4]


@pytest.mark.parametrize("kind", ["hf", "jaforge"])
def test_left_truncated_requests_equal_the_harness_windows(tiny_models, kind):
    """Requests longer than the window run once per distinct choice length on a shared truncated
    context, and give what the harness computes: each choice on its own window
    (context + choice)[-(max_length + 1):][:-1] in a plain forward pass."""
    hf_dir, jf_dir = tiny_models
    short = load_backend(hf_dir if kind == "hf" else jf_dir, max_length=64)
    requests = requests_of(short)
    truncated = [len(ctx) + max(len(c) for c in cs) > 65 for ctx, cs in requests]
    assert any(truncated) and not all(truncated)
    harness = [truncated_logprobs(short, ctx, conts) for ctx, conts in requests]
    for batch_size in (1, 4):
        assert max_diff(batched_continuation_logprobs(short, requests, batch_size=batch_size), harness) < 1e-4
    units, too_long = plan_contexts(requests, short.max_length)
    choices = sum(len(cs) for _, cs in requests)
    assert not too_long and len(units) < choices  # choices of equal length share one context pass
    assert all(len(ctx) + len(requests[i][1][j]) <= 65 for ctx, members in units for i, j in members)


def test_continuations_longer_than_the_window_take_the_harness_path(tiny_models):
    short = load_backend(tiny_models[0], max_length=8)
    ctx = short.tokenizer.encode("前提：男性が歩いています。")
    long_choice = short.tokenizer.encode("仮説：人が公園の中をゆっくり歩いています。", add_special_tokens=False)
    assert len(long_choice) > 8
    units, too_long = plan_contexts([(ctx, [long_choice, long_choice[:3]])], 8)
    assert too_long == [(0, 0)] and [members for _, members in units] == [[(0, 1)]]
    expected = truncated_logprobs(short, ctx, [long_choice, long_choice[:3]])
    assert max_diff(batched_continuation_logprobs(short, [(ctx, [long_choice, long_choice[:3]])]), [expected]) < 1e-4


@pytest.mark.parametrize("kind", ["hf", "jaforge"])
def test_logits_at_the_scored_positions_are_the_full_passs(tiny_models, kind):
    import torch

    hf_dir, jf_dir = tiny_models
    backend = load_backend(hf_dir if kind == "hf" else jf_dir)
    ids = torch.randint(0, 100, (3, 9), generator=torch.Generator().manual_seed(0))
    where = torch.zeros_like(ids, dtype=torch.bool)
    where[0, 6:] = where[1, 2:4] = where[2, 8] = True
    picked = backend.logits_at(ids, where)
    assert picked.shape[0] == 6
    torch.testing.assert_close(picked, backend.forward(ids)[where], rtol=1e-5, atol=1e-6)
