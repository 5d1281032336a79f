"""The corpus stage's config: where documents come from, what is done to them, where they go.

Every numeric field declares its range next to its type; `jaforge corpus --help` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Le

from jaforge.executor import ExecutorConfig
from jaforge.io.readers import InputConfig

Share = Annotated[float, Ge(0), Le(1)]


@dataclass
class NormalizeConfig:
    enabled: bool = True
    nfkc: bool = True
    """Unicode NFKC (full-width ASCII → half-width, half-width kana → full-width, …)."""
    nfkc_keep: str = "…‥"
    """Characters NFKC leaves as they are: … and ‥ would become `...` and `..`, which the
    ellipsis rules (Swallow's counts `…`) and Japanese typography tell apart from ASCII dots."""
    whitespace: bool = True
    """Collapse runs of spaces/tabs, strip line ends, squeeze 3+ blank lines into one."""
    japanese_punctuation: bool = True
    """Rewrite `，．` (and `,.` after NFKC) to `、。` when they follow a Japanese character."""


@dataclass
class LanguageConfig:
    enabled: bool = True
    min_japanese_ratio: Share = 0.5
    """Japanese: Japanese letters are at least this share of all letters, …"""
    min_japanese_letters: Annotated[int, Ge(0)] = 1000
    """…or there are at least this many Japanese letters and their share is at least
    `min_japanese_ratio_with_letters` (a Japanese manual full of code or English terms); 0 turns
    this second test off."""
    min_japanese_ratio_with_letters: Share = 0.2
    """The share of Japanese letters that a document with `min_japanese_letters` needs."""
    min_kana_ratio: Share = 0.05
    """…and kana are at least this share of Japanese letters (separates Chinese)."""
    fasttext_model: Optional[str] = None
    """Optional fastText language-ID model (e.g. lid.176.bin) the user supplies; needs `fasttext`."""
    fasttext_min_prob: Share = 0.5


@dataclass
class QualityConfig:
    preset: Optional[str] = "ja_web"
    """Named rule list. ja_web (default, web text): Swallow v1's rules with the options that keep
    long clean documents and code blocks (repeated n-grams per 1,000 characters, Japanese by
    letters or share, stripped lines, sentence lengths without code lines), plus mojibake, symbol
    and ad checks; ja_docs (manuals, technical documentation): ja_web with the repeated n-gram
    limits doubled; swallow_v1: the released Swallow corpus annotator (quality.py, apply_v1) rule
    by rule; llmjp_v1: LLM-jp corpus v1; hojichar_std: HojiChar's standard Japanese filters;
    None: only `rules`. Deviations from a source are rule options (`quality.params`), never
    defaults: e.g. duplicate_ngram_share {count: occurrences | distinct, window}, japanese_ratio
    {letters: swallow | kana_kanji, of: characters | letters, min_letters}, duplicate_lines
    {segments: swallow | stripped}, ng_words {katakana_boundary}."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """Extra rules after the preset, each `{name: <rule>, <param>: <value>, …}`."""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameter overrides per rule name, e.g. `{duplicate_ngram_share: {count: occurrences}}`."""
    disable: list[str] = field(default_factory=list)
    """Rule names of the preset to leave out."""


@dataclass
class DedupConfig:
    exact: bool = True
    """Drop documents whose normalised text equals an earlier document's."""
    near: bool = True
    """Drop documents sharing a MinHash LSH band with an earlier document."""
    ngram: Annotated[int, Ge(1), Le(64)] = 5
    """Character n-gram size of the MinHash shingles."""
    bands: Annotated[int, Ge(1)] = 40
    """LSH bands (b); the Swallow corpus uses 40 × 20, HojiChar 20 × 10 or 27 × 18."""
    rows: Annotated[int, Ge(1)] = 20
    """Rows per band (r); b × r MinHash permutations in all."""
    seed: Annotated[int, Ge(0)] = 0


@dataclass
class PIIConfig:
    enabled: bool = True
    types: list[str] = field(default_factory=lambda: ["email", "phone_jp", "my_number",
                                                      "credit_card", "ipv4", "ipv6"])
    """PII kinds to mask, in `text` and in every metadata string; each becomes a typed
    placeholder such as `<EMAIL>`."""
    keep_ip_ranges: list[str] = field(default_factory=lambda: ["documentation", "private",
                                                               "reserved"])
    """IP addresses never masked: `documentation` (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    2001:db8::/32, 3fff::/20: the examples of manuals), `private` (10/8, 172.16/12, 192.168/16,
    100.64/10, loopback, link-local, unique-local, unspecified: no one's public address),
    `reserved` (multicast, 240/4 with netmasks such as 255.255.255.0, IPv4-mapped IPv6), or CIDR
    ranges. [] masks every address."""


@dataclass
class OutputConfig:
    format: Literal["jsonl.gz", "jsonl", "parquet"] = "jsonl.gz"
    """Shard format; every shard has the columns id, text, source, metadata (a JSON string)."""
    write_rejects: bool = False
    """Also write dropped documents with their step and reason to `rejects/` (PII masked)."""


@dataclass
class CorpusConfig:
    input: InputConfig = field(default_factory=InputConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)
    output_dir: str = "runs/corpus"
    """Run directory: shards in `data/`, rejects, stats, summary, resolved config, work files."""
    output: OutputConfig = field(default_factory=OutputConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
