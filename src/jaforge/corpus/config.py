"""The corpus stage's config: where documents come from, what is done to them, where they go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional


@dataclass
class InputConfig:
    paths: list[str] = field(default_factory=list)
    """Files, folders or glob patterns to read; each file becomes one task of the executor."""
    format: Literal["auto", "jsonl", "parquet", "txt", "html", "warc"] = "auto"
    """Reader to use; `auto` picks one from each file's extension."""
    text_field: str = "text"
    """Field (JSONL/Parquet) holding the document text."""
    id_field: str = "id"
    """Field holding the document id; missing ids become `<file stem>-<line>`."""
    metadata_fields: Optional[list[str]] = None
    """Fields passed through as metadata; None passes every field but text and id."""
    max_doc_chars: int = 5_000_000
    """Documents longer than this are skipped (reason `too_large`) instead of processed."""
    extract_main_text: bool = True
    """HTML/WARC: keep only the main text (trafilatura) rather than every text node."""


@dataclass
class NormalizeConfig:
    enabled: bool = True
    nfkc: bool = True
    """Unicode NFKC (full-width ASCII → half-width, half-width kana → full-width, …)."""
    whitespace: bool = True
    """Collapse runs of spaces/tabs, strip line ends, squeeze 3+ blank lines into one."""
    japanese_punctuation: bool = True
    """Rewrite `，．` (and `,.` after NFKC) to `、。` when they follow a Japanese character."""


@dataclass
class LanguageConfig:
    enabled: bool = True
    min_japanese_ratio: float = 0.5
    """Keep documents whose Japanese letters are at least this share of all letters."""
    min_kana_ratio: float = 0.05
    """…and whose kana are at least this share of Japanese letters (separates Chinese)."""
    fasttext_model: Optional[str] = None
    """Optional fastText language-ID model (e.g. lid.176.bin) the user supplies; needs `fasttext`."""
    fasttext_min_prob: float = 0.5


@dataclass
class QualityConfig:
    preset: Optional[str] = "ja_web"
    """Named rule list: ja_web (default: Swallow v1 + mojibake, symbol and ad checks), swallow_v1,
    llmjp_v1, hojichar_std; None for only `rules`."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """Extra rules after the preset, each `{name: <rule>, <param>: <value>, …}`."""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameter overrides per rule name, e.g. `{min_length: {min_chars: 300}}`."""
    disable: list[str] = field(default_factory=list)
    """Rule names of the preset to leave out."""


@dataclass
class DedupConfig:
    exact: bool = True
    """Drop documents whose normalised text equals an earlier document's."""
    near: bool = True
    """Drop documents sharing a MinHash LSH band with an earlier document."""
    ngram: int = 5
    """Character n-gram size of the MinHash shingles."""
    bands: int = 40
    """LSH bands (b); the Swallow corpus uses 40 × 20, HojiChar 20 × 10 or 27 × 18."""
    rows: int = 20
    """Rows per band (r); b × r MinHash permutations in all."""
    seed: int = 0


@dataclass
class PIIConfig:
    enabled: bool = True
    types: list[str] = field(default_factory=lambda: ["email", "phone_jp", "my_number",
                                                      "credit_card", "ipv4", "ipv6"])
    """PII kinds to mask; each is replaced by a typed placeholder such as `<EMAIL>`."""


@dataclass
class OutputConfig:
    dir: str = "runs/corpus"
    """Run directory: shards in `data/`, stats, resolved config, work files."""
    format: Literal["jsonl.gz", "jsonl", "parquet"] = "jsonl.gz"
    write_rejects: bool = False
    """Also write dropped documents with their reason to `rejects/`."""


@dataclass
class ExecutorConfig:
    kind: Literal["local", "ray"] = "local"
    """`local`: a process pool on this machine; `ray`: tasks on a Ray cluster."""
    workers: int = 1
    """Processes (local) or concurrent tasks (ray)."""
    ray_address: Optional[str] = None
    """Ray cluster address (`auto` for a running cluster); None starts a local one."""
    progress: bool = True


@dataclass
class CorpusConfig:
    input: InputConfig = field(default_factory=InputConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
