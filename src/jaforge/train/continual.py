"""Continual pretraining: start from a jaforge checkpoint/model dir or a Hugging Face Llama dir, grow
the vocabulary for an expanded tokenizer, and settle which model is actually trained.

    model_cfg = trained_model_config(cfg)          # the base's architecture + what the config may change
    model = initial_model(cfg.trainer, model_cfg)  # the base's weights (grown by trainer.expansion)

The base fixes the architecture: a `model.*` key set to another value than the base's is an error
naming both; `dropout`, `z_loss` and `moe_aux_loss` are this run's; `max_seq_len` may grow (RoPE:
by linear position interpolation, or plainly extended). With `expansion.json` (written by
`jaforge tokenizer-expand`) each new token's embedding row (and output row when untied) starts as
the mean of the base model's rows for its `old_ids`, the new token's text encoded by the base
tokenizer, times `trainer.new_rows_init_scale`; the base must have exactly the expansion's
`base_vocab_size` rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from jaforge.errors import ConfigError, InputError, input_errors
from jaforge.model import ModelConfig
from jaforge.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_model
from jaforge.model.checkpoint import load_config as load_model_config
from jaforge.model.hf import HFExportError, config_from_llama, import_hf
from jaforge.model.transformer import Transformer
from jaforge.train.checkpoint import latest_checkpoint, step_dirs
from jaforge.train.config import PretrainConfig, TrainerConfig
from jaforge.train.data import token_vocab_size
from jaforge.train.objectives import UL2_SENTINELS
from jaforge.train.state_files import safetensors_errors

log = logging.getLogger(__name__)

# How the model is trained, not what it is: taken from this run's config.
FREE_KEYS = ("dropout", "z_loss", "moe_aux_loss")
# Keys derived from others when unset: a conflict in their source is the one worth naming.
DERIVED = {"n_kv_head": ("n_head",), "head_dim": ("d_model", "n_head"),
           "d_ff": ("d_model", "activation", "ffn_multiple_of")}


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


def base_config(path: str | Path, key: str = "trainer.init_from") -> ModelConfig:
    """The ModelConfig of the model in a jaforge or Hugging Face directory (its weights unread)."""
    kind, directory = find_model_dir(path, key)
    if kind == "hf":
        with input_errors(directory / "config.json", "a Hugging Face Llama config.json"):
            data = json.loads((directory / "config.json").read_text("utf-8"))
        try:
            return config_from_llama(data)
        except (HFExportError, KeyError) as err:
            raise InputError(directory / "config.json", f"{key}: {err}") from None
    with input_errors(directory / CONFIG_NAME, "a jaforge model config"):
        return load_model_config(directory)


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
    """expansion.json, checked: a base size and new tokens with an id and old ids below it."""
    with input_errors(path, "an expansion.json of `jaforge tokenizer-expand`"):
        data = json.loads(Path(path).read_text("utf-8"))
    if not isinstance(data, dict):
        raise InputError(path, "expansion.json should be a JSON object")
    for key in ("base_vocab_size", "new_tokens"):
        if key not in data:
            raise InputError(path, f"expansion.json has no '{key}'")
    base = data["base_vocab_size"]
    for i, token in enumerate(data["new_tokens"]):
        ok = isinstance(token, dict) and isinstance(token.get("id"), int) and token["id"] >= base \
            and isinstance(token.get("old_ids"), list) and token["old_ids"] \
            and all(isinstance(j, int) and 0 <= j < base for j in token["old_ids"])
        if not ok:
            raise InputError(path, f"new_tokens[{i}] should have an 'id' >= base_vocab_size {base} "
                                   f"and non-empty 'old_ids' below it, got {token!r}")
    return data


def expanded_vocab_size(plan: dict) -> int:
    return max([t["id"] + 1 for t in plan["new_tokens"]] + [plan["base_vocab_size"]])


def check_expansion_fits(plan: dict, rows: int, t: TrainerConfig) -> None:
    """The base model must be the one the tokenizer was expanded from: as many rows as its tokens."""
    if rows != plan["base_vocab_size"]:
        raise ConfigError(
            f"trainer.expansion: {t.expansion} expands a tokenizer of {plan['base_vocab_size']} tokens, "
            f"but the trainer.init_from model ({t.init_from}) has {rows} embedding rows; expand this "
            f"model's own tokenizer (tokenizer-expand --base_tokenizer <its tokenizer>), or leave "
            f"trainer.expansion out if the model was already expanded")


def check_fixed_keys(given: ModelConfig, base: ModelConfig, grown: ModelConfig, init_from: str) -> None:
    """model.* keys set (unequal to the default) to another value than the base's are an error."""
    default = ModelConfig()
    conflicts = {}
    for f in fields(ModelConfig):
        name, value = f.name, getattr(given, f.name)
        if name in FREE_KEYS or name == "max_seq_len" or value in (getattr(default, name), getattr(grown, name)):
            continue
        if name == "vocab_size" and value == base.vocab_size:
            continue  # the base's own size, grown by trainer.expansion
        conflicts[name] = (value, getattr(grown, name))
    for name, sources in DERIVED.items():
        if name in conflicts and any(s in conflicts for s in sources):
            del conflicts[name]
    if conflicts:
        listed = ", ".join(f"model.{k} {v!r} (the base has {b!r})" for k, (v, b) in conflicts.items())
        raise ConfigError(f"{listed}: trainer.init_from ({init_from}) fixes the architecture of the "
                          f"model it loads; leave these keys out or give the base's values (this run "
                          f"may change model.{', model.'.join(FREE_KEYS)} and model.max_seq_len)")


