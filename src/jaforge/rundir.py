"""One run per output directory: a lock held while a stage writes there, and the saved config a
resumed run must match.

    with open_run(cfg.output_dir, "pretrain", cfg, resuming=True, may_change=["trainer.max_steps"]):
        ...  # the stage writes into output_dir

`open_run` takes the directory's lock (a second run on the same directory fails at once, naming the
holder's pid and host; the lock of a dead process is free again, because the kernel releases it),
compares the config with the `config.yaml` a resumable earlier run left there and refuses any
change that alters the run's meaning, and only then writes the new `config.yaml`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from jaforge.config import load_yaml, save_config, to_dict
from jaforge.errors import ConfigError, RunDirError

try:
    import fcntl
except ImportError:  # not POSIX: no kernel locks; runs are not guarded
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".jaforge.lock"
_held: dict[Path, int] = {}  # lock path → open descriptor, for re-entry within one process


@contextlib.contextmanager
def run_lock(directory: str | Path, stage: str) -> Iterator[None]:
    """Hold `<directory>/.jaforge.lock` (flock) while the block runs; fails if another process has it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / LOCK_NAME).resolve()
    if fcntl is None or path in _held:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_holder(fd)
        os.close(fd)
        raise RunDirError(f"{directory} is in use by another run ({holder}); wait for it to finish "
                          f"or choose another output_dir") from None
    previous = _read_holder(fd)
    if previous != "unknown holder":
        log.debug("taking over the lock of %s (left by %s)", directory, previous)
    _write_holder(fd, stage)
    _held[path] = fd
    try:
        yield
    finally:
        del _held[path]
        os.close(fd)  # releases the flock; the file stays, so no other process races on its inode


def _write_holder(fd: int, stage: str) -> None:
    record = {"stage": stage, "pid": os.getpid(), "host": socket.gethostname(),
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"jaforge {record['stage']}, pid {record['pid']} on {record['host']} since {record['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown holder"


def flat_items(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}` (lists are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data}
    items: dict[str, Any] = {}
    for key, value in data.items():
        items.update(flat_items(value, f"{prefix}.{key}" if prefix else str(key)))
    return items


def changed_keys(saved: dict, new: dict, may_change: Iterable[str] = ()) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose value differs (old, new), leaving out `may_change` keys and their children."""
    allowed = tuple(may_change)
    old, now = flat_items(saved), flat_items(new)
    return {key: (old.get(key), now.get(key)) for key in sorted(set(old) | set(now))
            if old.get(key) != now.get(key)
            and not any(key == a or key.startswith(a + ".") for a in allowed)}


def check_unchanged(directory: str | Path, cfg: Any, may_change: Iterable[str] = ()) -> None:
    """Refuse to continue a run whose saved config differs in a key outside `may_change`."""
    saved_path = Path(directory) / "config.yaml"
    if not saved_path.exists():
        return
    try:
        saved = load_yaml(saved_path) or {}
    except ConfigError as err:
        raise RunDirError(f"{saved_path}: the saved config of the run there cannot be read ({err}); "
                          f"choose another output_dir or remove that run") from None
    changes = changed_keys(saved, to_dict(cfg), may_change)
    if changes:
        shown = "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in list(changes.items())[:8])
        more = f" (and {len(changes) - 8} more)" if len(changes) > 8 else ""
        raise RunDirError(f"{directory} holds a run with another config, which resuming would mix with "
                          f"this one: {shown}{more}. Use the saved config, choose another output_dir, "
                          f"start over with resume: never, or list keys that may change in "
                          f"resume_may_change")


@contextlib.contextmanager
def open_run(directory: str | Path, stage: str, cfg: Any, resuming: bool = False,
             may_change: Iterable[str] = (), write_config: bool = True) -> Iterator[Path]:
    """Lock `directory`, check a resumed run's config, write `config.yaml`; yields the directory."""
    directory = Path(directory)
    with run_lock(directory, stage):
        if resuming:
            check_unchanged(directory, cfg, may_change)
        if write_config:
            save_config(cfg, directory / "config.yaml")
        yield directory
