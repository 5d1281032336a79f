"""Choice scoring batched across examples (left-padded contexts, right-padded continuations)
gives each example what it gets alone: contexts of different lengths, different numbers of
choices, one-token and longer continuations, and left-truncated requests mixed in."""

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.eval import load_backend
from jaforge.eval.scoring import batched_continuation_logprobs, encode_choices
from jaforge.eval.tasks import TASKS, build_prompts, load_docs


def requests_of(backend, context_lengths: tuple[int, ...] = (90, 37, 120, 64, 12, 100, 75, 51, 20, 110)
                ) -> list:
    """(context ids, [continuation ids, …]) of JNLI (3 choices) and JCommonsenseQA (5 choices)
    prompts, each context cut to its last `context_lengths[i]` tokens so that the lengths differ;
    every JNLI request also gets a one-token continuation."""
    prompts = []
    for name in ("jnli", "jcommonsenseqa"):
        task = TASKS.get(name)
        prompts += build_prompts(task, load_docs(task, "valid")[:5], [], "leaderboard", 0)
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
def test_left_truncated_requests_batch_like_per_example(tiny_models, kind):
    hf_dir, jf_dir = tiny_models
    short = load_backend(hf_dir if kind == "hf" else jf_dir, max_length=64)
    requests = requests_of(short)
    truncated = [len(ctx) + max(len(c) for c in cs) > 65 for ctx, cs in requests]
    assert any(truncated) and not all(truncated)
    alone = batched_continuation_logprobs(short, requests, batch_size=1)
    assert max_diff(batched_continuation_logprobs(short, requests, batch_size=4), alone) < 1e-5


def test_batch_size_below_one_fails_naming_the_key(tmp_path):
    from jaforge.eval import EvalConfig, run

    with pytest.raises(ValueError, match="'batch_size' must be at least 1, got 0"):
        run(EvalConfig(model=str(tmp_path / "missing"), batch_size=0))
