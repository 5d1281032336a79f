"""The corpus stage: raw Japanese text (JSONL, Parquet, .txt, HTML, WARC) → clean, deduplicated shards.

    jaforge corpus --config recipes/corpus-tiny.yaml --output.dir runs/corpus

Writes into `output.dir`: `data/part-*.jsonl.gz` (or .parquet), `stats.json`, `summary.md`,
`skipped.jsonl` (bad input with file:line and reason), `config.yaml` (the resolved config) and
`work/` (intermediate files and completion markers that let a killed run resume).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from jaforge.config import save_config, to_dict
from jaforge.corpus.config import CorpusConfig
from jaforge.corpus.stats import CorpusStats, summary_table

__all__ = ["CorpusConfig", "run"]


class RunDirectoryError(RuntimeError):
    """The output directory holds a run made with a different config."""


def _check_resumable(cfg: CorpusConfig, out: Path) -> None:
    saved = out / "work" / "config.json"
    current = to_dict(replace(cfg, executor=type(cfg.executor)()))
    if saved.exists():
        if json.loads(saved.read_text("utf-8")) != json.loads(json.dumps(current)):
            raise RunDirectoryError(
                f"{out} holds a run made with a different config; choose a new output.dir "
                f"or delete {out / 'work'} to start over")
        return
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(current, ensure_ascii=False, indent=1), encoding="utf-8")


def run(cfg: CorpusConfig) -> CorpusStats:
    """Run (or resume) the corpus stage and write its outputs and statistics."""
    from jaforge.corpus.pipeline import run_phases

    out = Path(cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resumable(cfg, out)
    save_config(cfg, out / "config.yaml")
    stats = run_phases(cfg)
    (out / "stats.json").write_text(json.dumps(stats.to_dict(), ensure_ascii=False, indent=1),
                                    encoding="utf-8")
    (out / "summary.md").write_text(summary_table(stats), encoding="utf-8")
    with open(out / "skipped.jsonl", "w", encoding="utf-8") as merged:
        for part in sorted((out / "work" / "skipped").glob("part-*.jsonl")):
            merged.write(part.read_text("utf-8"))
    return stats
