"""Resumable training checkpoints: model, optimiser, schedule, RNG states, data position, step.

    <output_dir>/checkpoints/step-00000100/
        model/               model.safetensors + model_config.json (jaforge.model.checkpoint.save_model)
        trainer_state.pt     optimiser + schedule state, step, data position (= step), metrics so far
        rng-rank0.pt …       python, numpy and torch RNG states of each process

A checkpoint is written into a hidden temp directory and renamed into place, so a run killed at
any moment leaves either the previous checkpoints or a complete new one; `latest_checkpoint` only
sees complete ones. The model is saved apart from the training state, as an exported model would be.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

STEP_DIR = re.compile(r"^step-(\d{8})$")


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    dirs = step_dirs(output_dir)
    return dirs[-1] if dirs else None


def _tmp_dir(output_dir: str | Path, step: int) -> Path:
    return checkpoint_root(output_dir) / f".tmp-step-{step:08d}"


def write_rank_state(output_dir: str | Path, step: int, rank: int) -> None:
    """Every process writes its own RNG states into the temp directory (before `save_checkpoint`)."""
    tmp = _tmp_dir(output_dir, step)
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), tmp / f"rng-rank{rank}.pt")


def save_checkpoint(output_dir: str | Path, step: int, model: torch.nn.Module, model_cfg: Any,
                    trainer_state: dict[str, Any], keep_last: int) -> Path:
    """Write the checkpoint of `step` (completed steps) atomically; drop all but the last K."""
    from jaforge.model.checkpoint import save_model

    tmp = _tmp_dir(output_dir, step)
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, model_cfg, tmp / "model")
    torch.save({**trainer_state, "step": step}, tmp / "trainer_state.pt")
    _fsync_tree(tmp)
    final = checkpoint_root(output_dir) / f"step-{step:08d}"
    if final.exists():  # a previous attempt got this far and was killed after the rename
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    for old in step_dirs(output_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, model: torch.nn.Module, rank: int = 0) -> dict[str, Any]:
    """Load weights into `model`, restore this process's RNG states; returns the trainer state."""
    from safetensors.torch import load_file

    from jaforge.model.checkpoint import TIED_HEAD, WEIGHTS_NAME

    path = Path(path)
    weights = load_file(str(path / "model" / WEIGHTS_NAME))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if k != TIED_HEAD]  # a tied head is stored once, as the embedding
    if missing or unexpected:
        raise ValueError(f"{path}: the checkpoint does not fit the configured model; "
                         f"missing {missing}, unexpected {unexpected}")
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    rng_file = path / f"rng-rank{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return state


def resolve_resume(resume: str, output_dir: str | Path) -> Path | None:
    """The checkpoint to continue from: `auto` → newest in output_dir, `never` → none, else a path."""
    if resume == "never":
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    path = Path(resume)
    if not (path / "trainer_state.pt").exists():
        raise FileNotFoundError(f"trainer.resume: {path} is not a checkpoint (no trainer_state.pt)")
    return path


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
