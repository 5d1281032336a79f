"""Continual pretraining: start from a jaforge checkpoint/model dir or a Hugging Face Llama dir, and
grow the vocabulary for an expanded tokenizer.

    model, model_cfg = initial_model(trainer_cfg.init_from, model_cfg, trainer_cfg.expansion)

With `expansion.json` (written by `jaforge tokenizer expand`) each new token's embedding row (and
output row when untied) starts as the mean of the base model's rows for its `old_ids`, the new
token's text encoded by the base tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from jaforge.errors import ConfigError, InputError, input_errors
from jaforge.model import ModelConfig
from jaforge.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_model
from jaforge.model.checkpoint import load_config as load_model_config
from jaforge.model.hf import import_hf
from jaforge.model.transformer import Transformer
from jaforge.train.checkpoint import latest_checkpoint, step_dirs
from jaforge.train.state_files import safetensors_errors


def find_model_dir(path: str | Path, key: str = "trainer.init_from") -> tuple[str, Path]:
    """('jaforge' | 'hf', directory) for a run dir, checkpoint step dir, model dir or HF dir."""
    path = Path(path)
    if (path / "checkpoints").is_dir() and step_dirs(path):
        path = latest_checkpoint(path)
    for candidate in (path, path / "model"):
        if (candidate / CONFIG_NAME).exists():
            return "jaforge", candidate
    if (path / "config.json").exists():
        return "hf", path
    raise InputError(path, f"{key}: holds neither a jaforge model ({CONFIG_NAME}) nor a Hugging "
                           f"Face model (config.json)")


def load_base(path: str | Path, key: str = "trainer.init_from") -> tuple[torch.nn.Module, ModelConfig]:
    """The model in a jaforge or Hugging Face directory; an unreadable file is an InputError
    naming it."""
    kind, directory = find_model_dir(path, key)
    if kind == "hf":
        with safetensors_errors(directory, "a Hugging Face Llama model directory"):
            return import_hf(directory)
    with input_errors(directory / CONFIG_NAME, "a jaforge model config"):
        load_model_config(directory)
    with safetensors_errors(directory / WEIGHTS_NAME, "a jaforge model's weights"):
        return load_model(directory)


def read_expansion(path: str | Path) -> dict:
    with input_errors(path, "an expansion.json of `jaforge tokenizer-expand`"):
        data = json.loads(Path(path).read_text("utf-8"))
    for key in ("base_vocab_size", "new_tokens"):
        if key not in data:
            raise InputError(path, f"expansion.json has no '{key}'")
    return data


def expand_vocabulary(model: torch.nn.Module, cfg: ModelConfig, expansion: dict,
                      vocab_size: int) -> tuple[torch.nn.Module, ModelConfig]:
    """A model with `vocab_size` rows whose new rows are the means of their old-subword rows."""
    base = expansion["base_vocab_size"]
    if cfg.vocab_size < base:
        raise ConfigError(f"trainer.expansion: the base model has {cfg.vocab_size} rows but "
                          f"expansion.json's base vocabulary has {base}")
    new_cfg = replace(cfg, vocab_size=vocab_size)
    grown = Transformer(new_cfg)
    state = model.state_dict()
    with torch.no_grad():
        for name, target in grown.state_dict().items():
            source = state[name]
            if source.shape == target.shape:
                target.copy_(source)
            else:  # embedding / output rows: keep the base rows, then the mean of old-subword rows
                target[:base].copy_(source[:base])
                for token in expansion["new_tokens"]:
                    target[token["id"]] = source[token["old_ids"]].mean(dim=0)
    return grown, new_cfg


def initial_model(init_from: str | None, model_cfg: ModelConfig,
                  expansion: str | None) -> tuple[torch.nn.Module, ModelConfig]:
    """A fresh model from `model_cfg`, or the base model of `init_from` (grown by `expansion`)."""
    if init_from is None:
        if expansion:
            raise ConfigError("trainer.expansion needs trainer.init_from (the base model)")
        return Transformer(model_cfg), model_cfg
    model, cfg = load_base(init_from)
    if expansion:
        plan = read_expansion(expansion)
        needed = max([t["id"] + 1 for t in plan["new_tokens"]] + [plan["base_vocab_size"]])
        model, cfg = expand_vocabulary(model, cfg, plan, needed)
    return model, cfg
