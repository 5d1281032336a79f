"""Executors: run a stage's tasks in this process, in a local process pool, or on a Ray cluster.

The step logic knows nothing of the executor. Each task writes a completion marker when it has
finished; a restarted run skips tasks whose marker exists, so a killed run resumes without
losing or repeating work.
"""

from __future__ import annotations

import copyreg
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Sequence

from jaforge.corpus.config import ExecutorConfig
from jaforge.errors import InputError
from jaforge.extras import require

Task = Callable[[int, Any], dict[str, Any]]


def _rebuild_error(cls: type, message: str, attrs: dict[str, Any]) -> BaseException:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(attrs)
    return err


def _reduce_error(err: BaseException):
    return _rebuild_error, (type(err), str(err), dict(err.__dict__))


# InputError(path, message, line) cannot be rebuilt from its args alone: teach pickle (and Ray's
# cloudpickle) to carry it from a worker back to the run unchanged.
copyreg.pickle(InputError, _reduce_error)


def marker(work: Path, phase: str, index: int) -> Path:
    return work / "done" / f"{phase}-{index:05d}"


def mark_done(work: Path, phase: str, index: int) -> None:
    path = marker(work, phase, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def run_tasks(fn: Task, indices: Sequence[int], cfg: ExecutorConfig, work: Path, phase: str,
              label: str, args: Sequence[Any] | None = None) -> None:
    """Run `fn(index, args[index])` for every index without a completion marker; `fn` writes
    the marker. `args` (default: None for each) travel with their task, not with every task."""
    todo = [i for i in indices if not marker(work, phase, i).exists()]
    bar = _progress(cfg, len(indices), len(indices) - len(todo), label)
    started, docs = time.perf_counter(), 0
    jobs = [(i, args[i] if args is not None else None) for i in todo]
    for result in _execute(fn, jobs, cfg):
        docs += result.get("docs", 0)
        if bar is not None:
            bar.set_postfix_str(f"{docs / max(time.perf_counter() - started, 1e-9):,.0f} docs/s")
            bar.update(1)
    if bar is not None:
        bar.close()


def _execute(fn: Task, jobs: list[tuple[int, Any]], cfg: ExecutorConfig):
    if cfg.kind == "ray":
        yield from _execute_ray(fn, jobs, cfg)
    elif cfg.workers <= 1 or len(jobs) <= 1:
        for i, arg in jobs:
            yield fn(i, arg)
    else:
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(jobs))) as pool:
            futures = [pool.submit(fn, i, arg) for i, arg in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            except BaseException:
                for future in futures:  # stop at the first failure: no task starts after it
                    future.cancel()
                raise


def _execute_ray(fn: Task, jobs: list[tuple[int, Any]], cfg: ExecutorConfig):
    ray = require("ray", "scale", "the Ray executor")
    if not ray.is_initialized():
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(cfg.workers, 1), include_dashboard=False, log_to_driver=False)
    remote = ray.remote(_call)
    pending = [remote.remote(fn, i, arg) for i, arg in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayTaskError as err:  # the task's own error, without Ray's wrapping
            if isinstance(getattr(err, "cause", None), Exception):
                raise err.cause from None
            raise
        yield result


def _call(fn: Task, index: int, arg: Any) -> dict[str, Any]:
    return fn(index, arg)


def _progress(cfg: ExecutorConfig, total: int, done: int, label: str):
    if not cfg.progress or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=label, unit="shard", dynamic_ncols=True)
