"""The vocabulary preflight and alignment by token string: different vocabularies are refused with
the first differing tokens named; with tokenizer.source base/union every embedding and output-head
row is matched by token string (checked row by row), never by index."""

from __future__ import annotations

import json

import pytest

from jaforge.cli import main
from jaforge.config import build
from jaforge.merge.config import MergeConfig
from jaforge.merge.stage import run

from .conftest import expand_tokenizer, load_logits, tiny_llama, torch
from .test_mergekit_parity import tensors

WORDS = ["東京", "大阪", "町役場", "図書館", "新聞", "天気", "学校", "電車", "会議", "季節", "料理", "温泉"]


def permuted(source, directory, seed=0):
    """The same model with its token ids shuffled (specials kept): tokenizer ids and embedding /
    head rows permuted together, so by token string it is the same model."""
    from safetensors.torch import load_file, save_file

    directory.mkdir(parents=True, exist_ok=True)
    spec = json.loads((source / "tokenizer.json").read_text("utf-8"))
    vocab = spec["model"]["vocab"]
    specials = {t["id"] for t in spec["added_tokens"]}
    movable = sorted(i for i in vocab.values() if i not in specials)
    order = torch.randperm(len(movable), generator=torch.Generator().manual_seed(seed)).tolist()
    new_id = dict(zip(movable, [movable[k] for k in order]))
    spec["model"]["vocab"] = {t: new_id.get(i, i) for t, i in vocab.items()}
    (directory / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    for name in ("config.json", "tokenizer_config.json", "README.md"):
        (directory / name).write_bytes((source / name).read_bytes())
    state = load_file(str(source / "model.safetensors"))
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        rows = state[key].clone()
        for old, new in new_id.items():
            rows[new] = state[key][old]
        state[key] = rows
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def merge_config(base, other, out, **extra):
    return build(MergeConfig, {"merge_method": "linear", "base_model": str(base),
                               "models": [{"model": str(base), "parameters": {"weight": 0.4}},
                                          {"model": str(other), "parameters": {"weight": 0.6}}],
                               "output_dir": str(out), **extra})


def vocab(directory):
    return json.loads((directory / "tokenizer.json").read_text("utf-8"))["model"]["vocab"]


def test_different_vocabularies_are_refused_naming_the_first_differing_tokens(family, tmp_path, capsys):
    other = permuted(family["ft1"], tmp_path / "permuted")
    recipe = tmp_path / "merge.yml"
    recipe.write_text(f"merge_method: linear\nmodels:\n  - model: {family['base']}\n    parameters: {{weight: 0.5}}\n"
                      f"  - model: {other}\n    parameters: {{weight: 0.5}}\n", encoding="utf-8")
    assert main(["merge", "--config", str(recipe), "--output_dir", str(tmp_path / "out")]) == 1
    message = capsys.readouterr().err
    by_id = {i: t for t, i in vocab(other).items()}
    first = min(i for t, i in vocab(family["base"]).items() if by_id[i] != t)
    assert "vocabularies of" in message and f"id {first} is" in message
    assert repr(by_id[first]) in message and "tokenizer.source: base or union" in message
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_base_source_aligns_rows_by_token_string(family, tmp_path):
    other = permuted(family["ft1"], tmp_path / "permuted")
    run(merge_config(family["base"], other, tmp_path / "aligned", tokenizer={"source": "base"}))
    run(merge_config(family["base"], family["ft1"], tmp_path / "plain"))
    aligned, plain = tensors(tmp_path / "aligned"), tensors(tmp_path / "plain")
    base, theirs = tensors(family["base"]), tensors(other)
    ids, base_ids = vocab(other), vocab(family["base"])
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        for token, j in base_ids.items():   # row by row: 0.4·base[token] + 0.6·other[token]
            expected = 0.4 * base[key][j] + 0.6 * theirs[key][ids[token]]
            assert torch.allclose(aligned[key][j], expected, atol=1e-6), (key, token)
    assert all(torch.allclose(aligned[k], plain[k], atol=1e-6) for k in plain)  # = the unpermuted merge
    assert vocab(tmp_path / "aligned") == base_ids


def test_union_adds_tokens_and_fills_missing_rows_from_base_or_subtokens(family, tmp_path):
    expanded_tok = tmp_path / "expanded-tokenizer"
    new_tokens = expand_tokenizer(family["base"], expanded_tok, WORDS)
    assert len(new_tokens) >= 4
    n = len(vocab(family["base"]))
    expanded = tiny_llama(tmp_path / "expanded", expanded_tok, seed=7, vocab_size=n + len(new_tokens))
    run(merge_config(family["base"], expanded, tmp_path / "union", tokenizer={"source": "union"}))
    out, base, exp = tensors(tmp_path / "union"), tensors(family["base"]), tensors(expanded)
    from tokenizers import Tokenizer

    union_tok = Tokenizer.from_file(str(tmp_path / "union" / "tokenizer.json"))
    base_tok = Tokenizer.from_file(str(family["base"] / "tokenizer.json"))
    exp_tok, exp_ids = Tokenizer.from_file(str(expanded_tok / "tokenizer.json")), vocab(expanded)
    whole = [t for t in new_tokens if "\ufffd" not in exp_tok.decode([exp_ids[t]])]  # byte fragments are left out
    assert 4 <= len(whole) < len(new_tokens) and union_tok.get_vocab_size() == n + len(whole)
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        assert out[key].shape[0] == n + len(whole)
        for token, j in vocab(family["base"]).items():  # the base's own tokens: both models have them
            assert torch.allclose(out[key][j], 0.4 * base[key][j] + 0.6 * exp[key][exp_ids[token]], atol=1e-6)
        for k, token in enumerate(whole):  # new tokens: the base gives the mean of its sub-token rows
            j = n + k
            text = union_tok.decode([j])
            assert text == exp_tok.decode([exp_ids[token]])
            pieces = base_tok.encode(text, add_special_tokens=False).ids
            assert len(pieces) >= 2
            expected = 0.4 * base[key][pieces].mean(dim=0) + 0.6 * exp[key][exp_ids[token]]
            assert torch.allclose(out[key][j], expected, atol=1e-6), (key, token)
    assert union_tok.encode(union_tok.decode([n])).ids == [n]   # the added token is used
    ids = torch.tensor([[1, 5, 9, n, n + 1]])
    assert load_logits(tmp_path / "union", ids).shape[-1] == n + len(whole)


def test_same_vocabulary_with_different_row_counts_names_the_tensor(family, tmp_path, tokenizer_dir):
    padded = tiny_llama(tmp_path / "padded", tokenizer_dir, seed=2, vocab_size=320)
    with pytest.raises(Exception, match="model.embed_tokens.weight' has different shapes.*tokenizer.source"):
        run(merge_config(family["base"], padded, tmp_path / "out"))
    run(merge_config(family["base"], padded, tmp_path / "out2", tokenizer={"source": "base"}))
    assert tensors(tmp_path / "out2")["model.embed_tokens.weight"].shape[0] == len(vocab(family["base"]))


def test_mergekit_tokenizer_source_shorthand_and_padding(family, tmp_path):
    other = permuted(family["ft2"], tmp_path / "permuted", seed=3)
    run(merge_config(family["base"], other, tmp_path / "a", tokenizer_source="base"))
    run(merge_config(family["base"], other, tmp_path / "b", tokenizer={"source": "base", "pad_to_multiple_of": 64}))
    a, b = tensors(tmp_path / "a"), tensors(tmp_path / "b")
    n = a["model.embed_tokens.weight"].shape[0]
    assert b["model.embed_tokens.weight"].shape[0] % 64 == 0
    assert torch.equal(b["model.embed_tokens.weight"][:n], a["model.embed_tokens.weight"])
    assert not b["model.embed_tokens.weight"][n:].any()
    assert json.loads((tmp_path / "b" / "config.json").read_text())["vocab_size"] == b["model.embed_tokens.weight"].shape[0]
