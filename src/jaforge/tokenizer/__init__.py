"""The tokenizer stage: train on the whole corpus, measure, sweep vocabulary sizes, expand.

    jaforge tokenizer --config recipes/tokenizer-tiny.yaml            # train (this module's run)
    jaforge tokenizer-measure --tokenizer runs/tokenizer --sources '[{paths: [runs/corpus]}]'
    jaforge tokenizer-sweep --config …   (jaforge.tokenizer.sweep)
    jaforge tokenizer-expand --config …  (jaforge.tokenizer.expand)

Training writes into `dir`: tokenizer.json + tokenizer_config.json + special_tokens_map.json
(loadable by `transformers.AutoTokenizer` and by `tokenizers.Tokenizer.from_file`), tokenizer.model
when SentencePiece was used, train_stats.json and the resolved config.yaml.
This package never imports torch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from jaforge.config import save_config
from jaforge.tokenizer.config import (ExpandConfig, MeasureConfig, SourceConfig, SweepConfig,
                                      TokenizerConfig, TrainerConfig)
from jaforge.tokenizer.result import StageResult

log = logging.getLogger(__name__)

__all__ = ["TokenizerConfig", "TrainerConfig", "SourceConfig", "MeasureConfig", "SweepConfig",
           "ExpandConfig", "run"]


def train_summary(stats: dict, cfg: TokenizerConfig) -> str:
    """Markdown: what was trained, and how much text each source gave."""
    lines = [f"{cfg.trainer.algorithm} tokenizer, {stats['vocab_size']} pieces, "
             f"trained in {stats['train_seconds']:.1f} s → {cfg.dir}", "",
             "| source | documents | lines | chars |", "|---|---|---|---|"]
    for name, counts in stats["sources"].items():
        lines.append(f"| {name} | {counts['documents']} | {counts['lines']} | {counts['chars']} |")
    return "\n".join(lines) + "\n"


def run(cfg: TokenizerConfig) -> StageResult:
    """Train a tokenizer on `cfg.sources` and write the tokenizer directory; returns its stats."""
    from jaforge.tokenizer.hf import write_tokenizer_dir
    from jaforge.tokenizer.train import train

    out = Path(cfg.dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    tok, proto, stats = train(cfg.sources, cfg.trainer)
    write_tokenizer_dir(tok, out, cfg.trainer.model_max_length, proto)
    (out / "train_stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1),
                                          encoding="utf-8")
    result = StageResult(stats, train_summary(stats, cfg))
    log.info("\n%s", result.markdown())
    return result
