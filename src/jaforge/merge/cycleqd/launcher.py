"""Run CycleQD children (build + evaluate) with the explore stage's executor settings: inline, in a
pool of local worker processes (each imports torch once and takes child after child), or as Ray
tasks on a local instance or a cluster.

    with Launcher(ExecutorConfig(kind="local", workers=2)) as launcher:
        for directory, record, error in launcher.run(directories):
            ...

The children are directories (children.py); a failed child yields its error and the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterator, Optional

from jaforge.explore.config import ExecutorConfig
from jaforge.extras import require
from jaforge.merge.cycleqd.children import run_child

Outcome = tuple[Path, Optional[dict[str, Any]], str]


def _guarded(directory: str) -> Outcome:
    try:
        return Path(directory), run_child(directory), ""
    except Exception as err:  # one failed child must not stop the generation
        return Path(directory), None, f"{type(err).__name__}: {err}"


def _worker_init(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


class Launcher:
    """Runs batches of children; a local pool or a Ray connection lives as long as the launcher, so
    workers import torch once per run, not once per generation."""

    def __init__(self, cfg: ExecutorConfig):
        self.cfg = cfg
        self._pool: Optional[ProcessPoolExecutor] = None

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def run(self, directories: list[Path]) -> Iterator[Outcome]:
        if not directories:
            return
        if self.cfg.kind == "inline":
            for directory in directories:
                yield _guarded(str(directory))
        elif self.cfg.kind == "local":
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=max(1, self.cfg.workers),
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_worker_init, initargs=(self.cfg.threads,))
            futures = [self._pool.submit(_guarded, str(d)) for d in directories]
            for future in as_completed(futures):
                yield future.result()
        else:
            yield from _run_ray(directories, self.cfg)


def _run_ray(directories: list[Path], cfg: ExecutorConfig) -> Iterator[Outcome]:
    ray = require("ray", "scale", "the Ray executor of jaforge cycleqd")
    if not ray.is_initialized():
        env = {"env_vars": {"OMP_NUM_THREADS": str(cfg.threads)}}
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, cfg.workers) * cfg.threads, include_dashboard=False,
                     runtime_env=env, log_to_driver=False)
    remote = ray.remote(num_cpus=cfg.threads)(_guarded)
    pending = [remote.remote(str(d.resolve())) for d in directories]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
