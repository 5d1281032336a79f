"""The corpus stage's tasks on `jaforge.executor` (this process, local processes or Ray), with
completion markers: each task writes its marker when it has finished, and a restarted run skips
tasks whose marker exists, so a killed run resumes without losing or repeating work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

from jaforge.executor import Executor, ExecutorConfig

Task = Callable[[int, Any], dict[str, Any]]


def marker(work: Path, phase: str, index: int) -> Path:
    return work / "done" / f"{phase}-{index:05d}"


def mark_done(work: Path, phase: str, index: int) -> None:
    path = marker(work, phase, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _call(job: tuple[Task, int, Any]) -> dict[str, Any]:
    fn, index, arg = job
    return fn(index, arg)


def run_tasks(fn: Task, indices: Sequence[int], cfg: ExecutorConfig, work: Path, phase: str,
              label: str, args: Sequence[Any] | None = None) -> None:
    """Run `fn(index, args[index])` for every index without a completion marker; `fn` writes
    the marker. `args` (default: None for each) travel with their task, not with every task.
    The first failure stops the run (the corpus loses nothing: finished tasks keep their markers)."""
    todo = [i for i in indices if not marker(work, phase, i).exists()]
    bar = tqdm(total=len(indices), initial=len(indices) - len(todo), desc=label, unit="shard",
               dynamic_ncols=True) if cfg.progress and indices else None
    started, docs = time.perf_counter(), 0
    jobs = [(i, (fn, i, args[i] if args is not None else None)) for i in todo]
    # fork: corpus workers import no torch, and forked workers start at once
    with Executor(cfg, start_method="fork") as executor:
        for outcome in executor.map(_call, jobs):
            docs += outcome.result.get("docs", 0)
            if bar is not None:
                bar.set_postfix_str(f"{docs / max(time.perf_counter() - started, 1e-9):,.0f} docs/s")
                bar.update(1)
    if bar is not None:
        bar.close()