def trained_context(given: ModelConfig, base: ModelConfig, needed: int, t: TrainerConfig) -> dict[str, Any]:
    """max_seq_len (and rope_scale) of the trained model: the base's, or a longer context."""
    wanted = given.max_seq_len
    if wanted == ModelConfig().max_seq_len and needed <= base.max_seq_len:
        wanted = base.max_seq_len  # the default counts as unset while the base's context suffices
    if wanted == base.max_seq_len:
        return {}
    if base.position == "learned":
        raise ConfigError(f"model.max_seq_len {wanted}: the base ({t.init_from}) has a learned position "
                          f"table of {base.max_seq_len} rows, which cannot change size")
    if wanted > base.max_seq_len and base.position == "rope" and t.context_extension == "interpolate":
        scale = base.rope_scale * wanted / base.max_seq_len
        log.info("context %d → %d by RoPE position interpolation (rope_scale %g)", base.max_seq_len,
                 wanted, scale)
        return {"max_seq_len": wanted, "rope_scale": scale}
    log.info("context %d → %d (positions %s)", base.max_seq_len, wanted,
             "extended, angles unchanged" if base.position == "rope" else "unchanged")
    return {"max_seq_len": wanted}


def trained_model_config(cfg: PretrainConfig) -> ModelConfig:
    """The model this run trains: `cfg.model`, or with init_from the base's architecture (vocabulary
    grown by the expansion) with this config's dropout, z_loss, moe_aux_loss and context."""
    t = cfg.trainer
    if t.init_from is None:
        if t.expansion:
            raise ConfigError("trainer.expansion needs trainer.init_from (the base model)")
        if cfg.model.vocab_size == "auto":
            extra = UL2_SENTINELS if t.objective == "ul2" else 0
            return replace(cfg.model, vocab_size=token_vocab_size(cfg.data) + extra)
        return cfg.model
    base = base_config(t.init_from)
    grown = base
    if t.expansion:
        plan = read_expansion(t.expansion)
        check_expansion_fits(plan, base.vocab_size, t)
        grown = replace(base, vocab_size=expanded_vocab_size(plan))
    elif t.new_rows_lr is not None or t.freeze_old_rows_steps or t.new_rows_init_scale != 1.0:
        raise ConfigError("trainer.new_rows_lr, trainer.freeze_old_rows_steps and "
                          "trainer.new_rows_init_scale need trainer.expansion (the new rows)")
    given = cfg.model if cfg.model.vocab_size != "auto" else replace(cfg.model, vocab_size=grown.vocab_size)
    check_fixed_keys(given, base, grown, t.init_from)
    free = {name: getattr(cfg.model, name) for name in FREE_KEYS}
    return replace(grown, **free, **trained_context(cfg.model, grown, cfg.data.seq_len + 1, t))


def expand_vocabulary(model: torch.nn.Module, expansion: dict, target: torch.nn.Module,
                      scale: float = 1.0) -> None:
    """Fill `target` (the grown model) from `model`: the base rows, then each new row the mean of
    its old-subword rows times `scale`; every other weight as it is."""
    base = expansion["base_vocab_size"]
    state = model.state_dict()
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            source = state[name]
            if source.shape == tensor.shape:
                tensor.copy_(source)
            else:
                tensor[:base].copy_(source[:base])
                for token in expansion["new_tokens"]:
                    tensor[token["id"]] = source[token["old_ids"]].mean(dim=0) * scale


def initial_model(t: TrainerConfig, model_cfg: ModelConfig) -> torch.nn.Module:
    """A fresh model of `model_cfg`, or the base model of `t.init_from` (grown by `t.expansion`)
    as `model_cfg` (from `trained_model_config`) describes it."""
    if t.init_from is None:
        return Transformer(model_cfg)
    model, cfg = load_base(t.init_from)
    if not t.expansion and cfg == model_cfg:
        return model
    target = Transformer(model_cfg)
    if t.expansion:
        plan = read_expansion(t.expansion)
        check_expansion_fits(plan, cfg.vocab_size, t)
        expand_vocabulary(model, plan, target, t.new_rows_init_scale)
    else:
        target.load_state_dict(model.state_dict())
    return target


def row_norms(model: torch.nn.Module, base_rows: int) -> dict[str, float]:
    """Mean L2 norm of the embedding's old and new rows (new rows that start far larger than the
    old ones dominate the first steps; trainer.new_rows_init_scale shrinks them)."""
    with torch.no_grad():
        norms = model.tok_embeddings.weight.float().norm(dim=-1)
    return {"old_row_norm": norms[:base_rows].mean().item(),
            "new_row_norm": norms[base_rows:].mean().item() if len(norms) > base_rows else None}
