"""Save and load a jaforge model: `model.safetensors` (weights) + `model_config.json` (ModelConfig).

    save_model(model, cfg, "runs/pretrain/final")
    model, cfg = load_model("runs/pretrain/final")

Each file is written under a temporary name and renamed into place, so a crash never leaves a
half-written file; the config is written last, so a directory with `model_config.json` holds
complete weights. Tied output heads are stored once (as the token embedding).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Union

import torch

from jaforge.config import build
from jaforge.errors import InputError, input_errors
from jaforge.extras import require
from jaforge.model.config import ModelConfig
from jaforge.model.transformer import Transformer

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "model_config.json"
TIED_HEAD = "lm_head.weight"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def model_state(model: Transformer) -> dict[str, torch.Tensor]:
    """The state dict with tied tensors stored once and every tensor contiguous (safetensors)."""
    state = model.state_dict()
    if model.config.tie_embeddings:
        state.pop(TIED_HEAD, None)
    return {name: t.detach().contiguous() for name, t in state.items()}


def save_model(model: Transformer, cfg: ModelConfig, directory: Union[str, Path]) -> Path:
    """Write the weights and the config into `directory` (created if needed)."""
    safetensors_torch = require("safetensors.torch", "hf", "saving model weights")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS_NAME, safetensors_torch.save(model_state(model)))
    config_text = json.dumps(dataclasses.asdict(cfg), indent=1)
    atomic_write_bytes(directory / CONFIG_NAME, config_text.encode("utf-8"))
    return directory


def load_config(directory: Union[str, Path]) -> ModelConfig:
    """The ModelConfig saved in `directory`."""
    path = Path(directory) / CONFIG_NAME
    if not path.exists():
        raise InputError(path, f"not found: not a jaforge model directory (expected {WEIGHTS_NAME} "
                               f"+ {CONFIG_NAME})")
    with input_errors(path, "a jaforge model_config.json"):
        data = json.loads(path.read_text("utf-8"))
    return build(ModelConfig, data, source=str(path))


def load_model(directory: Union[str, Path], device: Union[str, torch.device] = "cpu"
               ) -> tuple[Transformer, ModelConfig]:
    """Rebuild the model saved in `directory` and load its weights (strictly)."""
    safetensors_torch = require("safetensors.torch", "hf", "loading model weights")
    cfg = load_config(directory)
    model = Transformer(cfg)
    weights = Path(directory) / WEIGHTS_NAME
    with input_errors(weights, "a jaforge model's weights"):
        state = safetensors_torch.load_file(str(weights), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k == TIED_HEAD and cfg.tie_embeddings)]
    if missing or unexpected:
        raise InputError(weights, f"the weights do not match {CONFIG_NAME}; missing {missing[:5]}, "
                                  f"unexpected {unexpected[:5]}")
    return model.to(device), cfg
