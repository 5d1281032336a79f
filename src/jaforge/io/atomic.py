"""Atomic writes: a file is written beside its final name and renamed into place, so a crash leaves
the old file or the new one, never half of one. JSON never holds NaN or infinity (not JSON): they
are written as null.

    write_json(out / "stats.json", stats)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import yaml


def finite(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_bytes(path: str | Path, data: bytes, fsync: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_text(path: str | Path, text: str, fsync: bool = False) -> Path:
    return write_bytes(path, text.encode("utf-8"), fsync)


def write_json(path: str | Path, data: Any, indent: int | None = 1, fsync: bool = False) -> Path:
    text = json.dumps(finite(data), ensure_ascii=False, indent=indent, allow_nan=False, default=str)
    return write_text(path, text + "\n", fsync)


def write_yaml(path: str | Path, data: Any) -> Path:
    return write_text(path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
