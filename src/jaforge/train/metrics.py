"""Training metrics: one row per logged step into metrics.jsonl and metrics.csv, and into the
trackers of `trainer.report_to` (TensorBoard event files, Weights & Biases runs), plus the
throughput, MFU and ETA, and the progress bar that shows them.

    check_trackers(cfg.trainer)     # before the run directory exists: a missing extra fails here
    log = MetricsLog(out, columns, resume_step, report_to=["tensorboard", "wandb"])

A resumed run first drops every row past the checkpoint it resumes from (the killed run may have
logged a few more steps), so the files always hold each step once, in order; TensorBoard purges
the same steps. W&B continues the run whose id <output_dir>/wandb/run-id holds (WANDB_MODE=offline
writes the run files without an account; `wandb sync` uploads them later).
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Protocol

import yaml

from jaforge.errors import ConfigError, JaforgeError
from jaforge.extras import require

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


# tracker → (module it needs, the extra that installs it)
TRACKER_EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}


def check_trackers(trainer: Any) -> None:
    """Refuse the removed `trainer.tensorboard: true` and any `report_to` tracker whose extra is
    missing (with the pip line), before the run writes anything."""
    if getattr(trainer, "tensorboard", None):  # false (older saved configs) asks for nothing
        raise ConfigError("'trainer.tensorboard': removed; use 'trainer.report_to: [tensorboard]' "
                          "(on the command line: --trainer.report_to '[tensorboard]')")
    for name in trainer.report_to:
        module, extra = TRACKER_EXTRAS[name]
        require(module, extra, f"trainer.report_to: {name}")


def numeric(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))
            and not isinstance(v, bool)}


class Tracker(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class TensorBoardTracker:
    """Scalars under <out>/tensorboard; a resumed run purges the steps past its checkpoint."""

    def __init__(self, out: Path, resume_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step + 1)

    def log(self, row: dict[str, Any]) -> None:
        for key, value in numeric(row).items():
            self.writer.add_scalar(key, value, row["step"])

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """One W&B run per output directory (resumed runs continue it), its files in <out>/wandb."""

    def __init__(self, out: Path, resume_step: int):
        wandb = require("wandb", "wandb", "trainer.report_to: wandb")
        id_file = out / "wandb" / "run-id"
        id_file.parent.mkdir(parents=True, exist_ok=True)
        run_id = id_file.read_text("utf-8").strip() if resume_step and id_file.exists() else uuid.uuid4().hex[:8]
        id_file.write_text(run_id, encoding="utf-8")
        config_path = out / "config.yaml"
        config = yaml.safe_load(config_path.read_text("utf-8")) if config_path.exists() else {}
        try:
            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "jaforge"), name=out.name,
                                  dir=str(out), id=run_id, resume="allow", config=config)
        except Exception as err:  # noqa: BLE001 — wandb raises its own types for login/network
            raise JaforgeError(f"trainer.report_to: wandb could not start a run ({err}); log in with "
                               "`wandb login`, or set WANDB_MODE=offline to log without an account") from None

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(numeric(row), step=row["step"])

    def close(self) -> None:
        self.run.finish()


TRACKERS = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker}


class MetricsLog:
    """Appends metric rows to metrics.jsonl / metrics.csv and the trackers (main process only)."""

    def __init__(self, out: Path, columns: list[str], resume_step: int, enabled: bool = True,
                 report_to: tuple[str, ...] | list[str] = ()):
        self.enabled = enabled
        self.columns = columns
        self.jsonl = out / "metrics.jsonl"
        self.csv = out / "metrics.csv"
        self.rows: list[dict] = []
        self.trackers: list[Tracker] = []
        if not enabled:
            return
        self.rows = _rows_up_to(self.jsonl, resume_step)
        self._rewrite()
        self.trackers = [TRACKERS[name](out, resume_step) for name in report_to]

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
        for tracker in self.trackers:
            tracker.log(row)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


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
