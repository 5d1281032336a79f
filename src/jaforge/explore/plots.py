"""Study plots (matplotlib, Agg backend): loss per knob, loss vs size and compute with the fitted
power law, aspect-ratio curves per size, the aspect-ratio trend with its band, validation curves.

    paths = write_plots(analysis, results, out_dir / "plots")     # {"title": Path(png), …}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jaforge.explore.analysis import Analysis
from jaforge.plotting import pyplot as _pyplot


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def knob_plot(plt, analysis: Analysis, name: str, path: Path) -> Path:
    """Metric against one varied parameter; one line per value of a second varied parameter."""
    others = [v for v in analysis.varied if v != name]
    series: dict[str, list] = {}
    for g in analysis.groups:
        key = f"{others[0]}={g.labels.get(others[0])}" if others else "all"
        series.setdefault(key, []).append((g.labels.get(name), g.mean, g.std))
    fig, ax = plt.subplots(figsize=(6, 4))
    choices = list(dict.fromkeys(json.dumps(g.labels.get(name), default=str) for g in analysis.groups))
    numeric = _numeric([json.loads(c) for c in choices])
    for label, points in sorted(series.items()):
        points.sort(key=lambda p: p[0] if numeric else choices.index(json.dumps(p[0], default=str)))
        x = [p[0] if numeric else choices.index(json.dumps(p[0], default=str)) for p in points]
        ax.errorbar(x, [p[1] for p in points], yerr=[p[2] for p in points], marker="o", capsize=3,
                    label=label)
    if not numeric:
        ax.set_xticks(range(len(choices)))
        ax.set_xticklabels([str(json.loads(c)) for c in choices], rotation=30, ha="right")
    elif min(g.labels.get(name) for g in analysis.groups) > 0 and len(choices) > 2:
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel(analysis.metric)
    if len(series) > 1:
        ax.legend(fontsize=7)
    return _save(fig, path)


def power_law_plot(plt, analysis: Analysis, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for g in analysis.groups:
        left.scatter(g.shape["non_embedding_params"], g.mean, color="0.6", s=12)
        right.scatter(g.shape["train_flops"], g.mean, color="0.6", s=12)
    n = np.array([p[0] for p in analysis.power_law_points])
    left.scatter(n, [p[1] for p in analysis.power_law_points], color="C0", label="best per size")
    law = analysis.power_law
    grid = np.geomspace(n.min() / 2, n.max() * 4, 100)
    left.plot(grid, law(grid), color="C1",
              label=f"L = {law.E:.3g} + {law.A:.3g}·N^-{law.alpha:.3f}")
    for ax, xlabel in ((left, "non-embedding parameters N"), (right, "training FLOPs C")):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(analysis.metric)
    left.legend(fontsize=7)
    return _save(fig, path)


def aspect_plot(plt, aspect: dict, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (size, curve) in enumerate(aspect["curves"].items()):
        x, y, e = zip(*curve)
        left.errorbar(x, y, yerr=e, marker="o", capsize=3, color=f"C{i}", label=f"N≈{aspect['n'][i]:,.0f}")
        left.axvline(aspect["optima"][i], color=f"C{i}", linestyle=":")
    left.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    left.xaxis.set_major_formatter(ScalarFormatter())
    left.xaxis.set_minor_formatter(NullFormatter())  # log minor labels overlap on a short range
    left.set_xlabel("d_model / n_layer")
    left.set_ylabel("loss")
    left.legend(fontsize=7)
    n = np.array(aspect["n"])
    grid = np.geomspace(n.min(), max(aspect["target"], n.max()), 100)
    right.scatter(n, aspect["optima"], color="C0", label="optimum per size")
    right.plot(grid, np.exp(aspect["intercept"] + aspect["slope"] * np.log(grid)), color="C1",
               label=f"trend ∝ N^{aspect['slope']:.3f}")
    if aspect["band"]:
        low, high = aspect["band"]
        right.errorbar([aspect["target"]], [aspect["at_target"]],
                       yerr=[[aspect["at_target"] - low], [high - aspect["at_target"]]],
                       marker="s", color="C3", capsize=4, label="extrapolation (90% bootstrap)")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("non-embedding parameters N")
    right.set_ylabel("optimal d_model / n_layer")
    right.legend(fontsize=7)
    return _save(fig, path)


def curves_plot(plt, results: list[dict], path: Path) -> Path:
    """Validation loss during training, one panel per validation column, one line per config."""
    keys = sorted({k for r in results for row in r["curve"] for k in row if k != "step"})
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    seen: dict[str, int] = {}
    for r in results:
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["labels"].items())
        color = seen.setdefault(label, len(seen))
        for ax, key in zip(axes[0], keys):
            rows = [row for row in r["curve"] if key in row]
            ax.plot([row["step"] for row in rows], [row[key] for row in rows], color=f"C{color % 10}",
                    alpha=0.8, label=label if r["seed"] == results[0]["seed"] else None)
    for ax, key in zip(axes[0], keys):
        ax.set_title(key)
        ax.set_xlabel("step")
    if len(seen) <= 12:
        axes[0][-1].legend(fontsize=6)
    return _save(fig, path)


def write_plots(analysis: Analysis, results: list[dict], directory: Path) -> dict[str, Path]:
    plt = _pyplot()
    plots: dict[str, Path] = {}
    try:
        for name in analysis.varied:
            if name != "budget.non_embedding_params":
                safe = name.replace("/", "_")
                plots[f"loss vs {name}"] = knob_plot(plt, analysis, name, directory / f"knob-{safe}.png")
        if analysis.power_law is not None:
            plots["loss vs size and compute"] = power_law_plot(plt, analysis, directory / "power-law.png")
        if analysis.aspect is not None:
            plots["aspect ratio"] = aspect_plot(plt, analysis.aspect, directory / "aspect-ratio.png")
        if any(r["curve"] for r in results):
            plots["validation curves"] = curves_plot(plt, results, directory / "curves.png")
    finally:
        plt.close("all")
    return plots
