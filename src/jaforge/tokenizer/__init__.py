"""The tokenizer stage: train on the whole corpus, measure, sweep vocabulary sizes, expand.

    jaforge tokenizer --config recipes/tokenizer-tiny.yaml            # train (this module's run)
    jaforge tokenizer-measure --tokenizer runs/tokenizer --sources '[{paths: [runs/corpus]}]'
    jaforge tokenizer-sweep --config …   (jaforge.tokenizer.sweep)
    jaforge tokenizer-expand --config …  (jaforge.tokenizer.expand)

Training writes into `output_dir`: tokenizer.json + tokenizer_config.json + special_tokens_map.json
(loadable by `transformers.AutoTokenizer` and by `tokenizers.Tokenizer.from_file`), tokenizer.model
when SentencePiece was used, train_stats.json, measure.json (on the held-out share, when
`holdout_fraction` > 0) and the resolved config.yaml.

The BOS convention (Llama's) is decided here, once: `<s>` starts every document. The tokenizer's
post-processor adds it and tokenizer_config.json says `add_bos_token: true`; tokenize-data writes
token shards that way and records it in their meta.json, and every later stage follows.
This package never imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.tokenizer.config import (ExpandConfig, MeasureConfig, SourceConfig, SweepConfig,
                                      TokenizerConfig, TrainerConfig)
from jaforge.tokenizer.hf import load_hf, write_tokenizer_dir
from jaforge.tokenizer.measure import measure_texts, metrics_table
from jaforge.tokenizer.sources import documents
from jaforge.tokenizer.train import train

log = logging.getLogger(__name__)

__all__ = ["TokenizerConfig", "TrainerConfig", "SourceConfig", "MeasureConfig", "SweepConfig",
           "ExpandConfig", "run", "load_hf"]


def train_summary(stats: dict, cfg: TokenizerConfig) -> str:
    """Markdown: what was trained, and how much text each source gave."""
    lines = [f"{cfg.trainer.algorithm} tokenizer, {stats['vocab_size']} pieces, "
             f"trained in {stats['train_seconds']:.1f} s → {cfg.output_dir}", "",
             "| source | documents | lines | chars |", "|---|---|---|---|"]
    for name, counts in stats["sources"].items():
        lines.append(f"| {name} | {counts['documents']} | {counts['lines']} | {counts['chars']} |")
    return "\n".join(lines) + "\n"


def measure_held_out(tok, cfg: TokenizerConfig) -> dict | None:
    """Metrics of the trained tokenizer on the held-out documents (None when nothing is held out)."""
    if cfg.holdout_fraction <= 0:
        return None
    texts = ((source.language, text)
             for source, text in documents(cfg.sources, holdout=cfg.holdout_fraction, part="held_out"))
    return measure_texts(tok, texts, morphology=False)


def run(cfg: TokenizerConfig) -> StageResult:
    """Train a tokenizer on `cfg.sources` and write the tokenizer directory."""
    with open_run(cfg.output_dir, "tokenizer", cfg) as out:
        tok, proto, stats = train(cfg.sources, cfg.trainer, cfg.holdout_fraction)
        write_tokenizer_dir(tok, out, cfg.trainer.model_max_length, proto)
        write_json(out / "train_stats.json", stats)
        summary = train_summary(stats, cfg)
        outputs = {"tokenizer": str(out), "tokenizer_json": str(out / "tokenizer.json"),
                   "stats": str(out / "train_stats.json")}
        metrics = {"vocab_size": stats["vocab_size"], "train_seconds": stats["train_seconds"]}
        held_out = measure_held_out(tok, cfg)
        if held_out is not None:
            write_json(out / "measure.json", held_out)
            write_text(out / "measure.md", metrics_table(held_out))
            outputs["measure"] = str(out / "measure.json")
            metrics.update({f"held_out_{k}": held_out[k] for k in
                            ("documents", "chars_per_token", "byte_fallback_rate")})
            summary += "\nheld-out documents:\n\n" + metrics_table(held_out)
    return StageResult("tokenizer", str(Path(cfg.output_dir)), outputs, metrics, summary)
