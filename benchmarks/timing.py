"""Timing helpers shared by the benchmark scripts (see ../shared/BENCHMARKS.md): interleaved rounds
and per-round ratios. The scripts put this folder on sys.path, so they run from anywhere and load
in tests by file path."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def alternate(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Run each callable `rounds` times, interleaved (A B C, B C A, …); seconds per run."""
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for k in range(rounds):
        for name in names[k % len(names):] + names[: k % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratio_stats(peer: list[float], ours: list[float]) -> dict[str, float]:
    """peer time / jaforge time per round: median, min, max."""
    ratios = [p / o for p, o in zip(peer, ours)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
