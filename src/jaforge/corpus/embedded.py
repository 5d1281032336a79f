"""The embedded-text stage: jaforge's own English documents and source code as corpus shards.

    jaforge embedded-text --sets '[en, code]' --output_dir runs/en-code

For an English-first base model without downloading anything: the team-written English documents
(`data/en/clean.jsonl`) and the Python source of the installed jaforge package (a code genre that
is always at hand, `jaforge.data.source_code_documents`). Writes `data/part-00000.jsonl` (id, text,
metadata with the set and genre; what the tokenizer and tokenize-data read), `stats.json` and
config.yaml into `output_dir`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import MinLen

import jaforge
from jaforge import data
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult


@dataclass
class EmbeddedTextConfig:
    sets: Annotated[list[Literal["en", "code"]], MinLen(1)] = field(default_factory=lambda: ["en", "code"])
    """en: the English documents; code: the jaforge package's Python files."""
    code_suffixes: Annotated[list[str], MinLen(1)] = field(default_factory=lambda: [".py"])
    """File endings of the code set."""
    output_dir: str = "runs/embedded-text"
    """Where data/part-00000.jsonl, stats.json and config.yaml are written."""


def documents(cfg: EmbeddedTextConfig) -> list[dict]:
    docs = []
    if "en" in cfg.sets:
        docs += [{"id": d["id"], "text": d["text"], "metadata": {"set": "en", "genre": d["genre"]}}
                 for d in data.english_clean()]
    if "code" in cfg.sets:
        package = Path(jaforge.__file__).parent
        docs += [{"id": f"code/{d['id']}", "text": d["text"], "metadata": {"set": "code", "genre": "code"}}
                 for d in data.source_code_documents(package, tuple(cfg.code_suffixes))]
    return docs


def run(cfg: EmbeddedTextConfig) -> StageResult:
    docs = documents(cfg)
    with open_run(cfg.output_dir, "embedded-text", cfg) as out:
        write_text(out / "data" / "part-00000.jsonl",
                   "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
        stats = {s: {"documents": sum(d["metadata"]["set"] == s for d in docs),
                     "chars": sum(len(d["text"]) for d in docs if d["metadata"]["set"] == s)}
                 for s in cfg.sets}
        write_json(out / "stats.json", stats)
    summary = "| set | documents | characters |\n|---|---:|---:|\n" + "".join(
        f"| {s} | {c['documents']:,} | {c['chars']:,} |\n" for s, c in stats.items())
    return StageResult("embedded-text", str(out), {"data": str(out / "data")},
                       {"documents": len(docs), "chars": sum(c["chars"] for c in stats.values())}, summary)
