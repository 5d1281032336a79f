"""Harness tokenisation conventions; the cached-context path equals a plain forward pass; HF and
jaforge backends agree; left truncation; response-only perplexity."""

import math

import pytest
from tiny_models import tiny_models  # noqa: F401  (fixture)

from jaforge.eval import load_backend, response_perplexity
from jaforge.eval.scoring import choice_logliks, continuation_logprobs, encode_choices, truncated_logprobs


@pytest.fixture(scope="module")
def backends(tiny_models):
    hf_dir, jf_dir = tiny_models
    return load_backend(hf_dir), load_backend(jf_dir)


def test_encode_choices_follows_the_harness(backends):
    tok = backends[0].tokenizer
    context, cont = encode_choices(tok, "前提：雨です。 ", ["含意", "矛盾"])
    assert context[0] == tok.bos_id and context == tok.encode("前提：雨です。")
    whole = tok.encode("前提：雨です。 含意")
    assert cont[0] == whole[len(context):]  # the trailing space moved into the continuation
    assert encode_choices(tok, "", ["含意"]) == ([tok.bos_id], [tok.encode("含意", add_special_tokens=False)])
    assert tok.encode("<s>雨") == tok.encode("雨")  # text that starts with BOS gets no second one


def test_cached_context_equals_plain_forward_and_backends_agree(backends):
    hf, jf = backends
    context = "### 入力：\n前提：男性が歩いています。\n仮説：人が歩いています。\n\n### 応答："
    conts = ["\n含意", "\n矛盾", "\n中立"]
    cached = choice_logliks(hf, context, conts)
    ids, cont_ids = encode_choices(hf.tokenizer, context, conts)
    plain = truncated_logprobs(hf, ids, cont_ids)  # one full forward per choice, no cache
    assert cached == pytest.approx(plain, abs=1e-4)
    assert choice_logliks(jf, context, conts) == pytest.approx(cached, abs=1e-4)
    assert len(set(round(c, 3) for c in cached)) == 3


def test_left_truncation_keeps_the_last_max_length_tokens(tiny_models):
    hf_dir, jf_dir = tiny_models
    short = load_backend(jf_dir, max_length=16)
    full = load_backend(jf_dir)
    context = "前提：子どもがケーキのろうそくを吹き消しています。仮説：今日は誕生日です。"
    ids, (cont,) = encode_choices(short.tokenizer, context, ["\n中立"])
    assert len(ids) + len(cont) > 17
    window = (ids + cont)[-17:]
    expected = continuation_logprobs(full, window[:len(window) - len(cont)], [cont])
    assert continuation_logprobs(short, ids, [cont]) == pytest.approx(expected, abs=1e-4)
    assert continuation_logprobs(load_backend(hf_dir, max_length=16), ids, [cont]) == pytest.approx(expected, abs=1e-4)


def test_response_perplexity_is_exp_of_mean_per_example_nll(backends):
    _, jf = backends
    pairs = [("質問：空の色は？\n回答：", "青です。"), ("質問：一足す一は？\n回答：", "二です。とても簡単な計算です。")]
    nlls = []
    for prompt, response in pairs:
        ids, (resp,) = encode_choices(jf.tokenizer, prompt, [response])
        nlls.append(-continuation_logprobs(jf, ids, [resp])[0] / len(resp))
    assert response_perplexity(jf, pairs, batch_size=2) == pytest.approx(math.exp(sum(nlls) / 2), rel=1e-5)
    # not the token-weighted mean: the short response weighs as much as the long one
    assert response_perplexity(jf, pairs[:1]) == pytest.approx(math.exp(nlls[0]), rel=1e-5)
