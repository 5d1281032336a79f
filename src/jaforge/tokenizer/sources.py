"""Training text for the tokenizer: every document of the corpus shards, mixed by source weight.

    for source, text in documents(cfg.sources): ...        # each document once
    for line in training_lines(cfg.sources, trainer): ...  # what the trainers see

Shards are the corpus stage's output (`data/part-*.jsonl.gz` or `.parquet`) or any JSONL file
with a text field. Documents are split at newlines (the newline is a user-defined piece, so no
piece can cross it anyway) and over-long lines are cut, because SentencePiece drops sentences
longer than its `max_sentence_length` instead of learning from them.
"""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path
from typing import Iterator

from jaforge.io.records import read_jsonl
from jaforge.errors import ConfigError, InputError, input_errors
from jaforge.extras import require
from jaforge.tokenizer.config import SourceConfig, TrainerConfig


SHARD_PATTERNS = ("part-*.jsonl.gz", "part-*.jsonl", "part-*.parquet",
                  "*.jsonl.gz", "*.jsonl", "*.parquet")
PRETOKENIZATION_DELIMITER = "\ue000"  # a private-use character: never in real text


def shard_paths(patterns: list[str]) -> list[Path]:
    """Files named by `patterns`: files, folders (their shards, in `data/` if present) or globs."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            folder = path / "data" if (path / "data").is_dir() else path
            for shard_glob in SHARD_PATTERNS:
                matches = sorted(folder.glob(shard_glob))
                if matches:
                    found += matches
                    break
        elif path.is_file():
            found.append(path)
        else:
            found += sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if not found:
        raise InputError(", ".join(patterns) or "sources.paths",
                         "no shards found (expected JSONL/Parquet files, folders of them or globs)")
    return found


def _read_shard(path: Path, text_field: str) -> Iterator[str]:
    if path.name.endswith(".parquet"):
        pq = require("pyarrow.parquet", "parquet", "reading Parquet shards")
        with input_errors(path, "a Parquet file"):
            shard = pq.ParquetFile(path)
        if text_field not in shard.schema_arrow.names:
            raise InputError(path, f"has no column '{text_field}' (columns: "
                             f"{', '.join(shard.schema_arrow.names)}); set the source's text_field")
        with input_errors(path, "a Parquet file"):
            for batch in shard.iter_batches(columns=[text_field]):
                yield from (t for t in batch.column(0).to_pylist() if t)
        return
    with input_errors(path, "JSON lines"):
        for record in read_jsonl(path):
            text = record.get(text_field)
            if isinstance(text, str) and text:
                yield text


def _uniform(key: str) -> float:
    """A number in [0, 1) fixed by `key` (the same on every run and machine)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def documents(sources: list[SourceConfig], max_docs: int | None = None, holdout: float = 0.0,
              part: str = "train") -> Iterator[tuple[SourceConfig, str]]:
    """(source, text) for every document of every source, each once, in file order.

    With `holdout` > 0, that share of each source's documents (by a hash of the position) is
    the `held_out` part and the rest the `train` part; `part` picks which one is read."""
    if not sources:
        raise ConfigError("'sources': no sources; give at least one entry with paths")
    for source in sources:
        count = 0
        for index, text in enumerate(t for path in shard_paths(source.paths)
                                     for t in _read_shard(path, source.text_field)):
            held_out = holdout > 0 and _uniform(f"holdout:{source.name}:{index}") < holdout
            if held_out != (part == "held_out"):
                continue
            yield source, text
            count += 1
            if max_docs is not None and count >= max_docs:
                break


def repeats(source: SourceConfig, index: int) -> int:
    """How often document `index` of `source` is used: floor(weight), plus one with
    probability frac(weight) decided by a hash (the same documents on every run)."""
    whole = int(source.weight)
    fraction = source.weight - whole
    if fraction <= 0:
        return whole
    return whole + (_uniform(f"{source.name}:{index}") < fraction)


def weighted_documents(sources: list[SourceConfig], holdout: float = 0.0
                       ) -> Iterator[tuple[SourceConfig, str]]:
    """Every training document, repeated or thinned by its source's weight."""
    index: dict[str, int] = {}
    for source, text in documents(sources, holdout=holdout):
        i = index[source.name] = index.get(source.name, -1) + 1
        for _ in range(repeats(source, i)):
            yield source, text


def cut_line(line: str, max_bytes: int) -> Iterator[str]:
    """`line` in chunks of at most `max_bytes` UTF-8 bytes, cut between characters."""
    if len(line.encode("utf-8")) <= max_bytes:
        yield line
        return
    chunk, size = [], 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > max_bytes:
            yield "".join(chunk)
            chunk, size = [], 0
        chunk.append(char)
        size += width
    if chunk:
        yield "".join(chunk)


class MorphemeSegmenter:
    """Joins fugashi morphemes with a delimiter the SentencePiece trainer splits at and drops."""

    def __init__(self) -> None:
        fugashi = require("fugashi", "ja", "morphological pre-segmentation")
        self.tagger = fugashi.Tagger()

    def __call__(self, line: str) -> str:
        words = self.tagger(line)
        pieces = [w.white_space + w.surface for w in words]
        if "".join(pieces) != line:  # MeCab dropped or changed characters: keep the line whole
            return line
        return PRETOKENIZATION_DELIMITER.join(pieces)


def training_lines(sources: list[SourceConfig], trainer: TrainerConfig,
                   stats: dict | None = None, holdout: float = 0.0) -> Iterator[str]:
    """Every line of every (weighted) training document, pre-segmented where asked."""
    segment = MorphemeSegmenter() if trainer.pretokenize == "fugashi" else None
    stats = {} if stats is None else stats
    for source, text in weighted_documents(sources, holdout):
        counts = stats.setdefault(source.name, {"documents": 0, "lines": 0, "chars": 0})
        counts["documents"] += 1
        counts["chars"] += len(text)
        for line in text.split("\n"):
            if not line:
                continue
            for chunk in cut_line(line, trainer.max_sentence_bytes):
                counts["lines"] += 1
                yield segment(chunk) if segment and source.language == "ja" else chunk
