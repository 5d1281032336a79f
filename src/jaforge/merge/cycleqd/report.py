"""CycleQD's report: the archives as heatmaps per generation, how they filled, and the best merged
models against each expert, plain task arithmetic and a linear average.

    plot_archives(archives, out / "archives" / "gen-0003.png", title="generation 3")
    write_report(out, summary)          # report.md (+ the heatmaps it links)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jaforge.io.atomic import write_text
from jaforge.merge.cycleqd.archive import Archive

log = logging.getLogger(__name__)


def plot_archives(archives: list[Archive], path: Path, title: str) -> bool:
    """One heatmap per archive (quality by cell; two behaviour axes, or one); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        log.warning("matplotlib is not installed (the 'plot' extra): no archive heatmaps")
        return False
    fig, axes = plt.subplots(1, len(archives), figsize=(4.2 * len(archives), 3.8), squeeze=False)
    for ax, archive in zip(axes[0], archives):
        rows = archive.bins if len(archive.axes) > 1 else 1
        grid = np.full((rows, archive.bins), np.nan)
        for cell, elite in archive.cells.items():
            grid[(cell[1] if len(cell) > 1 else 0), cell[0]] = archive.quality(elite)
        image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        ax.set_title(f"archive: {archive.task} ({len(archive.cells)} cells)", fontsize=9)
        ax.set_xlabel(f"{archive.axes[0]} bin")
        if len(archive.axes) > 1:
            ax.set_ylabel(f"{archive.axes[1]} bin")
        fig.colorbar(image, ax=ax, label=f"{archive.task} (quality)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _normalised(metrics: dict[str, float], reference: dict[str, float]) -> float:
    return sum(metrics[t] / reference[t] if reference[t] > 0 else metrics[t] for t in reference) / len(reference)


def _row(name: str, metrics: dict[str, float], tasks: list[str], reference: dict[str, float]) -> str:
    cells = " | ".join(f"{metrics[t]:.4f}" for t in tasks)
    raw = sum(metrics[t] for t in tasks) / len(tasks)
    return f"| {name} | {cells} | {raw:.4f} | {_normalised(metrics, reference):.3f} |"


def verdict(best: dict[str, Any], experts: dict[str, dict[str, float]], reference: dict[str, float]) -> list[str]:
    """One sentence per expert: does the best merged model beat it on the (normalised) task average?"""
    mean = _normalised(best["metrics"], reference)
    lines = []
    for name, metrics in experts.items():
        theirs = _normalised(metrics, reference)
        word = "beats" if mean > theirs else "does not beat"
        lines.append(f"- The best merged model `{best['id']}` (normalised task average {mean:.3f}) **{word}** the "
                     f"{name} expert ({theirs:.3f}).")
    return lines


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    tasks = summary["tasks"]
    reference = summary["reference"]
    header = ("| model | " + " | ".join(tasks) + " | average | normalised average |\n|---|"
              + "---:|" * (len(tasks) + 2))
    rows = [_row(f"expert: {t}", m, tasks, reference) for t, m in summary["experts"].items()]
    rows += [_row(name, m, tasks, reference) for name, m in summary["baselines"].items()]
    rows += [_row(f"CycleQD best for {t} (`{b['id']}`)", b["metrics"], tasks, reference)
             for t, b in summary["best_per_task"].items()]
    rows.append(_row(f"CycleQD best on average (`{summary['best_average']['id']}`)",
                     summary["best_average"]["metrics"], tasks, reference))
    coverage = "\n".join(f"| {h['generation']} | {h['task']} | {h['inserted']} | "
                         + " | ".join(str(h["cells"][t]) for t in tasks) + " |" for h in summary["history"])
    heatmaps = "\n".join(f"![generation {g}]({p})" for g, p in summary["heatmaps"])
    described = ", ".join(f"{t} ({summary['metric_names'][t]})" for t in tasks)
    text = (f"# CycleQD\n\nTasks: {described}; "
            f"{summary['generations']} generations of {summary['children']} children; {summary['bins']} bins per "
            f"axis; seed {summary['seed']}; parents by {summary['sampling']} sampling; crossover w ~ "
            f"N({summary['crossover']['mean']}, {summary['crossover']['std']}); SVD mutation ε ~ "
            f"U({summary['mutation']['low']}, {summary['mutation']['high']})"
            f"{'' if summary['mutation']['enabled'] else ' (off)'}.\n\n"
            f"## Models (held-out metrics, higher is better)\n\n{header}\n" + "\n".join(rows) + "\n\n"
            "The normalised average divides each task's metric by the best starting model's (base or "
            f"expert) on that task ({', '.join(f'{t}: {v:.4g}' for t, v in reference.items())}), so tasks "
            "on different scales weigh the same; the best merged model is the child with the highest.\n\n"
            "## Verdict\n\n" + "\n".join(verdict(summary["best_average"], summary["experts"], reference)) + "\n\n"
            "## Archives filling (cells held per archive)\n\n| generation | quality task | children inserted | "
            + " | ".join(tasks) + " |\n|---:|---|---:|" + "---:|" * len(tasks) + f"\n{coverage}\n\n"
            f"Behaviour ranges binned: {summary['ranges']}\n\n## Archives by generation\n\n{heatmaps}\n")
    return write_text(out / "report.md", text)
