"""The tokenizer stage's configs: where the training text comes from and how pieces are learned.

`TokenizerConfig` (train), `MeasureConfig`, `SweepConfig` and `ExpandConfig` are the typed configs
of `jaforge tokenizer`, `tokenizer-measure`, `tokenizer-sweep` and `tokenizer-expand`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

from annotated_types import Ge, Le, Lt, MinLen

from jaforge.paths import InputPath


@dataclass
class SourceConfig:
    name: str = "ja"
    """Name of the source, used in logs and statistics."""
    paths: Annotated[list[InputPath], MinLen(1)] = field(default_factory=list)
    """Shards, folders (their part-*.jsonl.gz / *.jsonl / *.parquet) or glob patterns."""
    language: Literal["ja", "en", "code"] = "ja"
    """Kind of text; morphological pre-segmentation only touches `ja` sources."""
    weight: Annotated[float, Ge(0)] = 1.0
    """Mixture weight: each document is used `weight` times (2.0 = twice; 0.5 = every other
    document, chosen deterministically by a hash of its position)."""
    text_field: str = "text"
    """Field (JSONL/Parquet) holding the document text."""


@dataclass
class TrainerConfig:
    algorithm: Literal["unigram", "bpe", "hf_bpe"] = "unigram"
    """`unigram` / `bpe`: SentencePiece; `hf_bpe`: Hugging Face `tokenizers` BPE trainer."""
    vocab_size: Annotated[int, Ge(8)] = 32000
    """Pieces in all, special tokens, byte pieces and user-defined symbols included."""
    byte_fallback: bool = True
    """Characters outside the vocabulary become UTF-8 byte pieces <0x00>…<0xFF> (no <unk>)."""
    split_digits: bool = True
    """Every digit is its own piece (numbers never merge)."""
    normalization: Literal["identity", "nfkc"] = "identity"
    """`identity` keeps text as is (decode(encode(x)) == x); `nfkc` applies Unicode NFKC."""
    max_piece_length: Annotated[int, Ge(1)] = 16
    """Longest piece in characters (SentencePiece max_sentencepiece_length)."""
    user_defined_symbols: list[str] = field(default_factory=lambda: ["\n"])
    """Strings that are always one piece (newline, markup or chat tokens)."""
    character_coverage: Annotated[float, Ge(0.98), Le(1.0)] = 0.9995
    """Share of characters the vocabulary covers; the rarest rest fall back to bytes."""
    pretokenize: Literal["none", "fugashi"] = "none"
    """`fugashi`: split Japanese text into morphemes (MeCab + unidic-lite) at training time only,
    so no piece crosses a morpheme boundary (as llm-jp-tokenizer v2 does)."""
    max_sentence_bytes: Annotated[int, Ge(16)] = 16384
    """Lines longer than this (UTF-8 bytes) are cut into chunks before training."""
    num_threads: Annotated[int, Ge(1)] = 2
    """Trainer threads."""
    seed_sentencepiece_size: Annotated[int, Ge(1)] = 1_000_000
    """Unigram: size of the seed vocabulary before pruning."""
    model_max_length: Annotated[int, Ge(1)] = 2048
    """Written to tokenizer_config.json (longest sequence the model is meant for)."""


@dataclass
class TokenizerConfig:
    sources: Annotated[list[SourceConfig], MinLen(1)] = field(default_factory=list)
    """Training text: one entry per source (e.g. ja, en, code) with its mixture weight."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    holdout_fraction: Annotated[float, Ge(0), Lt(1)] = 0.0
    """Share of each source's documents (chosen by a hash of their position, the same on every
    run) kept out of training and measured with the trained tokenizer (measure.json); 0: none."""
    output_dir: str = "runs/tokenizer"
    """Output directory: tokenizer.json, tokenizer_config.json, special_tokens_map.json,
    tokenizer.model (SentencePiece), train_stats.json, measure.json (held-out) and config.yaml."""


@dataclass
class MeasureConfig:
    tokenizer: InputPath = "runs/tokenizer"
    """A tokenizer directory, a SentencePiece .model file or an HF tokenizer.json."""
    sources: Annotated[list[SourceConfig], MinLen(1)] = field(default_factory=list)
    """Text to measure on (weights are ignored; every document is read once)."""
    morphology: bool = True
    """Compute fertility and split-morpheme share with fugashi (needs the `ja` extra)."""
    max_docs: Optional[Annotated[int, Ge(1)]] = None
    """Stop after this many documents per source (None: all)."""
    output_dir: str = "runs/tokenizer-measure"
    """Output directory: measure.json, measure.md and config.yaml."""


@dataclass
class SweepConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    """Training text, as for `jaforge tokenizer`."""
    measure_sources: list[SourceConfig] = field(default_factory=list)
    """Text to measure on; empty: the training sources."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Settings shared by every point; vocab_size and algorithm come from the lists below."""
    vocab_sizes: Annotated[list[Annotated[int, Ge(8)]], MinLen(1)] = field(
        default_factory=lambda: [8000, 16000, 32000])
    """Vocabulary sizes to train, each with every algorithm."""
    algorithms: Annotated[list[Literal["unigram", "bpe", "hf_bpe"]], MinLen(1)] = field(
        default_factory=lambda: ["unigram"])
    """Any of unigram, bpe (SentencePiece) and hf_bpe (HF tokenizers)."""
    morphology: bool = True
    """Measure fertility with fugashi."""
    output_dir: str = "runs/tokenizer-sweep"
    """Output directory: one tokenizer per point under points/, results.csv, results.md, *.png."""


@dataclass
class ExpandConfig:
    base_tokenizer: InputPath = ""
    """Base tokenizer: a directory, an HF tokenizer.json or a SentencePiece .model file."""
    sources: list[SourceConfig] = field(default_factory=list)
    """Japanese corpus the new pieces are learned from."""
    num_new_tokens: Annotated[int, Ge(1)] = 10000
    """Pieces to add (fewer if the candidates run out)."""
    candidate_vocab_size: Optional[Annotated[int, Ge(8)]] = None
    """Vocabulary trained on the corpus to draw candidates from; None: 3 × num_new_tokens."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Settings of the candidate training (vocab_size is replaced by candidate_vocab_size)."""
    min_piece_chars: Annotated[int, Ge(1)] = 1
    """Shortest new piece in characters (1: characters the base lacks are added too)."""
    output_dir: str = "runs/tokenizer-expand"
    """Output directory: the expanded tokenizer, expansion.json, expand_stats.json, config.yaml."""
