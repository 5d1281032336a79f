"""Sweeping vocabulary sizes and algorithms: one tokenizer per point, a table and plots."""

from __future__ import annotations

import csv

import pytest

from jaforge.config import ConfigError, load_config

from jaforge.tokenizer import SourceConfig, SweepConfig
from jaforge.tokenizer.sweep import run

SKIP_REASON = "the 'tokenizer' extra (sentencepiece, tokenizers) is not installed"
spm = pytest.importorskip("sentencepiece", reason=SKIP_REASON)
pytest.importorskip("tokenizers", reason=SKIP_REASON)


def test_sweep_writes_table_points_and_plots(tmp_path, small_shard, trainer_settings):
    pytest.importorskip("matplotlib", reason="the 'plot' extra is not installed")
    cfg = SweepConfig(sources=[SourceConfig(paths=[str(small_shard)])], morphology=False,
                      trainer=trainer_settings(), vocab_sizes=[1500, 2500],
                      algorithms=["bpe", "hf_bpe"], output_dir=str(tmp_path / "sweep"))
    result = run(cfg)
    out = tmp_path / "sweep"
    table = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    rows = [{**r, "chars_per_token": float(r["chars_per_token"])} for r in table]
    assert result.metrics["points"] == 4 and result.outputs["results"] == str(out / "results.csv")
    assert [(r["algorithm"], int(r["vocab_size"])) for r in table] == \
        [("bpe", 1500), ("bpe", 2500), ("hf_bpe", 1500), ("hf_bpe", 2500)]
    for algorithm in ("bpe", "hf_bpe"):
        small, large = [r for r in rows if r["algorithm"] == algorithm]
        assert large["chars_per_token"] > small["chars_per_token"]
        assert (out / "points" / f"{algorithm}-2500" / "tokenizer.json").exists()
    assert (out / "points" / "bpe-1500" / "tokenizer.model").exists()
    assert (out / "chars_per_token.png").stat().st_size > 1000
    assert "| bpe | 1500 |" in (out / "results.md").read_text()


def test_unknown_algorithm_is_refused(tmp_path, small_shard):
    with pytest.raises(ConfigError, match="'algorithms\\[0\\]'.*'wordpiece' is not one of"):
        load_config(SweepConfig, None, [("sources", f"[{{paths: [{small_shard}]}}]"),
                                        ("algorithms", "[wordpiece]")])
