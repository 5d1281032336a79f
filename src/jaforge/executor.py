"""Run a stage's independent tasks here, in local worker processes, or as Ray tasks — one executor
for the corpus stage's shards, explore's runs and CycleQD's children.

    with Executor(cfg.executor) as executor:                      # a pool lives as long as this
        for outcome in executor.map(encode_shard, jobs):          # outcomes as tasks finish
            ...outcome.key, outcome.result, outcome.error

`fn` is a module-level function (it travels to other processes by name) called as `fn(arg)` for
each `(key, arg)` job. Kinds:

- `inline`: one after another in this process (tests, debugging);
- `local`: `workers` processes on this machine, each with `threads` CPU threads. A pool is started
  once and takes task after task; with `isolate=True` every task gets a fresh process instead, so
  a crash, a kill or a leak in one task cannot take the others down (explore's training runs),
  its output goes to the task's log file, and it dies with this process (Linux);
- `ray`: Ray tasks of `threads` CPUs each, on a local instance or the cluster at `ray_address`
  (paths must then be on a shared filesystem).

With `keep_going=False` the first failed task stops the rest and its error is raised unchanged;
with `keep_going=True` each failure is an outcome with its error text and the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Iterator, Literal, Optional

from annotated_types import Ge

from jaforge.extras import require


@dataclass
class ExecutorConfig:
    kind: Literal["inline", "local", "ray"] = "local"
    """inline: in this process, one task after another; local: worker processes on this machine;
    ray: Ray tasks on a local instance or a cluster (`ray_address`)."""
    workers: Annotated[int, Ge(1)] = 1
    """Tasks at the same time (local processes or concurrent Ray tasks)."""
    threads: Annotated[int, Ge(1)] = 1
    """CPU threads per task (torch / OpenMP / MKL); 1 avoids oversubscribing the cores."""
    ray_address: Optional[str] = None
    """ray: address of a running cluster (`auto`, `ray://host:10001`); None starts a local one."""
    progress: bool = True
    """Show a progress bar."""


@dataclass
class Outcome:
    key: Any
    result: Any = None
    error: Optional[str] = None
    """`Type: message` of a failed task (keep_going); None when it succeeded."""

    @property
    def ok(self) -> bool:
        return self.error is None


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _set_threads(threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _die_with_parent() -> None:
    """Get SIGTERM when the parent process dies (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform != "linux":
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _isolated_main(fn: Callable, arg: Any, threads: int, log: Optional[str], conn: Any) -> None:
    """A fresh process for one task: threads, output to the log, the result (or error) sent back."""
    _die_with_parent()
    _set_threads(threads)
    if log:
        handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(handle, 1)
        os.dup2(handle, 2)
    try:
        conn.send(("ok", fn(arg)))
    except BaseException as err:  # noqa: BLE001 — reported to the parent as the task's outcome
        conn.send(("error", _error_text(err)))
    finally:
        conn.close()


class Executor:
    """Runs `fn(arg)` for many jobs with one `ExecutorConfig`; use it as a context manager."""

    def __init__(self, cfg: ExecutorConfig, isolate: bool = False, start_method: str = "spawn",
                 log: Optional[Callable[[Any], Optional[Path]]] = None):
        self.cfg, self.isolate, self.log = cfg, isolate, log
        self.context = multiprocessing.get_context(start_method)
        self._pool: Optional[ProcessPoolExecutor] = None

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]],
            keep_going: bool = False) -> Iterator[Outcome]:
        jobs = list(jobs)
        if not jobs:
            return iter(())
        if self.cfg.kind == "inline" or (self.cfg.kind == "local" and not self.isolate
                                         and (self.cfg.workers <= 1 or len(jobs) == 1)):
            return self._inline(fn, jobs, keep_going)
        if self.cfg.kind == "ray":
            return self._ray(fn, jobs, keep_going)
        if self.isolate:
            return self._isolated(fn, jobs, keep_going)
        return self._pooled(fn, jobs, keep_going)

    def _inline(self, fn, jobs, keep_going) -> Iterator[Outcome]:
        for key, arg in jobs:
            yield _outcome(key, lambda: fn(arg), keep_going)

    def _pooled(self, fn, jobs, keep_going) -> Iterator[Outcome]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.cfg.workers, mp_context=self.context,
                                             initializer=_set_threads, initargs=(self.cfg.threads,))
        futures = {self._pool.submit(fn, arg): key for key, arg in jobs}
        yield from _collect(futures, keep_going)

    def _isolated(self, fn, jobs, keep_going) -> Iterator[Outcome]:
        with ThreadPoolExecutor(max_workers=self.cfg.workers) as threads:
            futures = {threads.submit(self._run_isolated, fn, key, arg): key for key, arg in jobs}
            for future in as_completed(futures):
                outcome = future.result()
                if outcome.error is not None and not keep_going:
                    for other in futures:
                        other.cancel()
                    raise RuntimeError(f"task {outcome.key} failed: {outcome.error}")
                yield outcome

    def _run_isolated(self, fn, key, arg) -> Outcome:
        receive, send = self.context.Pipe(duplex=False)
        log = self.log(arg) if self.log else None
        process = self.context.Process(target=_isolated_main,
                                       args=(fn, arg, self.cfg.threads, str(log) if log else None, send))
        process.start()
        send.close()
        try:
            status, value = receive.recv()
        except EOFError:  # the process died without a word: killed, out of memory, a crash
            status, value = "error", None
        process.join()
        if status == "ok":
            return Outcome(key, value)
        detail = value or f"the task's process ended with exit code {process.exitcode}"
        where = f" (log: {log})" if log else ""
        return Outcome(key, error=f"{detail}{where}")

    def _ray(self, fn, jobs, keep_going) -> Iterator[Outcome]:
        ray = require("ray", "scale", "the Ray executor")
        if not ray.is_initialized():
            env = {"env_vars": {"OMP_NUM_THREADS": str(self.cfg.threads)}}
            if self.cfg.ray_address:
                ray.init(address=self.cfg.ray_address, runtime_env=env, log_to_driver=False)
            else:
                ray.init(num_cpus=self.cfg.workers * self.cfg.threads, include_dashboard=False,
                         runtime_env=env, log_to_driver=False)
        remote = ray.remote(num_cpus=self.cfg.threads)(_call)
        pending = {remote.remote(fn, arg): key for key, arg in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(done[0])
            try:
                yield Outcome(key, ray.get(done[0]))
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None)
                if not keep_going:
                    raise (cause if isinstance(cause, Exception) else err) from None
                yield Outcome(key, error=_error_text(cause if isinstance(cause, Exception) else err))


def _call(fn: Callable[[Any], Any], arg: Any) -> Any:
    return fn(arg)


def _outcome(key: Any, call: Callable[[], Any], keep_going: bool) -> Outcome:
    """The outcome of `call()`: its result, or (with keep_going) its error's text."""
    try:
        return Outcome(key, call())
    except Exception as err:
        if not keep_going:
            raise
        return Outcome(key, error=_error_text(err))


def _collect(futures: dict[Future, Any], keep_going: bool) -> Iterator[Outcome]:
    try:
        for future in as_completed(futures):
            yield _outcome(futures[future], future.result, keep_going)
    except BaseException:
        for future in futures:  # stop at the first failure: no task starts after it
            future.cancel()
        raise


