"""Fits for small-model studies: saturating power laws, the optimum of a loss curve, log-log trends,
and bootstrap bands — numpy only.

    law = fit_power_law(n, loss)          # L = E + A·N^-α  → PowerLaw(E, A, alpha, rmse)
    law(1e10)                             # the extrapolated loss
    x_opt = curve_minimum(aspect, loss)   # vertex of a parabola in log x, kept within the data
    slope, intercept = log_trend(n, x_opt)

The power law is fitted by variable projection: for a fixed α the model is linear in (E, A), so
α is found by a coarse scan and a golden-section refinement of the least-squares error, and E, A
by linear least squares (A ≥ 0). N is divided by its geometric mean first so the scan is
well conditioned whatever the scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class PowerLaw:
    E: float
    A: float
    alpha: float
    rmse: float

    def __call__(self, n) -> np.ndarray:
        return self.E + self.A * np.asarray(n, dtype=float) ** -self.alpha


def _linear_part(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """(E, A, squared error) of the best fit y ≈ E + A·x^-α for a fixed α."""
    basis = x ** -alpha
    design = np.stack([np.ones_like(basis), basis], axis=1)
    (e, a), *_ = np.linalg.lstsq(design, y, rcond=None)
    if e < 0:  # a loss has no negative floor: refit through E = 0
        e, a = 0.0, float(basis @ y / (basis @ basis))
    if a < 0:  # a decreasing law only: fall back to a constant
        e, a = float(np.mean(y)), 0.0
    residual = y - (e + a * basis)
    return float(e), float(a), float(residual @ residual)


def fit_power_law(n, loss, alpha_range: tuple[float, float] = (1e-3, 4.0)) -> PowerLaw:
    """Least-squares L = E + A·N^-α through (N, L) points (at least 3 distinct N)."""
    n, y = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    if len(np.unique(n)) < 3:
        raise ValueError(f"a power law needs at least 3 distinct N, got {len(np.unique(n))}")
    scale = math.exp(float(np.mean(np.log(n))))
    x = n / scale
    error = lambda a: _linear_part(x, y, a)[2]  # noqa: E731
    grid = np.geomspace(*alpha_range, 200)
    errors = [error(a) for a in grid]
    i = int(np.argmin(errors))
    alpha = golden_section(error, grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)])
    e, a, sse = _linear_part(x, y, alpha)
    return PowerLaw(E=e, A=float(a * scale ** alpha), alpha=float(alpha), rmse=math.sqrt(sse / len(y)))


def golden_section(f: Callable[[float], float], low: float, high: float, steps: int = 60) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2


def curve_minimum(x, loss) -> float:
    """The x of lowest loss: the vertex of a parabola in log x when it opens upwards and lies
    within the data, otherwise the best measured x (a minimum at the edge is not extrapolated)."""
    x, y = np.asarray(x, dtype=float), np.asarray(loss, dtype=float)
    best = float(x[int(np.argmin(y))])
    if len(np.unique(x)) < 3:
        return best
    c2, c1, _ = np.polyfit(np.log(x), y, 2)
    if c2 <= 0:
        return best
    vertex = -c1 / (2 * c2)
    if not np.log(x.min()) <= vertex <= np.log(x.max()):
        return best
    return float(math.exp(vertex))


def log_trend(n, value) -> tuple[float, float]:
    """(slope, intercept) of log(value) = intercept + slope·log(n) (slope 0 for a single n)."""
    ln, lv = np.log(np.asarray(n, dtype=float)), np.log(np.asarray(value, dtype=float))
    if len(np.unique(ln)) < 2:
        return 0.0, float(np.mean(lv))
    slope, intercept = np.polyfit(ln, lv, 1)
    return float(slope), float(intercept)


def percentile_band(samples, level: float = 0.9) -> tuple[float, float]:
    """The central `level` interval of bootstrap samples."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(samples, dtype=float), [tail, 100 - tail])
    return float(low), float(high)
