"""Expanding a base tokenizer with Japanese pieces: old ids stay, Japanese text gets shorter."""

from __future__ import annotations

import json

import pytest

from jaforge.tokenizer import ExpandConfig, SourceConfig, TokenizerConfig
from jaforge.tokenizer import run as train
from jaforge.tokenizer.expand import apply_merges, byte_level_alphabet, is_japanese, run
from jaforge.tokenizer.hf import load_hf

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)

NEW = 200


@pytest.fixture(scope="module")
def base_factory(tmp_path_factory, en_clean, make_shard, ja_texts, trainer_settings):
    """algorithm → a base tokenizer dir that knows English well and Japanese barely."""
    made = {}

    def get(algorithm: str):
        if algorithm not in made:
            out = tmp_path_factory.mktemp(f"base_{algorithm}")
            few_ja = make_shard(out / "ja", ja_texts[:12])
            sources = [SourceConfig(name="en", language="en", paths=[str(en_clean)]),
                       SourceConfig(name="ja", paths=[str(few_ja)])]
            train(TokenizerConfig(sources=sources, output_dir=str(out / "tok"),
                                  trainer=trainer_settings(algorithm=algorithm, vocab_size=1200)))
            made[algorithm] = out / "tok"
        return made[algorithm]

    return get


def expand(base, shard, out, settings):
    cfg = ExpandConfig(base_tokenizer=str(base), sources=[SourceConfig(paths=[str(shard)])],
                       num_new_tokens=NEW, candidate_vocab_size=2000, trainer=settings(),
                       output_dir=str(out))
    return run(cfg).metrics


@pytest.mark.parametrize("algorithm,base_file", [("unigram", ""), ("bpe", ""),
                                                 ("hf_bpe", "tokenizer.json"),
                                                 ("unigram", "tokenizer.json")])
def test_old_ids_stay_and_japanese_gets_shorter(tmp_path, base_factory, small_shard, en_texts,
                                                trainer_settings, algorithm, base_file):
    base_dir = base_factory(algorithm)
    stats = expand(base_dir / base_file if base_file else base_dir, small_shard, tmp_path / "x",
                   trainer_settings)
    base, new = load_hf(base_dir), load_hf(tmp_path / "x")
    new_vocab = new.get_vocab(with_added_tokens=True)
    assert all(new_vocab[p] == i for p, i in base.get_vocab(with_added_tokens=True).items())
    expansion = json.loads((tmp_path / "x" / "expansion.json").read_text())
    size = base.get_vocab_size(with_added_tokens=True)
    assert expansion["base_vocab_size"] == size
    ids = [t["id"] for t in expansion["new_tokens"]]
    assert ids == list(range(size, size + len(ids))) and len(ids) >= 0.7 * NEW
    assert new.get_vocab_size(with_added_tokens=True) == size + len(ids)
    for token in expansion["new_tokens"]:
        assert is_japanese(token["piece"])
        assert base.decode(token["old_ids"]) == token["piece"]
        assert new.encode(token["piece"], add_special_tokens=False).ids == [token["id"]]
    assert stats["added"] == len(ids)
    assert stats["chars_per_token_gain"] > 0.05, stats  # measured on the Japanese corpus
    for text in en_texts[:10]:  # new pieces are Japanese only: English is encoded as before
        assert new.encode(text).ids == base.encode(text).ids
    assert (tmp_path / "x" / "tokenizer_config.json").exists()
    assert (tmp_path / "x" / "tokenizer.model").exists() == (not base_file)


def test_byte_level_base_spells_pieces_in_its_alphabet(tmp_path, small_shard, trainer_settings):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["the cat sat on the mat 日本"] * 20, trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    expand(tmp_path / "tokenizer.json", small_shard, tmp_path / "x", trainer_settings)
    new = load_hf(tmp_path / "x")
    expansion = json.loads((tmp_path / "x" / "expansion.json").read_text())
    alphabet = byte_level_alphabet()
    piece = expansion["new_tokens"][0]["piece"]
    text = bytes(next(b for b, c in alphabet.items() if c == ch) for ch in piece).decode()
    assert is_japanese(text)
    assert new.encode(text).ids == [expansion["new_tokens"][0]["id"]]
    assert new.decode(new.encode("今日は日本語").ids) == "今日は日本語"


def test_helpers():
    assert is_japanese("日本語のカタカナー") and not is_japanese("日本a") and not is_japanese("")
    assert apply_merges(["a", "b", "c"], {("b", "c"): 0, ("a", "bc"): 1}) == ["abc"]
    assert apply_merges(["a", "b", "c"], {("a", "b"): 1, ("b", "c"): 0}) == ["a", "bc"]
    assert len(set(byte_level_alphabet().values())) == 256


def test_base_is_required(tmp_path):
    with pytest.raises(ValueError, match="'base_tokenizer'"):
        run(ExpandConfig(output_dir=str(tmp_path / "x")))


def test_cjk_punctuation_and_full_width_forms_count_as_japanese():
    assert all(is_japanese(p) for p in ["、", "。", "「」", "：", "（注）", "ですね。", "ｶﾅ"])
    assert not any(is_japanese(p) for p in ["\u3000", "abc", "、a", "", "1"])
