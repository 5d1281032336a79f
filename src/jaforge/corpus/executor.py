"""Executors: run a stage's tasks in this process, in a local process pool, or on a Ray cluster.

The step logic knows nothing of the executor. Each task writes a completion marker when it has
finished; a restarted run skips tasks whose marker exists, so a killed run resumes without
losing or repeating work.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Sequence

from jaforge.corpus.config import ExecutorConfig
from jaforge.extras import require


def marker(work: Path, phase: str, index: int) -> Path:
    return work / "done" / f"{phase}-{index:05d}"


def mark_done(work: Path, phase: str, index: int) -> None:
    path = marker(work, phase, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def run_tasks(fn: Callable[[int], dict[str, Any]], indices: Sequence[int], cfg: ExecutorConfig,
              work: Path, phase: str, label: str) -> None:
    """Run `fn(index)` for every index without a completion marker; `fn` writes the marker."""
    todo = [i for i in indices if not marker(work, phase, i).exists()]
    bar = _progress(cfg, len(indices), len(indices) - len(todo), label)
    started, docs = time.perf_counter(), 0
    for result in _execute(fn, todo, cfg):
        docs += result.get("docs", 0)
        if bar is not None:
            bar.set_postfix_str(f"{docs / max(time.perf_counter() - started, 1e-9):,.0f} docs/s")
            bar.update(1)
    if bar is not None:
        bar.close()


def _execute(fn: Callable[[int], dict[str, Any]], todo: list[int], cfg: ExecutorConfig):
    if cfg.kind == "ray":
        yield from _execute_ray(fn, todo, cfg)
    elif cfg.workers <= 1 or len(todo) <= 1:
        for i in todo:
            yield fn(i)
    else:
        with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
            for future in as_completed([pool.submit(fn, i) for i in todo]):
                yield future.result()


def _execute_ray(fn: Callable[[int], dict[str, Any]], todo: list[int], cfg: ExecutorConfig):
    ray = require("ray", "scale", "the Ray executor")
    if not ray.is_initialized():
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(cfg.workers, 1), include_dashboard=False, log_to_driver=False)
    remote = ray.remote(_call)
    pending = [remote.remote(fn, i) for i in todo]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def _call(fn: Callable[[int], dict[str, Any]], index: int) -> dict[str, Any]:
    return fn(index)


def _progress(cfg: ExecutorConfig, total: int, done: int, label: str):
    if not cfg.progress or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=label, unit="shard", dynamic_ncols=True)
