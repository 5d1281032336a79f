"""Shard writers: JSONL (optionally gzip) and Parquet, written to a temporary name then renamed.

Every shard of a kind has the same columns, all strings (`document.COLUMNS`, plus `step` and
`reason` for rejects), so `datasets.load_dataset("json" | "parquet", data_files=<every shard>)`
reads a whole run at once. A crash never leaves a half-written shard under its final name.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import IO, Sequence

from jaforge.io.document import COLUMNS
from jaforge.extras import require

SUFFIX = {"jsonl.gz": ".jsonl.gz", "jsonl": ".jsonl", "parquet": ".parquet"}
REJECT_COLUMNS = COLUMNS + ("step", "reason")


class ShardWriter:
    """Writes records to `path` atomically: `with ShardWriter(p, "jsonl.gz") as w: w.write(rec)`."""

    def __init__(self, path: str | Path, format: str, gzip_level: int = 6, skip_empty: bool = False,
                 columns: Sequence[str] = COLUMNS):
        if format not in SUFFIX:
            raise ValueError(f"unknown shard format '{format}'; known: {', '.join(SUFFIX)}")
        self.path = Path(path)
        self.skip_empty = skip_empty  # write no file at all when no record came
        self.format = format
        self.columns = tuple(columns)
        self.count = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._handle: IO[str] | None = None
        self._rows: dict[str, list[str]] = {c: [] for c in self.columns}
        self._gzip_level = gzip_level

    def __enter__(self) -> "ShardWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl.gz":  # mtime=0: the same records give the same bytes
            raw = gzip.GzipFile(self._tmp, "wb", compresslevel=self._gzip_level, mtime=0)
            self._handle = io.TextIOWrapper(raw, encoding="utf-8")
        elif self.format == "jsonl":
            self._handle = open(self._tmp, "w", encoding="utf-8")
        return self

    def write(self, record: dict[str, str]) -> None:
        """Write one record; it must hold exactly this writer's columns, as strings."""
        self.count += 1
        if self._handle is not None:
            self._handle.write(json.dumps({c: record[c] for c in self.columns},
                                          ensure_ascii=False) + "\n")
        else:
            for c in self.columns:
                self._rows[c].append(record[c])

    def write_line(self, line: str) -> None:
        """Write a JSONL line already in this writer's layout (JSONL formats only)."""
        self.count += 1
        self._handle.write(line if line.endswith("\n") else line + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._handle is not None:
            self._handle.close()
        if exc_type is not None or (self.count == 0 and self.skip_empty):
            self._tmp.unlink(missing_ok=True)
            return
        if self.format == "parquet":
            _write_parquet(self._tmp, self._rows)
        self._tmp.replace(self.path)


def _write_parquet(path: Path, rows: dict[str, list[str]]) -> None:
    pa = require("pyarrow", "parquet", "Parquet output")
    pq = require("pyarrow.parquet", "parquet", "Parquet output")
    table = pa.table({c: pa.array(values, pa.string()) for c, values in rows.items()})
    pq.write_table(table, path, compression="zstd")
