"""How well a tokenizer compresses a corpus: `jaforge tokenizer-measure`.

    jaforge tokenizer-measure --tokenizer runs/tokenizer --sources '[{paths: [runs/corpus]}]'

For any tokenizer (a jaforge tokenizer dir, an HF tokenizer.json, a SentencePiece .model, which is
measured through its HF conversion with identical ids) on any shard: characters and UTF-8 bytes per
token, fertility (tokens per fugashi/unidic morpheme), the share of morphemes that a token boundary
cuts, the byte-fallback and unknown rates, and the share of the vocabulary used. Morphology is
measured on `ja` sources only. Writes measure.json and measure.md into `output_dir`.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from jaforge.extras import require
from jaforge.io.atomic import write_json, write_text
from jaforge.rundir import open_run
from jaforge.stage_result import StageResult
from jaforge.tokenizer.config import MeasureConfig, SourceConfig
from jaforge.tokenizer.hf import load_hf
from jaforge.tokenizer.sources import documents

log = logging.getLogger(__name__)

BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass
class TokenCounts:
    """Running totals over documents; `metrics()` turns them into rates."""

    documents: int = 0
    chars: int = 0
    bytes: int = 0
    tokens: int = 0
    byte_tokens: int = 0
    unknown_tokens: int = 0
    morphemes: int = 0
    morpheme_tokens: int = 0
    split_morphemes: int = 0
    used_ids: set = field(default_factory=set)

    def metrics(self, vocab_size: int) -> dict[str, Any]:
        tokens = max(self.tokens, 1)
        out = {"documents": self.documents, "chars": self.chars, "bytes": self.bytes,
               "tokens": self.tokens, "chars_per_token": self.chars / tokens,
               "bytes_per_token": self.bytes / tokens,
               "byte_fallback_rate": self.byte_tokens / tokens,
               "unknown_rate": self.unknown_tokens / tokens,
               "vocab_utilisation": len(self.used_ids) / max(vocab_size, 1),
               "morphemes": self.morphemes}
        if self.morphemes:
            out["fertility"] = self.morpheme_tokens / self.morphemes
            out["split_morpheme_share"] = self.split_morphemes / self.morphemes
        return out


class TokenizerUnderTest:
    """An HF tokenizer with the ids of its byte pieces and of its unknown token."""

    def __init__(self, tok: Any):
        self.tok = tok
        vocab = tok.get_vocab(with_added_tokens=True)
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self.byte_ids = {i for piece, i in vocab.items() if BYTE_PIECE.match(piece)}
        model = json.loads(tok.to_str())["model"]
        unk = model.get("unk_token")
        self.unk_id = vocab.get(unk) if unk is not None else model.get("unk_id")

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self.tok.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets


def morpheme_spans(tagger: Any, text: str) -> list[tuple[int, int]]:
    """Character spans of the morphemes of `text`, line by line (MeCab skips whitespace)."""
    spans, line_start = [], 0
    for line in text.split("\n"):
        pos = line_start
        for word in tagger(line):
            pos = line.find(word.surface, pos - line_start) + line_start if word.surface else pos
            if pos < line_start:  # MeCab changed the surface: give up on this line
                break
            spans.append((pos, pos + len(word.surface)))
            pos += len(word.surface)
        line_start += len(line) + 1
    return spans


def count_morphemes(counts: TokenCounts, spans: list[tuple[int, int]],
                    offsets: list[tuple[int, int]]) -> None:
    """Add tokens per morpheme and morphemes cut by a token boundary to `counts`."""
    starts = sorted({start for start, end in offsets if end > start})
    for start, end in spans:
        first = bisect.bisect_right(starts, start)
        inside = bisect.bisect_left(starts, end) - first  # token starts strictly inside
        counts.morphemes += 1
        counts.morpheme_tokens += inside + 1
        counts.split_morphemes += inside > 0


def add_document(counts: TokenCounts, under_test: TokenizerUnderTest, text: str,
                 tagger: Any = None) -> None:
    ids, offsets = under_test.encode(text)
    counts.documents += 1
    counts.chars += len(text)
    counts.bytes += len(text.encode("utf-8"))
    counts.tokens += len(ids)
    counts.byte_tokens += sum(i in under_test.byte_ids for i in ids)
    counts.unknown_tokens += sum(i == under_test.unk_id for i in ids)
    counts.used_ids.update(ids)
    if tagger is not None:
        count_morphemes(counts, morpheme_spans(tagger, text), offsets)


def measure_texts(tok: Any, texts: Iterable[tuple[str, str]], morphology: bool = True
                  ) -> dict[str, Any]:
    """Metrics of `tok` (an HF tokenizer) over (language, text) pairs: overall and per language."""
    under_test = TokenizerUnderTest(tok)
    tagger = require("fugashi", "ja", "measuring fertility").Tagger() if morphology else None
    overall, per_language = TokenCounts(), {}
    for language, text in texts:
        use_tagger = tagger if language == "ja" else None
        add_document(overall, under_test, text, use_tagger)
        add_document(per_language.setdefault(language, TokenCounts()), under_test, text, use_tagger)
    result = overall.metrics(under_test.vocab_size)
    result["vocab_size"] = under_test.vocab_size
    result["per_language"] = {k: v.metrics(under_test.vocab_size) for k, v in per_language.items()}
    return result


def measure(tokenizer: str | Path | Any, sources: list[SourceConfig], morphology: bool = True,
            max_docs: int | None = None) -> dict[str, Any]:
    """Metrics of a tokenizer (path or HF tokenizer) on every document of `sources`."""
    tok = load_hf(tokenizer) if isinstance(tokenizer, (str, Path)) else tokenizer
    texts = ((source.language, text) for source, text in documents(sources, max_docs))
    return measure_texts(tok, texts, morphology)


def metrics_table(result: dict[str, Any]) -> str:
    """A Markdown table: one row per language and one for all text."""
    names = ["chars_per_token", "bytes_per_token", "fertility", "split_morpheme_share",
             "byte_fallback_rate", "unknown_rate", "vocab_utilisation"]
    rows = [("all", result)] + sorted(result.get("per_language", {}).items())
    lines = ["| text | documents | tokens | " + " | ".join(names) + " |",
             "|---" * (len(names) + 3) + "|"]
    for name, m in rows:
        cells = [f"{m[n]:.4f}" if n in m else "–" for n in names]
        lines.append(f"| {name} | {m['documents']} | {m['tokens']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(cfg: MeasureConfig) -> StageResult:
    """Measure `cfg.tokenizer` on `cfg.sources`; writes measure.json and measure.md."""
    with open_run(cfg.output_dir, "tokenizer-measure", cfg) as out:
        result = measure(cfg.tokenizer, cfg.sources, cfg.morphology, cfg.max_docs)
        result["tokenizer"] = str(cfg.tokenizer)
        write_json(out / "measure.json", result)
        write_text(out / "measure.md", metrics_table(result))
    metrics = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    return StageResult("tokenizer-measure", str(out), {"measure": str(out / "measure.json")},
                       metrics, metrics_table(result))
