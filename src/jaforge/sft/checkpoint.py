"""Resumable sft checkpoints: only the trained weights (the LoRA matrices, or every weight in full
tuning), the optimiser and schedule state, the step and the RNG states.

    <output_dir>/checkpoints/step-00000040/
        trainable.safetensors   weights with requires_grad, by jaforge name
        trainer_state.pt        optimiser, schedule, step
        rng.pt                  python, numpy and torch RNG states

Written into a hidden temp directory and renamed into place (a kill leaves the previous complete
checkpoints); the layout and the helpers (`latest_checkpoint`, `resolve_resume`, RNG states) are
those of the pretrain stage's checkpoints.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from jaforge.train.checkpoint import checkpoint_root, rng_state, set_rng_state, step_dirs

WEIGHTS = "trainable.safetensors"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_sft_checkpoint(output_dir: str | Path, step: int, model: torch.nn.Module,
                        trainer_state: dict[str, Any], keep_last: int) -> Path:
    from safetensors.torch import save_file

    root = checkpoint_root(output_dir)
    tmp = root / f".tmp-step-{step:08d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / WEIGHTS))
    torch.save({**trainer_state, "step": step}, tmp / "trainer_state.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    for path in tmp.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    final = root / f"step-{step:08d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in step_dirs(output_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_sft_checkpoint(path: str | Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load the trained weights into `model` and restore the RNG states; returns the trainer state."""
    from safetensors.torch import load_file

    path = Path(path)
    weights = load_file(str(path / WEIGHTS))
    expected = set(trainable_state(model))
    if set(weights) != expected:
        missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ValueError(f"{path}: the checkpoint does not fit this run's trainable weights; "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return torch.load(path / "trainer_state.pt", weights_only=False)
