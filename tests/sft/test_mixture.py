"""Mixtures: ratios and epochs set each source's share, the order is deterministic, held-out
examples never reach training; contamination is found by n-gram overlap."""

import json

import pytest

from jaforge.sft.config import SourceConfig
from jaforge.sft.contamination import eval_ngrams, overlapping
from jaforge.sft.mixture import build_mixture

from conftest import write_jsonl


def source(tmp_path, name, n):
    path = write_jsonl(tmp_path / f"{name}.jsonl", [
        {"instruction": f"{name}の指示{i}", "input": "", "output": f"{name}の答え{i}"} for i in range(n)])
    return path


def test_ratios_epochs_held_out_and_order(tmp_path):
    a, b = source(tmp_path, "a", 50), source(tmp_path, "b", 20)
    sources = [SourceConfig(name="a", path=str(a), format="llm_japanese", ratio=0.5, epochs=1),
               SourceConfig(name="b", path=str(b), format="llm_japanese", ratio=1.0, epochs=2.5)]
    mixture = build_mixture(sources, eval_fraction=0.1, eval_max=3, seed=1)
    assert {k: len(v) for k, v in mixture.held_out.items()} == {"a": 3, "b": 2}
    assert mixture.drawn == {"a": 24, "b": 18 + 18 + 9}              # round(47·0.5); 2.5 passes of 18
    assert sum(e.source == "b" for e in mixture.train) == 45
    held = {e.id for v in mixture.held_out.values() for e in v}
    assert not held & {e.id for e in mixture.train}
    again = build_mixture(sources, eval_fraction=0.1, eval_max=3, seed=1)
    assert [e.id for e in again.train] == [e.id for e in mixture.train]
    other = build_mixture(sources, eval_fraction=0.1, eval_max=3, seed=2)
    assert [e.id for e in other.train] != [e.id for e in mixture.train]
    first_epoch_b = [e.id for e in mixture.train if e.source == "b"]
    assert len(set(first_epoch_b)) == 18                                # every training example of b used


def test_bad_ratio_and_unknown_format(tmp_path):
    a = source(tmp_path, "a", 5)
    with pytest.raises(ValueError, match=r"data.sources\[0\].ratio"):
        build_mixture([SourceConfig(name="a", path=str(a), format="llm_japanese", ratio=1.5)], 0.1, 4, 0)
    with pytest.raises(KeyError, match="did you mean 'dolly_ja'"):
        build_mixture([SourceConfig(name="a", path=str(a), format="dolly_jp")], 0.1, 4, 0)


def test_contamination_finds_a_copied_eval_sentence(tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    sentence = "男性がスケートボードで坂道を下りながら大きく手を振っている。"
    (eval_dir / "valid.json").write_text(json.dumps({"sentence1": sentence, "label": "entailment"},
                                                    ensure_ascii=False) + "\n", encoding="utf-8")
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"instruction": f"要約して: {sentence}", "input": "", "output": "要約です。"},
        {"instruction": "富士山の高さは？", "input": "", "output": "3776メートルです。"}])
    mixture = build_mixture([SourceConfig(name="t", path=str(path), format="llm_japanese")], 0.0, 0, 0)
    report = overlapping(mixture.train, eval_ngrams([eval_dir], 20), 20)
    assert report["overlapping"] == 1 and report["ids"] == ["train-1"]


def test_the_embedded_sft_data_does_not_overlap_the_eval_samples():
    from jaforge.data import data_dir

    mixture = build_mixture([SourceConfig()], 0.0, 0, 0)
    assert overlapping(mixture.train, eval_ngrams([data_dir() / "eval"], 20), 20)["overlapping"] == 0
