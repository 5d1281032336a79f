"""Executors: run prepared run directories here, in local worker subprocesses, or as Ray tasks.

The runs themselves know nothing of the executor: each is a directory with trial.json, trained by
`jaforge.explore.trial.run_trial`, which writes result.json and the DONE marker. The local executor
starts `python -m jaforge.explore.trial <dir>` per run (`workers` at a time, `threads` torch threads
each) so a crash or a kill of one run cannot take the study down, and the children die with the
study process (Linux). The Ray executor sends the same call to Ray workers: on one machine a local
instance, on a cluster `ray_address` (the study directory must then be on a shared filesystem).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator

from jaforge.explore.config import ExecutorConfig
from jaforge.registry import Registry

Outcome = tuple[Path, "dict[str, Any] | None", str]
"""(run directory, its result or None if it failed, the error text)."""
EXECUTORS: Registry[Callable[[list[Path], ExecutorConfig], Iterator[Outcome]]] = Registry("executor")


def execute(directories: list[Path], cfg: ExecutorConfig) -> Iterator[Outcome]:
    """Run every directory; yields outcomes as runs finish (in any order)."""
    if not directories:
        return iter(())
    return EXECUTORS.get(cfg.kind)(directories, cfg)


@EXECUTORS.register("inline")
def run_inline(directories: list[Path], cfg: ExecutorConfig) -> Iterator[Outcome]:
    from jaforge.explore.trial import run_trial

    for directory in directories:
        try:
            yield directory, run_trial(directory), ""
        except Exception as err:  # one failed run must not stop the study
            yield directory, None, f"{type(err).__name__}: {err}"


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the study process dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _child_env(threads: int) -> dict[str, str]:
    import jaforge

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    source = str(Path(jaforge.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH", "")) if p)
    return env


def run_subprocess(directory: Path, threads: int) -> Outcome:
    import json

    log_path = directory / "log.txt"
    with open(log_path, "ab") as log:
        code = subprocess.call([sys.executable, "-m", "jaforge.explore.trial", str(directory)],
                               stdout=log, stderr=subprocess.STDOUT, env=_child_env(threads),
                               preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    if code == 0 and (directory / "result.json").exists():
        return directory, json.loads((directory / "result.json").read_text("utf-8")), ""
    tail = log_path.read_text("utf-8", errors="replace").strip().splitlines()[-3:]
    return directory, None, f"exit code {code}: {' | '.join(tail)} (log: {log_path})"


@EXECUTORS.register("local")
def run_local(directories: list[Path], cfg: ExecutorConfig) -> Iterator[Outcome]:
    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool:
        futures = [pool.submit(run_subprocess, d, cfg.threads) for d in directories]
        for future in as_completed(futures):
            yield future.result()


def _ray_trial(directory: str) -> Outcome:
    from jaforge.explore.trial import run_trial

    try:
        return Path(directory), run_trial(directory), ""
    except Exception as err:
        return Path(directory), None, f"{type(err).__name__}: {err}"


@EXECUTORS.register("ray")
def run_ray(directories: list[Path], cfg: ExecutorConfig) -> Iterator[Outcome]:
    from jaforge.extras import require

    ray = require("ray", "scale", "the Ray executor of jaforge explore")
    if not ray.is_initialized():
        env = {"env_vars": {"OMP_NUM_THREADS": str(cfg.threads)}}
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, cfg.workers) * cfg.threads, include_dashboard=False,
                     runtime_env=env, log_to_driver=False)
    remote = ray.remote(num_cpus=cfg.threads)(_ray_trial)
    pending = [remote.remote(str(d.resolve())) for d in directories]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
