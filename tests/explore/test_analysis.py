"""The analysis finds per-size aspect-ratio optima, their trend, and the loss-vs-size power law."""

import math

import numpy as np
import pytest

from jaforge.config import build
from jaforge.explore.analysis import analyse
from jaforge.explore.config import ExploreConfig
from jaforge.explore.report import recommendation, table_rows


def synthetic_results(slope: float = 0.2, alpha: float = 0.3) -> list[dict]:
    """Runs whose loss is E + A·N^-α plus a parabola in log(aspect) around 2·N^slope."""
    results = []
    for size in (1e4, 1e5, 1e6):
        optimum = 2 * size ** slope
        for aspect in optimum * np.array([0.25, 0.5, 1.0, 2.0, 4.0]) * 1.1:
            for seed in (0, 1):
                loss = 1.5 + 20 * size ** -alpha + 0.05 * math.log(aspect / optimum) ** 2 + 0.001 * seed
                n_layer = 4
                results.append({
                    "labels": {"budget.non_embedding_params": size, "model.n_layer": round(aspect)},
                    "seed": seed, "final": {"val_loss": loss}, "best": {"val_loss": loss},
                    "forgetting": {"val_loss": 0.0}, "non_embedding_params": size, "params": size * 2,
                    "tokens": 1e5, "train_flops": 6 * size * 1e5, "n_layer": n_layer,
                    "d_model": aspect * n_layer, "aspect_ratio": aspect})
    return results


def test_aspect_trend_and_power_law_are_recovered():
    cfg = build(ExploreConfig, {"report": {"bootstrap": 50, "extrapolate_to": 1e10}})
    analysis = analyse(synthetic_results(), cfg)
    aspect = analysis.aspect
    for n, opt in zip(aspect["n"], aspect["optima"]):
        assert opt == pytest.approx(2 * n ** 0.2, rel=0.02)
    assert aspect["slope"] == pytest.approx(0.2, abs=0.01)
    assert aspect["at_target"] == pytest.approx(2 * 1e10 ** 0.2, rel=0.1)
    low, high = aspect["band"]
    assert low <= aspect["at_target"] <= high
    assert analysis.power_law.alpha == pytest.approx(0.3, abs=0.02)
    text = recommendation(analysis, cfg)
    assert "extrapolates" in text and "N^-0.3" in text and "d_model =" in text
    assert not any(aspect["at_edge"]) and "grid edge" not in text
    header, rows = table_rows(analysis)
    assert len(rows) == 15 and "seeds" in header and all(r[header.index("seeds")] == "2" for r in rows)
