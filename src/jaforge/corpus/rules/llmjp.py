"""Quality rules of the LLM-jp corpus v1 (Common Crawl part), the `llmjp_v1` preset, and a
host block list rule.

LLM-jp v1 filtered with HojiChar filters plus a compression-ratio check; the preset carries the
thresholds of its non-strict run (llm-jp-corpus `scripts/filter_data.py`). Word-list rules take
user lists; the defaults are the small samples shipped in ``data/ja/noisy/``.

    from jaforge.corpus.rules import PRESETS, make_rule
    rules = [make_rule(name, params) for name, params in PRESETS.get("llmjp_v1")()]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge
from urllib.parse import urlsplit

from jaforge.corpus import textstats as ts
from jaforge.io.document import Document
from jaforge.corpus.rules.base import PRESETS, Rule, register_rule
from jaforge.corpus.rules.wordlists import (WordListError, WordMatcher, cached_matches,
                                            load_word_list, shipped_data_path)

_KANA = re.compile(ts.char_class(ts.HIRAGANA_RANGES + ts.KATAKANA_RANGES))


@register_rule("has_kana")
@dataclass
class HasKana(Rule):
    """Drop documents without any hiragana or katakana: Chinese, or not Japanese at all."""

    lookup_chars: Annotated[int, Ge(0)] = 0  # look only at the first this many characters; 0: all

    def __call__(self, doc: Document) -> str | None:
        text = doc.text[:self.lookup_chars] if self.lookup_chars > 0 else doc.text
        return None if _KANA.search(text) else self.name


@register_rule("discard_ads")
@dataclass
class DiscardAds(Rule):
    """Drop documents full of advertising keywords (HojiChar's DiscardAds).

    The default, 11, is LLM-jp v1's cut: it dropped at more than 10 matches.
    """

    min_matches: Annotated[int, Ge(0)] = 11  # keyword matches (every occurrence) at or above → drop
    path: str = ""  # keyword list, one a line; "" = the shipped sample data/ja/noisy/ad_words.txt
    katakana_boundary: bool = False  # HojiChar matches plain substrings

    def __post_init__(self) -> None:
        path = self.path or shipped_data_path("ja/noisy/ad_words.txt")
        self._matcher = WordMatcher.from_file(path, self.katakana_boundary)

    def __call__(self, doc: Document) -> str | None:
        found = cached_matches(doc, self._matcher)
        return self.name if found.count >= self.min_matches else None


@register_rule("ng_word_count")
@dataclass
class NgWordCount(Rule):
    """Drop documents with too many NG-word matches (LLM-jp's adult / discrimination / violence
    filters; it dropped at more than 3 matches per list, with katakana boundaries)."""

    min_matches: Annotated[int, Ge(0)] = 4  # matches at or above this → drop
    count: Literal["total", "distinct"] = "total"  # count every occurrence, or distinct words
    path: str = ""  # word list, one a line; "" = the shipped sample data/ja/noisy/ng_words.txt
    katakana_boundary: bool = True  # katakana words match only between non-katakana characters

    def __post_init__(self) -> None:
        path = self.path or shipped_data_path("ja/noisy/ng_words.txt")
        self._matcher = WordMatcher.from_file(path, self.katakana_boundary)

    def __call__(self, doc: Document) -> str | None:
        found = cached_matches(doc, self._matcher)
        n = found.count if self.count == "total" else found.distinct
        return self.name if n >= self.min_matches else None


@register_rule("rare_kuten")
@dataclass
class RareKuten(Rule):
    """Drop documents with too few 。 for their length: lists, tables, menus, non-prose
    (HojiChar's DiscardRareKuten)."""

    max_chars_per_kuten: Annotated[float, Ge(0)] = 100  # fewer than len(text) / this 。 → drop

    def __call__(self, doc: Document) -> str | None:
        text = doc.text
        return self.name if text.count("。") < len(text) / self.max_chars_per_kuten else None


@register_rule("compression_ratio")
@dataclass
class CompressionRatio(Rule):
    """Drop documents whose zlib compression ratio (level 9, on UTF-8 bytes) is outside
    [min_ratio, max_ratio]: too repetitive below, random strings and code-like noise above."""

    min_ratio: Annotated[float, Ge(0)] = 0.30  # compressed / raw bytes below this → drop
    max_ratio: Annotated[float, Ge(0)] = 0.70  # compressed / raw bytes above this → drop

    def __call__(self, doc: Document) -> str | None:
        ratio = doc.cached("compression_ratio", ts.compression_ratio)
        return None if self.min_ratio <= ratio <= self.max_ratio else self.name


def url_host(url: str) -> str | None:
    """The lower-case host of a URL (also of a scheme-less one such as ``example.jp/a``)."""
    url = url.strip()
    try:
        host = urlsplit(url if "://" in url else "//" + url).hostname
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    return (host.rstrip(".") or None) if host else None


@lru_cache(maxsize=8)
def _blocked_hosts(path: Path, mtime_ns: int) -> frozenset[str]:
    hosts = set()
    for entry in load_word_list(path):
        host = url_host(entry.lstrip("*."))
        if host:
            hosts.add(host)
    return frozenset(hosts)


@register_rule("url_blocklist")
@dataclass
class UrlBlocklist(Rule):
    """Drop documents whose metadata URL is on a host block list (UT1-style lists: one host a
    line, # comments). A listed host also blocks its subdomains: example.com blocks
    www.example.com. Documents without a URL are kept."""

    path: str  # host list file
    meta_key: str = "url"  # metadata field holding the document's URL

    def __post_init__(self) -> None:
        path = Path(self.path).resolve()
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise WordListError(f"host block list not found: {path}") from None
        self._hosts = _blocked_hosts(path, mtime)

    def __call__(self, doc: Document) -> str | None:
        url = doc.meta.get(self.meta_key)
        host = url_host(url) if isinstance(url, str) else None
        if not host:
            return None
        labels = host.split(".")
        for i in range(len(labels)):
            if ".".join(labels[i:]) in self._hosts:
                return self.name
        return None


@PRESETS.register("llmjp_v1")
def llmjp_v1() -> list[tuple[str, dict[str, Any]]]:
    """The LLM-jp corpus v1 filters for Japanese Common Crawl text (non-strict settings)."""
    return [
        ("has_kana", {"lookup_chars": 50}),
        ("discard_ads", {"min_matches": 11}),
        ("ng_word_count", {"min_matches": 4, "count": "total"}),
        ("rare_kuten", {"max_chars_per_kuten": 250}),
        ("compression_ratio", {"min_ratio": 0.30, "max_ratio": 0.70}),
    ]
