"""The corpus stage: raw Japanese text (JSONL, Parquet, .txt, HTML, WARC) → clean, deduplicated shards.

    jaforge corpus --config recipes/corpus-tiny.yaml --output_dir runs/corpus

Writes into `output_dir`: `data/part-*.jsonl.gz` (or .jsonl / .parquet; every shard has the
columns id, text, source, metadata), `rejects/` (with `output.write_rejects`), `stats.json`,
`summary.md`, `skipped.jsonl` (bad input with file:line and reason), `config.yaml` (the resolved
config), `result.json` and `work/` (intermediate files and completion markers that let a killed
run resume). A resumed run must have the same config, but for `executor.*`.
"""

from __future__ import annotations

from pathlib import Path

from jaforge.config import validate
from jaforge.corpus.config import CorpusConfig
from jaforge.corpus.pipeline import RunLayout, run_phases
from jaforge.corpus.stats import CorpusStats, summary_table
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult

__all__ = ["CorpusConfig", "run"]

MAY_CHANGE = ["executor"]  # how a run is executed, never what it computes


def run(cfg: CorpusConfig) -> StageResult:
    """Run (or resume) the corpus stage and write its outputs and statistics."""
    validate(cfg)
    with open_run(cfg.output_dir, "corpus", cfg, resuming=True, may_change=MAY_CHANGE) as out:
        stats = run_phases(cfg)
        summary = summary_table(stats)
        write_json(out / "stats.json", stats.to_dict())
        write_text(out / "summary.md", summary)
        layout = RunLayout(out, cfg.output.format)
        parts = sorted((layout.work / "skipped").glob("part-*.jsonl"))
        write_text(out / "skipped.jsonl", "".join(p.read_text("utf-8") for p in parts))
        result = StageResult("corpus", str(out), outputs=_outputs(out, cfg), metrics=metrics(stats),
                             summary=summary)
        result.write()
    return result


def _outputs(out: Path, cfg: CorpusConfig) -> dict[str, str]:
    outputs = {"data": out / "data", "stats": out / "stats.json", "summary": out / "summary.md",
               "skipped": out / "skipped.jsonl"}
    if cfg.output.write_rejects:
        outputs["rejects"] = out / "rejects"
    return {name: str(path) for name, path in outputs.items()}


def metrics(stats: CorpusStats) -> dict:
    """Headline numbers: documents and characters in and out, drops per rule, skips, PII masks."""
    return {"docs_in": stats.docs_read, "chars_in": stats.chars_read,
            "docs_out": stats.docs_written, "chars_out": stats.chars_written,
            "drops": stats.drops(), "skipped": dict(stats.skipped),
            "pii_masked": dict(stats.pii_masked)}
