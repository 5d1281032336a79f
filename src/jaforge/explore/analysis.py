"""Study analysis: results grouped over seeds, marginal effects, the loss-vs-size power law, and the
aspect-ratio (d_model / n_layer) optimum per size with its trend extrapolated to a large model.

    analysis = analyse(results, cfg)        # cfg: ExploreConfig
    analysis.groups                         # one row per configuration: labels, params, FLOPs, mean ± std
    analysis.aspect                         # per-size optima, trend, extrapolation and bootstrap band
    analysis.power_law                      # L = E + A·N^-α over the best configuration of each size

Sizes are the values of `budget.non_embedding_params` when the study varies it (depth-vs-width
studies); a single size still gets its aspect-ratio curve, but no trend.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from jaforge.explore.chars import chars_per_token
from jaforge.explore.config import ExploreConfig, MetricConfig
from jaforge.explore.fit import PowerLaw, curve_minimum, fit_power_law, log_trend, percentile_band

SIZE_KEY = "budget.non_embedding_params"


def metric_value(result: dict, metric: MetricConfig) -> Optional[float]:
    """The study's metric of one run (nats per token, or per character)."""
    values = result["final" if metric.reduce == "final" else "best"]
    if metric.per == "token":
        return values.get(metric.key)
    datasets = result["datasets"]
    names = [metric.key.split("/", 1)[1]] if "/" in metric.key else list(datasets)
    per_char = [values[f"val_loss/{n}"] / chars_per_token(datasets[n])
                for n in names if f"val_loss/{n}" in values]
    return float(np.mean(per_char)) if per_char else None


