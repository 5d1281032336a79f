"""The fit code recovers known exponents, optima and trends from synthetic points."""

import numpy as np
import pytest

from jaforge.explore.fit import curve_minimum, fit_power_law, log_trend, percentile_band


@pytest.mark.parametrize("E, A, alpha", [(1.69, 406.4, 0.34), (2.0, 50.0, 0.2), (0.5, 1e3, 0.7)])
def test_power_law_recovers_known_exponent(E, A, alpha):
    n = np.geomspace(1e5, 1e9, 8)
    law = fit_power_law(n, E + A * n ** -alpha)
    assert law.alpha == pytest.approx(alpha, rel=1e-4)
    assert law.E == pytest.approx(E, rel=1e-4) and law.A == pytest.approx(A, rel=1e-3)


def test_power_law_with_noise_stays_close():
    n = np.geomspace(1e6, 1e10, 10)
    noisy = (1.8 + 300 * n ** -0.3) * (1 + np.random.default_rng(0).normal(0, 0.002, len(n)))
    assert fit_power_law(n, noisy).alpha == pytest.approx(0.3, abs=0.03)


def test_power_law_needs_three_sizes_and_keeps_a_non_negative_floor():
    with pytest.raises(ValueError, match="3 distinct"):
        fit_power_law([1e6, 1e6, 1e7], [3.0, 3.1, 2.9])
    n = np.array([1e4, 1e5, 1e6, 1e7])
    assert fit_power_law(n, 5 * n ** -0.1).E >= 0


def test_curve_minimum_vertex_and_edge():
    x = np.array([2.0, 4, 8, 16, 32])
    assert curve_minimum(x, (np.log(x) - np.log(10)) ** 2) == pytest.approx(10)
    assert curve_minimum(x, -np.log(x)) == 32  # monotone: the best measured edge, no extrapolation


def test_log_trend_recovers_slope_and_band_orders():
    n = np.geomspace(1e4, 1e8, 5)
    slope, intercept = log_trend(n, 3 * n ** 0.25)
    assert slope == pytest.approx(0.25) and np.exp(intercept) == pytest.approx(3)
    low, high = percentile_band(np.arange(100))
    assert low < 50 < high
