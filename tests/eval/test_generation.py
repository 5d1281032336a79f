"""Generation: greedy equals transformers' generate; stop strings; the CTRL penalty and top-p
filter equal transformers' logits processors."""

from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.eval import GenerationConfig, generate, load_backend
from jaforge.eval.generation import apply_repetition_penalty, cut_at_stop, top_p_filter


def test_greedy_equals_transformers_generate_on_both_backends(tiny_models):
    import torch
    import transformers

    hf_dir, jf_dir = tiny_models
    hf, jf = load_backend(hf_dir), load_backend(jf_dir)
    prompt = "### 入力：\n前提：男性が歩いています。"
    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf_dir))
    ids = torch.tensor([hf.tokenizer.encode(prompt)])
    ref = model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=None,
                         attention_mask=torch.ones_like(ids), pad_token_id=3)
    expected = hf.tokenizer.decode(ref[0, ids.shape[1]:].tolist())
    cfg = GenerationConfig(max_new_tokens=12, stop_at_eos=False)
    assert generate(hf, [prompt], cfg) == [expected]
    assert generate(jf, [prompt], cfg) == [expected]
    first = expected[:3]
    if first.strip():
        stop_cfg = GenerationConfig(max_new_tokens=12, stop_at_eos=False, stop=[expected[3:5]])
        assert generate(jf, [prompt], stop_cfg)[0] == cut_at_stop(expected, [expected[3:5]])[0]


def test_penalty_and_top_p_match_transformers():
    import torch
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor, TopPLogitsWarper

    torch.manual_seed(0)
    logits, seen = torch.randn(50), torch.tensor([1, 4, 4, 9])
    ours = apply_repetition_penalty(logits, seen.unique(), 1.3)
    theirs = RepetitionPenaltyLogitsProcessor(1.3)(seen[None], logits[None].clone())[0]
    assert torch.allclose(ours, theirs)
    ours = top_p_filter(logits, 0.7)
    theirs = TopPLogitsWarper(0.7)(seen[None], logits[None].clone())[0]
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))


def test_sampling_is_seeded(tiny_models):
    jf = load_backend(tiny_models[1])
    cfg = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3, stop_at_eos=False)
    assert generate(jf, ["前提："], cfg) == generate(jf, ["前提："], cfg)


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("ab\ncd\n\nef", ["\n\n", "\n"]) == ("ab", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
