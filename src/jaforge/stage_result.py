"""What every stage's `run(cfg)` returns: its output directory, named outputs, headline metrics and a
Markdown summary (printed by the command line, collected by the pipeline's report).

    return StageResult("corpus", cfg.output_dir,
                       outputs={"data": str(out / "data"), "stats": str(out / "stats.json")},
                       metrics={"docs_out": 812, "chars_out": 1.2e6},
                       summary=summary_table(stats))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jaforge.io.atomic import write_json


@dataclass
class StageResult:
    stage: str
    """The stage's name (`corpus`, `pretrain`, …)."""
    output_dir: str
    """Where the stage wrote everything, its resolved `config.yaml` included."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Named outputs (paths), what a later stage or a user reads: `model`, `data`, `results` …"""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Headline numbers as plain JSON values: kept documents, final loss, accuracy per task …"""
    summary: str = ""
    """Markdown for the terminal and the run report."""

    def markdown(self) -> str:
        if self.summary:
            return self.summary
        rows = "\n".join(f"| {k} | {_cell(v)} |" for k, v in self.metrics.items())
        return f"| metric | value |\n|---|---|\n{rows}\n" if rows else ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | Path | None = None) -> Path:
        """Save as `<output_dir>/result.json` (what the pipeline reads back for a skipped stage)."""
        return write_json(path or Path(self.output_dir) / "result.json", self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> "StageResult":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
