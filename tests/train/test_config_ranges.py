"""Every train/sft/model config field declares its range: out-of-range values are refused naming
the key, from YAML or the command line (load_config) and from configs built in code (run)."""

import dataclasses
import re
import subprocess
import sys

import pytest

from jaforge.config import describe, load_config
from jaforge.errors import ConfigError
from jaforge.model import ModelConfig
from jaforge.sft.config import SFTConfig
from jaforge.train.config import PretrainConfig
from jaforge.tokenizer.tokenize_data import TokenizeDataConfig
from jaforge.train.trainer import run

PRETRAIN = [("trainer.batch_size", "0"), ("trainer.micro_batch_size", "0"), ("data.seq_len", "0"),
            ("trainer.max_steps", "0"), ("trainer.max_steps", "-5"), ("model.n_head", "0"),
            ("model.n_layer", "0"), ("model.vocab_size", "0"), ("model.d_ff", "0"),
            ("model.head_dim", "-1"), ("model.dropout", "1.0"), ("optim.lr", "0"),
            ("optim.betas", "[0.9, 1.5]"), ("optim.weight_decay", "-0.1"),
            ("schedule.warmup_steps", "-1"), ("schedule.min_lr_ratio", "1.5"),
            ("trainer.checkpoint_every", "-1"), ("trainer.log_every", "0"), ("trainer.eval_every", "-1"),
            ("trainer.keep_last", "-1"), ("trainer.grad_clip", "-1"), ("trainer.threads", "-2"),
            ("trainer.eval_batches", "0"), ("data.datasets", "[]"), ("data.datasets", "[{weight: -1}]")]
SFT = [("trainer.max_steps", "-1"), ("trainer.batch_size", "0"), ("data.seq_len", "0"), ("lora.r", "0"),
       ("lora.dropout", "1"), ("dpo.beta", "0"), ("data.eval_fraction", "1.0"),
       ("data.sources", "[{ratio: 0}]"), ("data.sources", "[{epochs: 0}]"), ("eval.batch_size", "0"),
       ("eval.max_new_tokens", "0"), ("optim.lr", "-1")]


@pytest.mark.parametrize("cls, key, value", [(PretrainConfig, k, v) for k, v in PRETRAIN]
                         + [(SFTConfig, k, v) for k, v in SFT]
                         + [(TokenizeDataConfig, "val_fraction", "1.5"), (TokenizeDataConfig, "workers", "0")])
def test_out_of_range_values_are_refused_naming_the_key(cls, key, value):
    named = re.escape(key) + r"(\[\d\]\.?\w*)?'"  # a list item is named with its index
    with pytest.raises(ConfigError, match=f"'{named}.*out of range|'{named}.*at least"):
        load_config(cls, None, [(key, value)])


def test_the_defaults_are_in_range():
    for cls in (PretrainConfig, SFTConfig, TokenizeDataConfig, ModelConfig):
        load_config(cls)
    assert load_config(SFTConfig).trainer.max_steps == 0  # sft: 0 = one pass over the mixture


def test_a_config_built_in_code_is_checked_when_it_runs(tmp_path):
    cfg = PretrainConfig(output_dir=str(tmp_path / "run"))
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, batch_size=0))
    with pytest.raises(ConfigError, match="'trainer.batch_size'"):
        run(cfg)
    assert not (tmp_path / "run").exists()  # refused before the directory is made


def test_the_command_line_names_the_key_in_one_line():
    done = subprocess.run([sys.executable, "-m", "jaforge.cli", "pretrain", "--trainer.batch_size", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("jaforge pretrain: 'trainer.batch_size' in overrides: 0 is out of "
                                   "range: must be >= 1")


def test_help_lists_inherited_fields_with_their_documentation():
    lines = describe(SFTConfig)
    assert any(line.startswith("  --trainer.device (str, default 'auto'): auto") for line in lines)
    assert any(line.startswith("  --trainer.max_steps (int, >= 0, default 0): Optimiser steps; 0: one pass")
               for line in lines)
