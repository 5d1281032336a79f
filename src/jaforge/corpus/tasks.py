"""Task planning: the input files of a corpus run → an ordered list of tasks for the executor.

A task is one file, a part of a big file, or a group of small one-document files. Big plain
JSONL files are cut into equal byte ranges at line starts, big Parquet files into runs of row
groups, so that several workers share one big file. The plan depends only on the files and
`input.task_bytes`, never on the number of workers: 1 or 16 workers write the same shards.
Compressed JSONL (.gz, .zst) cannot be entered in the middle, so each such file is one task.

    tasks = plan_tasks(cfg.input)   # [Task(files=("big.jsonl",), start=0, stop=8000123, …), …]

The executor (executor.py) knows nothing of this; the pipeline hands it task indices.
"""

from __future__ import annotations

import glob
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from jaforge.io.readers import InputConfig
from jaforge.io.readers import FORMAT_BY_SUFFIX, detect_format
from jaforge.errors import ConfigError, input_errors
from jaforge.extras import require

FILES_PER_TASK = {"txt": 256, "html": 64}  # one-document-per-file formats are grouped into tasks
_SCAN = 1 << 20


@dataclass(frozen=True)
class Task:
    """What one task reads: `files` whole, or the part `start`…`stop` of its single file."""

    files: tuple[str, ...]
    unit: str = "file"
    """`file` (whole files), `bytes` (a byte range of a plain JSONL file, starting at a line
    start) or `row_groups` (a range of a Parquet file's row groups)."""
    start: int = 0
    stop: Optional[int] = None
    first_line: int = 1
    """Line (JSONL) or row (Parquet) number of the part's first record, for messages and ids."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Task":
        return cls(**{**data, "files": tuple(data["files"])})


def input_files(cfg: InputConfig) -> list[str]:
    """Every input file, in the order of `input.paths`, each pattern's matches sorted."""
    files: list[str] = []
    for pattern in cfg.paths:
        path = Path(pattern)
        if path.is_dir():
            found = [str(p) for p in sorted(path.rglob("*")) if p.is_file() and _readable(p, cfg)]
        else:
            found = sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise ConfigError(f"'input.paths': nothing matches '{pattern}'")
        files += [f for f in found if f not in files]
    return files


def plan_tasks(cfg: InputConfig) -> list[Task]:
    """The tasks of a run, in input order."""
    tasks: list[Task] = []
    for f in input_files(cfg):
        fmt = _format(f, cfg)
        group = FILES_PER_TASK.get(fmt)
        if group and tasks and tasks[-1].unit == "file" and len(tasks[-1].files) < group \
                and _format(tasks[-1].files[-1], cfg) == fmt:
            tasks[-1] = Task(tasks[-1].files + (f,))
        elif fmt == "jsonl" and _plain(f) and Path(f).stat().st_size > cfg.task_bytes:
            tasks += byte_range_tasks(f, cfg.task_bytes)
        elif fmt == "parquet" and Path(f).stat().st_size > cfg.task_bytes:
            tasks += row_group_tasks(f, cfg.task_bytes)
        else:
            tasks.append(Task((f,)))
    return tasks


def byte_range_tasks(path: str, task_bytes: int) -> list[Task]:
    """Equal byte ranges of a plain JSONL file, each moved forward to the next line start."""
    size = Path(path).stat().st_size
    parts = math.ceil(size / task_bytes)
    bounds = [0]
    with input_errors(path, "a JSON lines file"), open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(size * k // parts - 1)
            f.readline()  # to just past the next newline: the start of the next whole line
            if f.tell() < size and f.tell() > bounds[-1]:
                bounds.append(f.tell())
        bounds.append(size)
        lines = _lines_before(f, bounds)
    return [Task((path,), "bytes", a, b, lines[i] + 1)
            for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def _lines_before(f, offsets: list[int]) -> list[int]:
    """How many newlines precede each offset (one pass over the file)."""
    f.seek(0)
    counts, seen, position = [], 0, 0
    for offset in offsets:
        while position < offset:
            chunk = f.read(min(_SCAN, offset - position))
            if not chunk:
                break
            seen += chunk.count(b"\n")
            position += len(chunk)
        counts.append(seen)
    return counts


def row_group_tasks(path: str, task_bytes: int) -> list[Task]:
    """Runs of a Parquet file's row groups of about `task_bytes` (uncompressed) each."""
    pq = require("pyarrow.parquet", "parquet", "Parquet input")
    with input_errors(path, "a Parquet file"):
        meta = pq.ParquetFile(path).metadata
    groups = [(meta.row_group(i).total_byte_size, meta.row_group(i).num_rows)
              for i in range(meta.num_row_groups)]
    total = sum(size for size, _ in groups)
    parts = max(min(math.ceil(total / task_bytes), len(groups)), 1)
    tasks, first, row, acc = [], 0, 0, 0
    for i, (size, rows) in enumerate(groups):
        acc += size
        if acc * parts >= total * (len(tasks) + 1) or i == len(groups) - 1:
            tasks.append(Task((path,), "row_groups", first, i + 1, row + 1))
            row += sum(r for _, r in groups[first : i + 1])
            first = i + 1
    return tasks or [Task((path,))]


def _readable(path: Path, cfg: InputConfig) -> bool:
    return cfg.format != "auto" or any(str(path).lower().endswith(s) for s in FORMAT_BY_SUFFIX)


def _format(path: str, cfg: InputConfig) -> str:
    return cfg.format if cfg.format != "auto" else detect_format(path)


def _plain(path: str) -> bool:
    return not path.lower().endswith((".gz", ".zst"))
