"""Run CycleQD children (build + evaluate) through `jaforge.executor`: inline, in a pool of local
worker processes (each imports torch once and takes child after child), or as Ray tasks.

    with Launcher(ExecutorConfig(kind="local", workers=2)) as launcher:
        for directory, record, error in launcher.run(directories):
            ...

The children are directories (children.py); a failed child yields its error and the others go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

from jaforge.executor import Executor, ExecutorConfig
from jaforge.merge.cycleqd.children import run_child

Outcome = tuple[Path, Optional[dict[str, Any]], str]


class Launcher:
    """Runs batches of children; the worker pool lives as long as the launcher, so workers import
    torch once per CycleQD run, not once per generation."""

    def __init__(self, cfg: ExecutorConfig):
        self.executor = Executor(cfg)

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.executor.__exit__(*exc)

    def run(self, directories: list[Path]) -> Iterator[Outcome]:
        jobs = [(Path(d), str(d)) for d in directories]
        for outcome in self.executor.map(run_child, jobs, keep_going=True):
            yield outcome.key, outcome.result, outcome.error or ""
