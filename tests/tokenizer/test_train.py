"""Training on every document; identical ids after the HF conversion; exact round trips."""

from __future__ import annotations

import json
import unicodedata

import pytest

from jaforge.config import ConfigError, load_config
from jaforge.errors import InputError

from jaforge.tokenizer import SourceConfig, TokenizerConfig, run
from jaforge.tokenizer.hf import load_hf
from jaforge.tokenizer.sources import documents

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)

EDGE_CASES = ["", " ", "a  b \n\n c ", " 先頭に空白", "末尾に空白 ", "\n改行で始まる", "絵文字😀と𠮷野家",
              "タブ\tと全角　空白", "12345 と ３４５", "ｶﾀｶﾅ"]


def all_texts(ja_texts, en_texts) -> list[str]:
    lines = [line for text in ja_texts + en_texts for line in text.split("\n")]
    return ja_texts + en_texts + lines + EDGE_CASES


def test_outputs_and_special_ids(trained):
    out = trained("unigram")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "tokenizer.model", "config.yaml", "train_stats.json"):
        assert (out / name).exists(), name
    tok = load_hf(out)
    assert [tok.id_to_token(i) for i in range(4)] == ["<unk>", "<s>", "</s>", "<pad>"]
    assert tok.token_to_id("\n") is not None
    assert tok.get_vocab_size() == 2000
    assert tok.encode("テスト").ids[0] == 1  # <s> is prepended by the post-processor


def test_every_document_of_every_source_is_streamed(trained, ja_texts, en_texts):
    stats = json.loads((trained("unigram") / "train_stats.json").read_text())
    assert stats["sources"]["ja"]["documents"] == len(ja_texts)
    assert stats["sources"]["ja"]["chars"] == sum(map(len, ja_texts))
    assert 0 < stats["sources"]["en"]["documents"] < len(en_texts)  # weight 0.5 thins it


@pytest.mark.parametrize("algorithm", ["unigram", "bpe"])
def test_hf_ids_equal_sentencepiece_ids_and_round_trip(trained, ja_texts, en_texts, algorithm):
    out = trained(algorithm)
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    hf = load_hf(out)
    for text in all_texts(ja_texts, en_texts):
        ids = hf.encode(text, add_special_tokens=False).ids
        assert ids == sp.encode(text), text[:80]
        assert hf.decode(ids) == text, text[:80]
        assert sp.decode(ids) == text


def test_transformers_loads_the_directory(trained, ja_texts):
    transformers = pytest.importorskip("transformers", reason="the 'hf' extra is not installed")
    out = trained("bpe")
    auto = transformers.AutoTokenizer.from_pretrained(str(out))
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    specials = (auto.bos_token_id, auto.eos_token_id, auto.pad_token_id, auto.unk_token_id)
    assert specials == (1, 2, 3, 0)
    for text in ja_texts[:40] + EDGE_CASES:
        ids = auto.encode(text, add_special_tokens=False)
        assert ids == sp.encode(text)
        assert auto.decode(ids) == text
    assert auto.encode("テスト")[0] == 1


def test_byte_fallback_digits_and_piece_length(trained):
    out = trained("unigram")
    hf = load_hf(out)
    tokens = hf.encode("😀", add_special_tokens=False).tokens
    assert tokens == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    vocab = [p for p in hf.get_vocab() if not p.startswith("<")]
    assert not any(sum(c.isdigit() for c in piece) > 1 for piece in vocab)
    assert [t for t in hf.encode("2024年", add_special_tokens=False).tokens if t.isdigit()] == \
        ["2", "0", "2", "4"]
    assert max(len(p) for p in vocab) <= 16


def test_spaces_runs_give_the_same_ids(tmp_path, ja_texts, trainer_settings, make_shard):
    """Runs of spaces tie between segmentations; the 1/16 score grid makes both libraries agree."""
    code = ["def f(x):\n" + "\n".join(" " * (4 * k) + f"return x + {k}  # " + "=" * k
                                    for k in range(1, 12)) for _ in range(30)]
    sources = [SourceConfig(paths=[str(make_shard(tmp_path / "ja", ja_texts[:60]))]),
               SourceConfig(name="code", language="code",
                            paths=[str(make_shard(tmp_path / "c", code))])]
    run(TokenizerConfig(sources=sources, trainer=trainer_settings(), output_dir=str(tmp_path / "tok")))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "tok" / "tokenizer.model"))
    hf = load_hf(tmp_path / "tok")
    assert any(set(p) == {"▁"} and len(p) > 2 for p in hf.get_vocab())  # whitespace-only pieces
    for n in range(1, 60):
        for text in (" " * n, "x" + " " * n + "y", "=" * n, "a" + "-" * n):
            assert hf.encode(text, add_special_tokens=False).ids == sp.encode(text), repr(text)


