"""Measuring: characters and bytes per token, fertility, split morphemes, fallback, utilisation."""

from __future__ import annotations

import json

import pytest

from jaforge.tokenizer import MeasureConfig, SourceConfig
from jaforge.tokenizer.hf import load_hf
from jaforge.tokenizer.measure import TokenCounts, count_morphemes, measure, measure_texts, run

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)


def test_count_morphemes_finds_cut_morphemes():
    counts = TokenCounts()
    # morphemes 0-2 and 2-5; tokens 0-1, 1-2, 2-5: the first morpheme is cut, the second is not
    count_morphemes(counts, [(0, 2), (2, 5)], [(0, 1), (1, 2), (2, 5)])
    assert (counts.morphemes, counts.morpheme_tokens, counts.split_morphemes) == (2, 3, 1)
    counts = TokenCounts()
    count_morphemes(counts, [(0, 2), (2, 5)], [(0, 5)])  # one token over both
    assert (counts.morpheme_tokens, counts.split_morphemes) == (2, 0)


def test_run_writes_metrics_that_match_a_direct_count(tmp_path, trained, ja_shard, ja_texts):
    pytest.importorskip("fugashi", reason="the 'ja' extra is not installed")
    out = trained("unigram")
    cfg = MeasureConfig(tokenizer=str(out), sources=[SourceConfig(paths=[str(ja_shard)])],
                        max_docs=60, output_dir=str(tmp_path / "m"))
    stage = run(cfg)
    result = json.loads((tmp_path / "m" / "measure.json").read_text())
    assert stage.metrics["chars_per_token"] == result["chars_per_token"]
    assert stage.outputs["measure"] == str(tmp_path / "m" / "measure.json")
    assert (tmp_path / "m" / "measure.md").read_text().startswith("| text |")
    hf = load_hf(out)
    texts = ja_texts[:60]
    tokens = sum(len(hf.encode(t, add_special_tokens=False).ids) for t in texts)
    assert result["documents"] == 60 and result["tokens"] == tokens
    assert result["chars_per_token"] == pytest.approx(sum(map(len, texts)) / tokens)
    assert result["bytes_per_token"] == pytest.approx(sum(len(t.encode()) for t in texts) / tokens)
    assert 1.0 < result["fertility"] < 2.0 and 0 < result["split_morpheme_share"] < 0.5
    assert 0 < result["vocab_utilisation"] <= 1 and result["unknown_rate"] == 0


def test_fallback_and_unknown_rates(tmp_path, trained, trainer_settings, small_shard):
    from jaforge.tokenizer import TokenizerConfig
    from jaforge.tokenizer import run as train

    rare = [("ja", "😀😀")]
    with_fallback = measure_texts(load_hf(trained("unigram")), rare, morphology=False)
    assert with_fallback["byte_fallback_rate"] == 1.0 and with_fallback["tokens"] == 8
    train(TokenizerConfig(sources=[SourceConfig(paths=[str(small_shard)])], output_dir=str(tmp_path / "t"),
                          trainer=trainer_settings(algorithm="bpe", byte_fallback=False)))
    without = measure_texts(load_hf(tmp_path / "t"), rare + [("ja", "ニュース")], morphology=False)
    assert without["byte_fallback_rate"] == 0 and without["unknown_rate"] > 0


def test_sentencepiece_file_and_tokenizer_json_measure_alike(trained, ja_shard):
    out = trained("bpe")
    sources = [SourceConfig(paths=[str(ja_shard)])]
    by_model = measure(out / "tokenizer.model", sources, morphology=False, max_docs=30)
    by_json = measure(out / "tokenizer.json", sources, morphology=False, max_docs=30)
    assert by_model["tokens"] == by_json["tokens"] > 0


def test_per_language_breakdown(trained, ja_shard, en_clean):
    sources = [SourceConfig(paths=[str(ja_shard)]),
               SourceConfig(name="en", language="en", paths=[str(en_clean)])]
    result = measure(trained("unigram"), sources, morphology=False, max_docs=10)
    assert set(result["per_language"]) == {"ja", "en"}
    assert result["per_language"]["ja"]["documents"] == 10
    assert result["tokens"] == sum(m["tokens"] for m in result["per_language"].values())
