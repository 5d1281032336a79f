"""Train and measure a grid of vocabulary sizes × algorithms: `jaforge tokenizer-sweep`.

    jaforge tokenizer-sweep --config recipes/tokenizer-tiny.yaml --vocab_sizes '[1000, 2000]'

Each point is trained on every document of `sources` into `output_dir/points/<algorithm>-<vocab>/` and
measured on `measure_sources` (default: the training sources). Writes results.csv, results.md and
one PNG per metric (metric against vocabulary size, one line per algorithm) into `output_dir`.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from jaforge.extras import require
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.tokenizer.config import SweepConfig
from jaforge.tokenizer.hf import write_tokenizer_dir
from jaforge.tokenizer.measure import measure
from jaforge.tokenizer.train import train

log = logging.getLogger(__name__)

PLOTTED = ["chars_per_token", "bytes_per_token", "fertility", "split_morpheme_share",
           "byte_fallback_rate", "vocab_utilisation", "train_seconds"]
COLUMNS = ["algorithm", "vocab_size", "train_seconds", "tokens", "chars_per_token",
           "bytes_per_token", "fertility", "split_morpheme_share", "byte_fallback_rate",
           "unknown_rate", "vocab_utilisation"]


def sweep_point(cfg: SweepConfig, algorithm: str, vocab_size: int) -> dict[str, Any]:
    """Train one tokenizer of the grid, write it, and measure it."""
    trainer = replace(cfg.trainer, algorithm=algorithm, vocab_size=vocab_size)
    point_dir = Path(cfg.output_dir) / "points" / f"{algorithm}-{vocab_size}"
    tok, proto, stats = train(cfg.sources, trainer)
    write_tokenizer_dir(tok, point_dir, trainer.model_max_length, proto)
    metrics = measure(tok, cfg.measure_sources or cfg.sources, cfg.morphology)
    row = {"algorithm": algorithm, "vocab_size": vocab_size,
           "train_seconds": stats["train_seconds"], **metrics}
    write_json(point_dir / "measure.json", row)
    return {k: row.get(k) for k in COLUMNS}


def write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    """results.csv and results.md (one row per point)."""
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for row in rows:
        cells = [f"{v:.4f}" if isinstance(v, float) else "–" if v is None else str(v)
                 for v in (row[c] for c in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    write_text(out / "results.md", "\n".join(lines) + "\n")


def plot_metrics(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per metric: the metric against vocabulary size, one line per algorithm."""
    matplotlib = require("matplotlib", "plot", "sweep plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for metric in PLOTTED:
        if all(row.get(metric) is None for row in rows):
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for algorithm in dict.fromkeys(row["algorithm"] for row in rows):
            points = sorted((r["vocab_size"], r[metric]) for r in rows
                            if r["algorithm"] == algorithm and r.get(metric) is not None)
            ax.plot(*zip(*points), marker="o", label=algorithm)
        ax.set_xscale("log")
        sizes = sorted({r["vocab_size"] for r in rows})
        ax.set_xticks(sizes, [f"{v:,}" for v in sizes])
        ax.minorticks_off()
        ax.set_xlabel("vocabulary size")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend()
        fig.tight_layout()
        path = out / f"{metric}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def run(cfg: SweepConfig) -> StageResult:
    """Train and measure every (algorithm, vocabulary size); the rows are in results.csv."""
    with open_run(cfg.output_dir, "tokenizer-sweep", cfg) as out:
        rows = []
        for algorithm in cfg.algorithms:
            for vocab_size in cfg.vocab_sizes:
                rows.append(sweep_point(cfg, algorithm, vocab_size))
                log.info("sweep %s %d: %.3f chars/token", algorithm, vocab_size,
                         rows[-1]["chars_per_token"])
                write_tables(rows, out)  # a killed sweep still leaves the finished points
        plots = plot_metrics(rows, out)
    table = (out / "results.md").read_text(encoding="utf-8")
    outputs = {"results": str(out / "results.csv"), **{p.stem: str(p) for p in plots}}
    return StageResult("tokenizer-sweep", str(out), outputs, {"points": len(rows)}, table)
