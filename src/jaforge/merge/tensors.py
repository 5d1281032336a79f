"""Safetensors in and out, one tensor at a time: what lets a merge run in about one tensor per input.

    weights = TensorFiles.open("runs/hf")                 # model.safetensors or sharded + index
    weights.names(); weights.info("model.norm.weight")   # (dtype, shape) from the headers alone
    t = weights.read("model.norm.weight")                # just this tensor

    with ShardWriter(out, [(name, dtype, shape), …], max_shard_bytes=5 * 10**9) as writer:
        for name, …: writer.write(name, tensor)           # in the planned order

Reading opens the shard that holds a tensor for that read only (safetensors' `safe_open`), so no
input file stays mapped. Writing streams: every output tensor's dtype and shape is known before
the merge, so each shard's header is written first and each tensor's bytes follow as soon as it
is computed; nothing is held back for a shard. Shards are written under temporary names and
renamed only when all of them are complete (a crash leaves no half-written model).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from jaforge.errors import InputError, input_errors
from jaforge.extras import require
from jaforge.io.atomic import write_json

# safetensors' dtype names (https://github.com/huggingface/safetensors, format section)
DTYPE_NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
               torch.uint8: "U8", torch.bool: "BOOL"}
DTYPES_BY_NAME = {v: k for k, v in DTYPE_NAMES.items()}
INDEX_NAME = "model.safetensors.index.json"


@dataclass(frozen=True)
class TensorInfo:
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * torch.empty((), dtype=self.dtype).element_size()


class TensorFiles:
    """The tensors of one checkpoint directory (one file or shards), read lazily by name."""

    def __init__(self, directory: Path, files: dict[str, Path], infos: dict[str, TensorInfo]):
        self.directory, self._files, self._infos = directory, files, infos

    @classmethod
    def open(cls, directory: str | Path, weights_name: str = "") -> "TensorFiles":
        """Index the safetensors files of `directory` (reading only their headers)."""
        directory = Path(directory)
        paths = ([directory / weights_name] if weights_name else _weight_files(directory))
        files: dict[str, Path] = {}
        infos: dict[str, TensorInfo] = {}
        for path in paths:
            for name, info in read_header(path).items():
                files[name], infos[name] = path, info
        return cls(directory, files, infos)

    def names(self) -> list[str]:
        return list(self._infos)

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def info(self, name: str) -> TensorInfo:
        return self._infos[name]

    def read(self, name: str) -> torch.Tensor:
        """One tensor, read from its shard (which is closed again at once)."""
        safetensors = require("safetensors", "hf", "reading safetensors weights")
        path = self._files[name]
        with input_errors(path, "a safetensors file"):
            with safetensors.safe_open(str(path), framework="pt") as f:
                return f.get_tensor(name)


def _weight_files(directory: Path) -> list[Path]:
    index = directory / INDEX_NAME
    if index.exists():
        with input_errors(index, "a safetensors index (JSON with a weight_map)"):
            weight_map = json.loads(index.read_text("utf-8"))["weight_map"]
        files = sorted({directory / f for f in weight_map.values()})
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise InputError(index, f"names shard(s) that do not exist: {', '.join(missing)}")
        return files
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise InputError(directory, "holds no *.safetensors weights")
    return files


def read_header(path: Path) -> dict[str, TensorInfo]:
    """Name → (dtype, shape) of every tensor in one safetensors file, checked against its size."""
    with input_errors(path, "a safetensors file"):
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise InputError(path, "is not a safetensors file (shorter than its 8-byte header length)")
            (length,) = struct.unpack("<Q", raw)
            if length > size - 8:
                raise InputError(path, "is truncated or not a safetensors file (header length past the end)")
            header = json.loads(f.read(length))
    infos, end = {}, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES_BY_NAME:
            raise InputError(path, f"tensor '{name}' has an unsupported dtype {entry.get('dtype') if isinstance(entry, dict) else entry!r}")
        infos[name] = TensorInfo(DTYPES_BY_NAME[entry["dtype"]], tuple(entry["shape"]))
        end = max(end, entry["data_offsets"][1])
    if 8 + length + end > size:
        raise InputError(path, f"is truncated: its header needs {8 + length + end} bytes, the file has {size}")
    return infos


def plan_shards(tensors: list[tuple[str, TensorInfo]], max_shard_bytes: int) -> list[list[tuple[str, TensorInfo]]]:
    """Consecutive groups of tensors of at most `max_shard_bytes` each (a bigger tensor alone)."""
    shards: list[list[tuple[str, TensorInfo]]] = [[]]
    size = 0
    for name, info in tensors:
        if shards[-1] and max_shard_bytes > 0 and size + info.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, info))
        size += info.nbytes
    return shards


def shard_names(count: int) -> list[str]:
    if count == 1:
        return ["model.safetensors"]
    return [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]


def _header_bytes(entries: list[tuple[str, TensorInfo]]) -> bytes:
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, info in entries:
        header[name] = {"dtype": DTYPE_NAMES[info.dtype], "shape": list(info.shape),
                        "data_offsets": [offset, offset + info.nbytes]}
        offset += info.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text


class ShardWriter:
    """Write planned tensors into safetensors shards (+ index), streaming each tensor's bytes."""

    def __init__(self, directory: str | Path, tensors: Iterable[tuple[str, TensorInfo]],
                 max_shard_bytes: int = 5 * 10**9):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shards = plan_shards(list(tensors), max_shard_bytes)
        self.names = shard_names(len(self.shards))
        self._order = [(i, name, info) for i, shard in enumerate(self.shards) for name, info in shard]
        self._next = 0
        self._file = None
        self._shard = -1
        self._temps: list[Path] = []

    def _temp(self, name: str) -> Path:
        return self.directory / f".{name}.tmp-{os.getpid()}"

    def write(self, name: str, tensor: torch.Tensor) -> None:
        if self._next >= len(self._order):
            raise ValueError(f"tensor '{name}' was not planned")
        shard, expected, info = self._order[self._next]
        if name != expected or tensor.dtype != info.dtype or tuple(tensor.shape) != info.shape:
            raise ValueError(f"expected tensor '{expected}' {info.dtype} {list(info.shape)}, got '{name}' "
                             f"{tensor.dtype} {list(tensor.shape)}")
        if shard != self._shard:
            self._open(shard)
        data = tensor.detach().contiguous().cpu().reshape(-1).view(torch.uint8)
        self._file.write(data.numpy().data)
        self._next += 1

    def _open(self, shard: int) -> None:
        if self._file is not None:
            self._file.close()
        self._shard = shard
        path = self._temp(self.names[shard])
        self._temps.append(path)
        self._file = open(path, "wb")
        self._file.write(_header_bytes(self.shards[shard]))

    def close(self) -> list[Path]:
        """Finish: check every planned tensor came, rename the shards into place, write the index."""
        if self._next != len(self._order):
            missing = [n for _, n, _ in self._order[self._next:]][:3]
            raise ValueError(f"{len(self._order) - self._next} planned tensors were not written "
                             f"(first: {', '.join(missing)})")
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        paths = []
        for name, temp in zip(self.names, self._temps):
            os.replace(temp, self.directory / name)
            paths.append(self.directory / name)
        if len(self.names) > 1:
            total = sum(info.nbytes for _, _, info in self._order)
            write_json(self.directory / INDEX_NAME, {
                "metadata": {"total_size": total},
                "weight_map": {n: self.names[i] for i, n, _ in self._order}})
        return paths

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for temp in self._temps:
            temp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