def test_nfkc_normalization_matches_sentencepiece(tmp_path, small_shard, trainer_settings):
    cfg = TokenizerConfig(sources=[SourceConfig(paths=[str(small_shard)])],
                          trainer=trainer_settings(algorithm="bpe", normalization="nfkc"),
                          output_dir=str(tmp_path / "tok"))
    run(cfg)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "tok" / "tokenizer.model"))
    hf = load_hf(tmp_path / "tok")
    for text in EDGE_CASES + ["ＡＢＣ１２３", "ｱｲｳｴｵ", "①②"]:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert ids == sp.encode(text), text
        assert hf.decode(ids) == sp.decode(ids)
    assert hf.decode(hf.encode("ＡＢＣ１２３", add_special_tokens=False).ids) == \
        unicodedata.normalize("NFKC", "ＡＢＣ１２３")


def test_hf_bpe_round_trips_with_byte_fallback(trained, ja_texts, en_texts):
    hf = load_hf(trained("hf_bpe"))
    assert [hf.id_to_token(i) for i in range(5)] == ["<unk>", "<s>", "</s>", "<pad>", "\n"]
    for text in ja_texts + en_texts + EDGE_CASES:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert hf.decode(ids) == text
    assert "<0xF0>" in hf.encode("😀").tokens
    assert 0 not in hf.encode("".join(ja_texts[:5]) + "😀").ids  # never <unk>


@pytest.mark.parametrize("algorithm", ["bpe", "hf_bpe"])
def test_fugashi_presegmentation_keeps_pieces_inside_morphemes(tmp_path, small_shard, algorithm,
                                                               trainer_settings):
    pytest.importorskip("fugashi", reason="the 'ja' extra is not installed")
    from jaforge.tokenizer.measure import measure

    sources = [SourceConfig(paths=[str(small_shard)])]
    shares = {}
    for pre in ("none", "fugashi"):
        out = tmp_path / pre
        run(TokenizerConfig(sources=sources, output_dir=str(out),
                            trainer=trainer_settings(algorithm=algorithm, pretokenize=pre)))
        shares[pre] = measure(out, sources)["split_morpheme_share"]
        text = "形態素で区切って学習しても、符号化では区切り文字を使わない。"
        assert load_hf(out).decode(load_hf(out).encode(text, add_special_tokens=False).ids) == text
    assert shares["fugashi"] < shares["none"] - 0.03, shares


def test_vocabulary_too_small_for_the_characters_says_so(tmp_path, small_shard, trainer_settings):
    cfg = TokenizerConfig(sources=[SourceConfig(paths=[str(small_shard)])],
                          trainer=trainer_settings(vocab_size=300), output_dir=str(tmp_path / "tok"))
    with pytest.raises(ConfigError, match="'trainer.vocab_size': 300 is too small"):
        run(cfg)


def test_no_sources_is_an_error(tmp_path, trainer_settings):
    with pytest.raises(ConfigError, match="no sources"):
        run(TokenizerConfig(output_dir=str(tmp_path / "tok"), trainer=trainer_settings()))
    with pytest.raises(ConfigError, match="'sources'.*must have at least 1 item"):
        load_config(TokenizerConfig, None, [("output_dir", str(tmp_path / "tok"))])
    with pytest.raises(InputError, match="no shards found"):
        run(TokenizerConfig(sources=[SourceConfig(paths=[str(tmp_path / "missing")])],
                            output_dir=str(tmp_path / "tok"), trainer=trainer_settings()))


def test_english_source_only(tmp_path, trainer_settings, en_clean):
    run(TokenizerConfig(sources=[SourceConfig(name="en", language="en", paths=[str(en_clean)])],
                        trainer=trainer_settings(vocab_size=800, algorithm="bpe"),
                        output_dir=str(tmp_path / "t")))
    hf = load_hf(tmp_path / "t")
    assert len(hf.encode("the quick brown fox", add_special_tokens=False).ids) < 12


def test_held_out_share_is_measured_not_trained_on(tmp_path, small_shard, trainer_settings):
    cfg = TokenizerConfig(sources=[SourceConfig(paths=[str(small_shard)])], holdout_fraction=0.25,
                          trainer=trainer_settings(vocab_size=1500), output_dir=str(tmp_path / "t"))
    result = run(cfg)
    total = len(list(documents([SourceConfig(paths=[str(small_shard)])])))
    trained_on = json.loads((tmp_path / "t" / "train_stats.json").read_text())["sources"]["ja"]["documents"]
    measured = json.loads((tmp_path / "t" / "measure.json").read_text())
    assert trained_on + measured["documents"] == total and 0 < measured["documents"] < total / 2
    assert result.metrics["held_out_documents"] == measured["documents"]
    held = [t for _, t in documents(cfg.sources, holdout=0.25, part="held_out")]
    kept = [t for _, t in documents(cfg.sources, holdout=0.25)]
    assert not set(held) & set(kept)  # the same split every time, disjoint


def test_bos_convention_is_written_in_the_tokenizer_config(trained):
    config = json.loads((trained("unigram") / "tokenizer_config.json").read_text())
    assert config["add_bos_token"] is True and config["add_eos_token"] is False
    assert config["bos_token"] == "<s>"


def test_a_truncated_tokenizer_json_is_an_error_naming_it(tmp_path, trained):
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (trained("unigram") / "tokenizer.json").read_text()
    (broken / "tokenizer.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=f"{broken / 'tokenizer.json'}: cannot be read as a Hugging Face"):
        load_hf(broken)
    with pytest.raises(InputError, match="not found"):
        load_hf(tmp_path / "nowhere")
