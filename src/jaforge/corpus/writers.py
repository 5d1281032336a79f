"""Shard writers: JSONL (optionally gzip) and Parquet, written to a temporary name then renamed.

A crash never leaves a half-written shard under its final name; a finished shard is complete.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import IO, Any

from jaforge.extras import require

SUFFIX = {"jsonl.gz": ".jsonl.gz", "jsonl": ".jsonl", "parquet": ".parquet"}


class ShardWriter:
    """Writes records to `path` atomically: `with ShardWriter(p, "jsonl.gz") as w: w.write(rec)`."""

    def __init__(self, path: str | Path, format: str, gzip_level: int = 6, skip_empty: bool = False):
        self.path = Path(path)
        self.skip_empty = skip_empty  # write no file at all when no record came
        self.format = format
        self.count = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._handle: IO[str] | None = None
        self._rows: list[dict[str, Any]] = []
        self._gzip_level = gzip_level

    def __enter__(self) -> "ShardWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl.gz":  # mtime=0: the same records give the same bytes
            raw = gzip.GzipFile(self._tmp, "wb", compresslevel=self._gzip_level, mtime=0)
            self._handle = io.TextIOWrapper(raw, encoding="utf-8")
        elif self.format == "jsonl":
            self._handle = open(self._tmp, "w", encoding="utf-8")
        elif self.format != "parquet":
            raise ValueError(f"unknown shard format '{self.format}'; known: {', '.join(SUFFIX)}")
        return self

    def write(self, record: dict[str, Any]) -> None:
        self.count += 1
        if self._handle is not None:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            self._rows.append(record)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._handle is not None:
            self._handle.close()
        if exc_type is not None or (self.count == 0 and self.skip_empty):
            self._tmp.unlink(missing_ok=True)
            return
        if self.format == "parquet":
            _write_parquet(self._tmp, self._rows)
        self._tmp.replace(self.path)


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """Columns id, text, metadata (a JSON string, so that every shard has one schema)."""
    pa = require("pyarrow", "parquet", "Parquet output")
    pq = require("pyarrow.parquet", "parquet", "Parquet output")
    table = pa.table({
        "id": pa.array([r["id"] for r in rows], pa.string()),
        "text": pa.array([r["text"] for r in rows], pa.string()),
        "metadata": pa.array([json.dumps(r.get("metadata", {}), ensure_ascii=False) for r in rows],
                             pa.string()),
    })
    pq.write_table(table, path, compression="zstd")
