"""Training metrics: one row per logged step into metrics.jsonl and metrics.csv (and TensorBoard),
plus the throughput, MFU and ETA, and the progress bar that shows them.

A resumed run first drops every row past the checkpoint it resumes from (the killed run may have
logged a few more steps), so the files always hold each step once, in order.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, Optional

# Columns whose values depend on the machine rather than on the training itself.
TIMING_FIELDS = ("tokens_per_s", "mfu", "elapsed_s", "peak_rss_mb", "gpu_peak_mb")


def _rows_up_to(path: Path, last_step: int) -> list[dict]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # a line cut short by a kill
        if row.get("step", 0) > last_step:
            break
        rows.append(row)
    return rows


def read_metrics(path: str | Path) -> list[dict]:
    """Every complete row of a metrics.jsonl."""
    return _rows_up_to(Path(path), 2**62)


class MetricsLog:
    """Appends metric rows to metrics.jsonl / metrics.csv (main process only)."""

    def __init__(self, out: Path, columns: list[str], resume_step: int, enabled: bool = True,
                 tensorboard: bool = False):
        self.enabled = enabled
        self.columns = columns
        self.jsonl = out / "metrics.jsonl"
        self.csv = out / "metrics.csv"
        self.rows: list[dict] = []
        self.writer = None
        if not enabled:
            return
        self.rows = _rows_up_to(self.jsonl, resume_step)
        self._rewrite()
        if tensorboard:
            from jaforge.extras import require

            require("tensorboard", "tensorboard", "TensorBoard metrics")
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1)

    def _rewrite(self) -> None:
        tmp = self.jsonl.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")
        tmp.replace(self.jsonl)
        self._write_csv()

    def _write_csv(self) -> None:
        tmp = self.csv.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.csv)

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        with open(self.csv, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Throughput:
    """Tokens/s, MFU against a peak FLOP/s, and ETA, measured over the steps of this process.
    `add` counts a step's tokens (no clock read that matters); `stats` is read at logged steps,
    after the loop has waited for the device, so it measures finished work."""

    def __init__(self, flops_per_token: float, peak_flops: float, world_size: int):
        self.flops_per_token = flops_per_token
        self.peak = peak_flops * world_size
        self.start = time.perf_counter()
        self.tokens = 0
        self.steps = 0

    def add(self, tokens: int) -> None:
        self.tokens += tokens
        self.steps += 1

    def stats(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.tokens / elapsed
        stats = {"tokens_per_s": rate, "elapsed_s": elapsed}
        if self.peak > 0 and self.flops_per_token > 0:
            stats["mfu"] = rate * self.flops_per_token / self.peak
        return stats

    def update(self, tokens: int) -> dict[str, float]:
        self.add(tokens)
        return self.stats()

    def eta_s(self, steps_left: int) -> float:
        elapsed = time.perf_counter() - self.start
        return elapsed / max(self.steps, 1) * steps_left


def progress_bar(enabled: bool, start: int, total: int):
    """A tqdm bar over the steps (None when disabled)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)


def show_row(bar, row: Optional[dict]) -> None:
    """Advance the bar one step; a logged step's loss, tokens/s, MFU and validation on it."""
    if bar is None:
        return
    if row is not None:
        shown = {"loss": f"{row['loss']:.3f}", "tok/s": f"{row['tokens_per_s']:.0f}"}
        shown.update({"mfu": f"{row['mfu']:.1%}"} if "mfu" in row else {})
        shown.update({k: f"{row[k]:.3f}" for k in ("val_loss", "val_ppl") if row.get(k) is not None})
        bar.set_postfix(shown, refresh=False)
    bar.update(1)
