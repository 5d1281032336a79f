"""Token shards without the `bos` flag (written by older tokenize-data) are flagged, and a mixture of
datasets with and without BOS is refused unless data.allow_mixed_bos says so."""

import json
import logging
import shutil

import pytest
import torch

from jaforge.config import build
from jaforge.errors import ConfigError
from jaforge.train.config import PretrainConfig
from jaforge.train.trainer import run

from .tiny_setup import tiny_run_config

torch.set_num_threads(1)


def with_meta(token_dir, target, **changes):
    shutil.copytree(token_dir, target)
    meta = json.loads((target / "meta.json").read_text())
    meta.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        meta.pop(key)
    (target / "meta.json").write_text(json.dumps(meta))
    return target


def short_run(token_dirs, out, **data):
    cfg = tiny_run_config(token_dirs, out, max_steps=1, eval_every=0)
    cfg["data"].update(data)
    return run(build(PretrainConfig, cfg))


def test_shards_without_the_flag_warn_and_are_recorded(token_dirs, tmp_path, caplog):
    old = {"ja": with_meta(token_dirs["ja"], tmp_path / "ja", bos=None),
           "en": with_meta(token_dirs["en"], tmp_path / "en", bos=None)}
    with caplog.at_level(logging.WARNING):
        result = short_run(old, tmp_path / "run")
    assert result.metrics["bos"] == {"ja": None, "en": None}
    assert "meta.json has no 'bos'" in caplog.text


def test_a_mixture_with_and_without_bos_is_refused_unless_allowed(token_dirs, tmp_path):
    mixed = {"ja": token_dirs["ja"], "en": with_meta(token_dirs["en"], tmp_path / "en", bos=False)}
    with pytest.raises(ConfigError, match="allow_mixed_bos"):
        short_run(mixed, tmp_path / "refused")
    result = short_run(mixed, tmp_path / "allowed", allow_mixed_bos=True)
    assert result.metrics["bos"] == {"ja": True, "en": False}
