"""Resumable training checkpoints: written without pickle, complete or recognisably not.

    <output_dir>/checkpoints/step-00000100/
        model/ | trainable.safetensors      the stage's weights (the stage writes and reads them)
        trainer_state.json (+ .safetensors) optimiser + schedule state, step, data position
        rng-rank0.json (+ .safetensors) …   python, numpy, torch (and CUDA) RNG states per process
        manifest.json                       size and SHA-256 of every other file, written last

A checkpoint is written into a hidden temp directory and renamed into place, so a kill leaves the
previous checkpoints or a complete new one. The manifest makes "complete" checkable after the
fact too (a disk that lost or cut a file): `latest_checkpoint` takes the newest checkpoint whose
files match their manifest and warns about each newer one that does not. Nothing here unpickles:
state is safetensors + JSON (`jaforge.train.state_files`); checkpoints of older jaforge versions
(pickled `.pt` files) are refused with a message, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from jaforge.errors import ConfigError, InputError
from jaforge.io.atomic import write_json
from jaforge.train.state_files import read_state, rng_state, set_rng_state, write_state

log = logging.getLogger(__name__)

STEP_DIR = re.compile(r"^step-(\d{8})$")
MANIFEST = "manifest.json"
FORMAT = "jaforge-checkpoint/1"
OLD_FORMAT_FILES = ("trainer_state.pt", "rng.pt", "rng-rank0.pt")


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dirs(output_dir: str | Path) -> list[Path]:
    """Every renamed-into-place checkpoint directory, oldest first (complete or not)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name))


def _tmp_dir(output_dir: str | Path, step: int) -> Path:
    return checkpoint_root(output_dir) / f".tmp-step-{step:08d}"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, step: int) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    entries = {str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": file_digest(p)}
               for p in files}
    write_json(directory / MANIFEST, {"format": FORMAT, "step": step, "files": entries}, fsync=True)


def damage(directory: Path) -> Optional[str]:
    """Why the checkpoint in `directory` cannot be resumed from, or None when it is complete."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        if any((directory / name).exists() for name in OLD_FORMAT_FILES):
            return ("written by an older jaforge in its pickle format (.pt files), which this version "
                    "does not load because unpickling a file can run code")
        return f"no {MANIFEST} (the checkpoint was never completed)"
    try:
        entries = json.loads(manifest.read_text("utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{MANIFEST} cannot be read ({type(err).__name__})"
    for name, entry in entries.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, the manifest says {entry['bytes']}"
        if file_digest(path) != entry["sha256"]:
            return f"{name} does not match its checksum"
    return None


def latest_checkpoint(output_dir: str | Path) -> Optional[Path]:
    """The newest complete checkpoint; a warning names each newer damaged one. None if there are
    no checkpoints; an InputError if there are some but none is complete."""
    dirs = step_dirs(output_dir)
    problems = []
    for directory in reversed(dirs):
        problem = damage(directory)
        if problem is None:
            return directory
        log.warning("checkpoint %s is damaged (%s); trying the one before it", directory, problem)
        problems.append(f"{directory.name}: {problem}")
    if dirs:
        raise InputError(checkpoint_root(output_dir), "no complete checkpoint to resume from ("
                         + "; ".join(problems) + "); remove them or start over with trainer.resume: never")
    return None


def resolve_resume(resume: str, output_dir: str | Path) -> Optional[Path]:
    """The checkpoint to continue from: `auto` → newest complete one in output_dir, `never` → none,
    else that directory (which must be complete)."""
    if resume == "never":
        return None
    if resume == "auto":
        return latest_checkpoint(output_dir)
    path = Path(resume)
    if not path.is_dir():
        raise ConfigError(f"trainer.resume: {path} is not a checkpoint directory (auto, never or a "
                          f"checkpoints/step-* directory)")
    problem = damage(path)
    if problem is not None:
        raise InputError(path, f"cannot resume from this checkpoint: {problem}")
    return path


def write_rank_state(output_dir: str | Path, step: int, rank: int) -> None:
    """Every process writes its RNG states into the temp directory (before `save_checkpoint`)."""
    tmp = _tmp_dir(output_dir, step)
    tmp.mkdir(parents=True, exist_ok=True)
    write_state(tmp, f"rng-rank{rank}", rng_state())


def save_checkpoint(output_dir: str | Path, step: int, write_weights: Callable[[Path], Any],
                    trainer_state: dict[str, Any], keep_last: int) -> Path:
    """Write the checkpoint of `step` (completed steps): weights, state, manifest last; rename it
    into place; drop all but the newest `keep_last` (0: keep all)."""
    tmp = _tmp_dir(output_dir, step)
    tmp.mkdir(parents=True, exist_ok=True)
    write_weights(tmp)
    write_state(tmp, "trainer_state", {**trainer_state, "step": step})
    _fsync_tree(tmp)
    write_manifest(tmp, step)
    final = checkpoint_root(output_dir) / f"step-{step:08d}"
    if final.exists():  # a previous attempt got this far and was killed after the rename
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    for old in step_dirs(output_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path: str | Path, rank: int = 0) -> dict[str, Any]:
    """The trainer state of a complete checkpoint; restores this process's RNG states."""
    path = Path(path)
    state = read_state(path, "trainer_state")
    rng = path / f"rng-rank{rank}.json"
    if rng.exists():  # resumed on more processes than wrote it: the new ranks keep their seeds
        set_rng_state(read_state(path, f"rng-rank{rank}"))
    return state


def remove_checkpoints(output_dir: str | Path, temporary_only: bool = False) -> int:
    """Delete every checkpoint and leftover temp directory of `output_dir` (or only the temp
    directories a killed save left); how many."""
    root = checkpoint_root(output_dir)
    found = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    found = [p for p in found if p.name.startswith(".tmp-")] if temporary_only else found
    for directory in found:
        shutil.rmtree(directory, ignore_errors=True)
    return len(found)


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
