"""Generation: greedy equals transformers' generate; batched (left-padded, cached, rows leaving
as they stop) equals one prompt at a time; stop strings; the CTRL penalty and top-p filter equal
transformers' logits processors; the device and dtype switches."""

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.errors import ConfigError
from jaforge.eval import GenerationConfig, generate, load_backend
from jaforge.eval.generation import apply_repetition_penalty, cut_at_stop, top_k_filter, top_p_filter

PROMPTS = ["### 入力：\n前提：男性が歩いています。", "仮説：", "### 指示：\n与えられた前提と仮説の関係を回答してください。\n前提：子どもが",
           "前提：女性がベンチで本を読んでいます。\n仮説：女性が座っています。\n\n### 応答："]


def test_greedy_equals_transformers_generate_on_both_backends(tiny_models):
    import torch
    import transformers

    hf_dir, jf_dir = tiny_models
    hf, jf = load_backend(hf_dir), load_backend(jf_dir)
    prompt = PROMPTS[0]
    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf_dir))
    ids = torch.tensor([hf.tokenizer.encode(prompt)])
    ref = model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None,
                         attention_mask=torch.ones_like(ids), pad_token_id=3)
    expected = hf.tokenizer.decode(ref[0, ids.shape[1]:].tolist())
    cfg = GenerationConfig(max_new_tokens=12, stop_at_eos=False)
    assert generate(hf, [prompt], cfg) == [expected]
    assert generate(jf, [prompt], cfg) == [expected]
    if expected[:3].strip():
        stop_cfg = GenerationConfig(max_new_tokens=12, stop_at_eos=False, stop=[expected[3:5]])
        assert generate(jf, [prompt], stop_cfg)[0] == cut_at_stop(expected, [expected[3:5]])[0]


@pytest.mark.parametrize("kind", ["hf", "jaforge"])
def test_batched_generation_equals_one_prompt_at_a_time(tiny_models, kind):
    backend = load_backend(tiny_models[0] if kind == "hf" else tiny_models[1])
    alone = [generate(backend, [p], GenerationConfig(max_new_tokens=10, stop_at_eos=False))[0] for p in PROMPTS]
    # a stop string that ends some rows early: the others keep decoding in a smaller batch
    stop = next(text[2:4] for text in alone if len(text) > 4 and text[2:4].strip())
    cfg = GenerationConfig(max_new_tokens=10, stop_at_eos=False, stop=[stop], repetition_penalty=1.3)
    one_by_one = [generate(backend, [p], cfg)[0] for p in PROMPTS]
    assert generate(backend, PROMPTS, cfg, batch_size=4) == one_by_one
    assert any(len(t) < len(a) for t, a in zip(one_by_one, alone))
    assert generate(backend, PROMPTS, GenerationConfig(max_new_tokens=10, stop_at_eos=False), batch_size=3) == alone


def test_penalty_and_top_p_match_transformers():
    import torch
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor, TopPLogitsWarper

    torch.manual_seed(0)
    logits, seen_ids = torch.randn(50), torch.tensor([1, 4, 4, 9])
    seen = torch.zeros(50, dtype=torch.bool)
    seen[seen_ids] = True
    ours = apply_repetition_penalty(logits, seen, 1.3)
    theirs = RepetitionPenaltyLogitsProcessor(1.3)(seen_ids[None], logits[None].clone())[0]
    assert torch.allclose(ours, theirs)
    ours = top_p_filter(logits, 0.7)
    theirs = TopPLogitsWarper(0.7)(seen_ids[None], logits[None].clone())[0]
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))


def test_top_k_matches_transformers_and_k_1_samples_the_greedy_text(tiny_models):
    import torch
    from transformers.generation.logits_process import TopKLogitsWarper

    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    logits[0, :4] = 5.0   # a tie at the k-th logit: kept, as transformers keeps it
    theirs = TopKLogitsWarper(3)(torch.zeros(3, 1, dtype=torch.long), logits.clone())
    assert torch.equal(top_k_filter(logits, 3), theirs) and torch.equal(top_k_filter(logits, 0), logits)
    jf = load_backend(tiny_models[1])
    greedy = generate(jf, PROMPTS, GenerationConfig(max_new_tokens=8, stop_at_eos=False))
    assert generate(jf, PROMPTS, GenerationConfig(max_new_tokens=8, temperature=1.5, top_k=1, seed=5,
                                                  stop_at_eos=False)) == greedy
    assert generate(jf, PROMPTS, GenerationConfig(max_new_tokens=8, temperature=1.5, seed=5,
                                                  stop_at_eos=False)) != greedy


def test_sampling_is_seeded(tiny_models):
    jf = load_backend(tiny_models[1])
    cfg = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3, stop_at_eos=False)
    assert generate(jf, PROMPTS, cfg) == generate(jf, PROMPTS, cfg)


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("ab\ncd\n\nef", ["\n\n", "\n"]) == ("ab", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)


def test_budget_that_leaves_no_room_for_the_prompt_fails(tiny_models):
    backend = load_backend(tiny_models[0], max_length=16)
    with pytest.raises(ValueError, match="max_new_tokens 16 leaves no room"):
        generate(backend, ["前提："], GenerationConfig(max_new_tokens=16))


def test_device_and_dtype_switches(tiny_models):
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'device': cuda asked for, but torch .* sees no CUDA device"):
            load_backend(tiny_models[0], device="cuda")
    with pytest.raises(ConfigError, match="'device': 'gpu' is not auto, cpu, cuda, cuda:N or mps"):
        load_backend(tiny_models[0], device="gpu")
    for kind in tiny_models:
        backend = load_backend(kind, dtype="bfloat16")
        assert next(backend.model.parameters()).dtype == torch.bfloat16
        assert len(generate(backend, PROMPTS[:2], GenerationConfig(max_new_tokens=4, stop_at_eos=False))) == 2
    assert next(load_backend(tiny_models[0]).model.parameters()).dtype == torch.float32  # auto on CPU


def test_device_auto_is_the_gpu_when_torch_sees_one(monkeypatch):
    import torch

    from jaforge.eval.loading import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