@dataclass
class Group:
    labels: dict[str, Any]
    values: list[float]
    shape: dict[str, float]
    """Mean parameters, tokens, FLOPs, n_layer, d_model and aspect ratio of the group's runs."""
    extra: dict[str, float] = field(default_factory=dict)
    """Mean final value of every validation column and its forgetting (final − best)."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0


@dataclass
class Analysis:
    groups: list[Group]
    varied: list[str]
    metric: str
    marginals: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)
    aspect: Optional[dict[str, Any]] = None
    power_law: Optional[PowerLaw] = None
    power_law_points: list[tuple[float, float]] = field(default_factory=list)
    alpha_band: Optional[tuple[float, float]] = None
    higher_is_better: bool = False

    @property
    def ranked(self) -> list[Group]:
        """Best first."""
        return sorted(self.groups, key=lambda g: -g.mean if self.higher_is_better else g.mean)


def group_results(results: list[dict], metric: MetricConfig) -> list[Group]:
    by_key: dict[str, list[dict]] = {}
    for result in results:
        by_key.setdefault(json.dumps(result["labels"], sort_keys=True, default=str), []).append(result)
    groups = []
    for runs in by_key.values():
        values = [v for v in (metric_value(r, metric) for r in runs) if v is not None]
        if not values:
            continue
        shape = {k: float(np.mean([r[k] for r in runs])) for k in
                 ("non_embedding_params", "params", "tokens", "train_flops", "n_layer", "d_model",
                  "aspect_ratio")}
        extra = {}
        for kind in ("final", "forgetting"):
            for key in sorted({k for r in runs for k in r[kind]}):
                found = [r[kind][key] for r in runs if key in r[kind]]
                extra[f"{key} {kind}"] = float(np.mean(found))
        groups.append(Group(runs[0]["labels"], values, shape, extra))
    return groups


def varied_keys(groups: list[Group]) -> list[str]:
    names = list(dict.fromkeys(k for g in groups for k in g.labels))
    return [n for n in names if len({json.dumps(g.labels.get(n), default=str) for g in groups}) > 1]


def marginal_means(groups: list[Group], varied: list[str],
                   higher_is_better: bool = False) -> dict[str, list[tuple[Any, float]]]:
    """For each varied parameter: (choice, mean metric over every group with that choice), best first."""
    marginals = {}
    for name in varied:
        by_choice: dict[str, list[float]] = {}
        shown: dict[str, Any] = {}
        for g in groups:
            key = json.dumps(g.labels.get(name), default=str)
            by_choice.setdefault(key, []).append(g.mean)
            shown[key] = g.labels.get(name)
        marginals[name] = sorted(((shown[k], float(np.mean(v))) for k, v in by_choice.items()),
                                 key=lambda item: -item[1] if higher_is_better else item[1])
    return marginals


def _sizes(groups: list[Group]) -> dict[Any, list[Group]]:
    sizes: dict[Any, list[Group]] = {}
    for g in groups:
        sizes.setdefault(g.labels.get(SIZE_KEY, "all"), []).append(g)
    return sizes


def _optimum(groups: list[Group], rng: Optional[np.random.Generator] = None) -> float:
    """The aspect ratio of lowest loss at one size (a bootstrap resample when rng is given)."""
    picks = range(len(groups)) if rng is None else rng.integers(0, len(groups), len(groups))
    x, y = [], []
    for i in picks:
        g = groups[i]
        values = g.values if rng is None else rng.choice(g.values, len(g.values))
        x.append(g.shape["aspect_ratio"])
        y.append(float(np.mean(values)))
    return curve_minimum(x, y)


def aspect_analysis(groups: list[Group], target: float, samples: int, seed: int = 0) -> Optional[dict]:
    """Optimal d_model/n_layer per size, its log-log trend over size, and the value at `target`."""
    sizes = {s: gs for s, gs in _sizes(groups).items()
             if len({g.shape["aspect_ratio"] for g in gs}) >= 2}
    if not sizes:
        return None
    ordered = sorted(sizes, key=lambda s: np.mean([g.shape["non_embedding_params"] for g in sizes[s]]))
    n = [float(np.mean([g.shape["non_embedding_params"] for g in sizes[s]])) for s in ordered]
    optima = [_optimum(sizes[s]) for s in ordered]
    measured = [[g.shape["aspect_ratio"] for g in sizes[s]] for s in ordered]
    at_edge = [o in (min(m), max(m)) for o, m in zip(optima, measured)]
    slope, intercept = log_trend(n, optima)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(samples):
        opt = [_optimum(sizes[s], rng) for s in ordered]
        b_slope, b_intercept = log_trend(n, opt)
        boot.append(math.exp(b_intercept + b_slope * math.log(target)))
    return {"sizes": ordered, "n": n, "optima": optima, "at_edge": at_edge,
            "slope": slope, "intercept": intercept,
            "target": target, "at_target": math.exp(intercept + slope * math.log(target)),
            "band": percentile_band(boot) if boot else None,
            "curves": {str(s): sorted((g.shape["aspect_ratio"], g.mean, g.std) for g in sizes[s])
                       for s in ordered}}


def size_frontier(groups: list[Group]) -> list[tuple[float, float, float]]:
    """(non-embedding params, train FLOPs, loss) of the best configuration at each size."""
    sizes = _sizes(groups) if any(SIZE_KEY in g.labels for g in groups) else \
        {g.shape["non_embedding_params"]: [g] for g in groups}
    best = [min(gs, key=lambda g: g.mean) for gs in sizes.values()]
    return sorted((g.shape["non_embedding_params"], g.shape["train_flops"], g.mean) for g in best)


SHAPE_KEYS = {SIZE_KEY, "model.d_model", "model.n_layer", "model.n_head", "model.d_ff"}


def power_law_analysis(analysis: Analysis, samples: int, seed: int = 0) -> None:
    """Fit only when the study varies size (an ablation's parameter counts are not sizes)."""
    if not analysis.varied or not set(analysis.varied) <= SHAPE_KEYS:
        return
    points = size_frontier(analysis.groups)
    if len({p[0] for p in points}) < 3:
        return
    n, loss = [p[0] for p in points], [p[2] for p in points]
    analysis.power_law = fit_power_law(n, loss)
    analysis.power_law_points = [(p[0], p[2]) for p in points]
    if len(points) > 3:  # a resample of 3 points pins the 3-parameter law exactly: no band
        rng = np.random.default_rng(seed)
        alphas = []
        for _ in range(samples):
            pick = rng.integers(0, len(n), len(n))
            if len(set(pick)) >= 3:
                alphas.append(fit_power_law([n[i] for i in pick], [loss[i] for i in pick]).alpha)
        analysis.alpha_band = percentile_band(alphas) if alphas else None


def analyse(results: list[dict], cfg: ExploreConfig) -> Analysis:
    groups = group_results(results, cfg.metric)
    varied = varied_keys(groups)
    metric = f"{cfg.metric.reduce} {cfg.metric.key}" + (" per char" if cfg.metric.per == "char" else "")
    higher = cfg.metric.higher_is_better
    analysis = Analysis(groups, varied, metric, marginal_means(groups, varied, higher), higher_is_better=higher)
    if "model.n_layer" in varied or any("n_layer" in json.dumps(g.labels) for g in groups):
        analysis.aspect = aspect_analysis(groups, cfg.report.extrapolate_to, cfg.report.bootstrap)
    power_law_analysis(analysis, cfg.report.bootstrap)
    return analysis
