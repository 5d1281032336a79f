"""Training text: shard discovery, every document, mixture weights, line cutting."""

from __future__ import annotations

import pytest

from jaforge.errors import InputError

from jaforge.tokenizer.config import SourceConfig
from jaforge.tokenizer.sources import (cut_line, documents, repeats, shard_paths, training_lines,
                                       weighted_documents)


def test_shard_paths_finds_corpus_output_folders_files_and_globs(tmp_path, make_shard):
    make_shard(tmp_path / "corpus", ["a"])
    (tmp_path / "loose.jsonl").write_text('{"text": "b"}\n')
    assert [p.name for p in shard_paths([str(tmp_path / "corpus")])] == ["part-00000.jsonl.gz"]
    assert len(shard_paths([str(tmp_path / "*.jsonl"), str(tmp_path / "corpus")])) == 2
    with pytest.raises(InputError, match="no shards found"):
        shard_paths([str(tmp_path / "nothing-*")])


def test_documents_streams_every_document(tmp_path, make_shard, ja_texts):
    make_shard(tmp_path / "c", ja_texts)
    got = [text for _, text in documents([SourceConfig(paths=[str(tmp_path / "c")])])]
    assert got == ja_texts


def test_mixture_weights_repeat_and_thin_deterministically(tmp_path, make_shard):
    make_shard(tmp_path / "a", [f"a{i}" for i in range(1000)])
    make_shard(tmp_path / "b", [f"b{i}" for i in range(100)])
    sources = [SourceConfig(name="a", paths=[str(tmp_path / "a")], weight=0.25),
               SourceConfig(name="b", paths=[str(tmp_path / "b")], weight=2.0)]
    texts = [t for _, t in weighted_documents(sources)]
    a_count = sum(t.startswith("a") for t in texts)
    assert 200 <= a_count <= 300
    assert sum(t.startswith("b") for t in texts) == 200
    assert texts == [t for _, t in weighted_documents(sources)]
    half = SourceConfig(name="x", weight=1.5)
    assert {repeats(half, i) for i in range(100)} == {1, 2}


def test_training_lines_split_cut_and_count(tmp_path, make_shard, trainer_settings):
    make_shard(tmp_path / "c", ["一行目\n\n二行目", "x" * 50])
    stats = {}
    lines = list(training_lines([SourceConfig(paths=[str(tmp_path / "c")])],
                                trainer_settings(max_sentence_bytes=20), stats))
    assert lines == ["一行目", "二行目", "x" * 20, "x" * 20, "x" * 10]
    assert stats["ja"] == {"documents": 2, "lines": 5, "chars": 58}
    assert list(cut_line("あいう", 7)) == ["あい", "う"]  # never inside a character


def test_fugashi_segmentation_only_touches_japanese_sources(tmp_path, make_shard, trainer_settings):
    pytest.importorskip("fugashi", reason="the 'ja' extra is not installed")
    from jaforge.tokenizer.sources import PRETOKENIZATION_DELIMITER as MARK

    make_shard(tmp_path / "ja", ["今日は晴れです。"])
    make_shard(tmp_path / "en", ["It is sunny today."])
    sources = [SourceConfig(paths=[str(tmp_path / "ja")]),
               SourceConfig(name="en", language="en", paths=[str(tmp_path / "en")])]
    ja, en = training_lines(sources, trainer_settings(pretokenize="fugashi"))
    assert ja.split(MARK) == ["今日", "は", "晴れ", "です", "。"]
    assert en == "It is sunny today."
