"""A pipeline run's report: report.md and a self-contained report.html (plots embedded).

    paths = write_report(pipeline, results)   # {"md": Path, "html": Path}

Built only from what the stages returned (`StageResult`: summary, metrics, named outputs), so any
stage, present or future, appears without the report knowing it. Named outputs that follow a
convention add more: `metrics` (a metrics.jsonl: loss curves), `generations` (a JSONL of
prompt/output pairs: a table), `model_card` (a README.md: shown whole), `figures` (PNG files).
"""

from __future__ import annotations

from jaforge.report.build import Report, build_report
from jaforge.report.render import write_report

__all__ = ["Report", "build_report", "write_report"]
