"""The stage configs load from YAML (the recipe too) and document every field for --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaforge.config import ConfigError, describe, load_config
from jaforge.tokenizer import ExpandConfig, MeasureConfig, SweepConfig, TokenizerConfig

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tokenizer-tiny.yaml"


def test_recipe_loads_with_a_newline_symbol():
    cfg = load_config(TokenizerConfig, RECIPE)
    assert cfg.trainer.user_defined_symbols == ["\n"]
    assert [s.name for s in cfg.sources] == ["ja", "en"] and cfg.sources[1].weight == 0.5


@pytest.mark.parametrize("cls", [TokenizerConfig, MeasureConfig, SweepConfig, ExpandConfig])
def test_every_leaf_field_is_documented(cls):
    lines = describe(cls)
    assert lines and all("): " in line for line in lines), lines


def test_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="trainer.algorithm"):
        load_config(TokenizerConfig, overrides=[("trainer.algorithm", "unigarm")])
    with pytest.raises(ConfigError, match="did you mean 'hf_bpe'"):
        load_config(SweepConfig, overrides=[("algorithms", "[unigram, hf-bpe]")])


def test_recipe_trains_through_the_cli(tmp_path):
    pytest.importorskip("sentencepiece", reason="the 'tokenizer' extra is not installed")
    from jaforge.tokenizer import run

    cfg = load_config(TokenizerConfig, RECIPE, [("output_dir", str(tmp_path / "t")),
                                                ("trainer.vocab_size", "2500"),
                                                ("trainer.character_coverage", "0.98"),
                                                ("trainer.algorithm", "bpe")])
    result = run(cfg)
    assert result.metrics["vocab_size"] == 2500 and (tmp_path / "t" / "config.yaml").exists()
