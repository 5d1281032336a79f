"""Quality rules of the Swallow corpus v1 (Okazaki et al., 2024, "Building a Large Japanese Web
Corpus for Large Language Models"), and the `swallow_v1` preset that applies them in order.

Defaults are the paper's thresholds, and the ratios follow its released annotator
(github.com/swallow-llm/swallow-corpus): n-gram shares count overlapping character n-grams of
the raw text, and duplicates count every occurrence after the first. Where jaforge differs:
Japanese letters are hiragana + katakana + kanji (the annotator adds 。、), "letters" are
Japanese + Latin letters (the annotator divides by all characters), blank lines are not lines,
repeated n-grams are counted by occurrence as the paper describes (`count: distinct` gives the
annotator's count), NG words respect katakana word boundaries, and ellipses also match their
NFKC forms. Each rule returns its own name as the drop reason; `footer_trim` only rewrites text.

    from jaforge.corpus.rules import PRESETS, make_rule
    rules = [make_rule(name, params) for name, params in PRESETS.get("swallow_v1")()]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from jaforge.corpus import textstats as ts
from jaforge.corpus.document import Document
from jaforge.corpus.rules.base import PRESETS, Rule, register_rule
from jaforge.corpus.rules.wordlists import WordMatcher, cached_matches, shipped_data_path


def _counts(doc: Document) -> ts.CharCounts:
    return doc.cached("char_counts", ts.char_counts)


def _ngrams(doc: Document, sizes: Iterable[int]) -> ts.NgramProfile:
    return doc.cached("ngram_profile", ts.NgramProfile).prepare(sizes)


def _ratio(part: int, whole: int) -> float:
    # A division, not `part < t * whole`: at the boundary both sides then round to the same float.
    return part / whole if whole else 0.0


def _int_keys(shares: dict[Any, float], what: str) -> dict[int, float]:
    """n → threshold with int n (YAML gives ints, dotted command-line overrides give strings)."""
    out = {int(n): float(v) for n, v in shares.items()}
    if not out or min(out) < 1 or max(out) > ts.MAX_N:
        raise ValueError(f"{what}: n-gram sizes must be within 1…{ts.MAX_N}, got {sorted(out)}")
    return out


@register_rule("min_length")
@dataclass
class MinLength(Rule):
    """Drop documents shorter than `min_chars` characters."""

    min_chars: int = 400  # fewer characters than this → drop

    def __call__(self, doc: Document) -> str | None:
        return self.name if len(doc.text) < self.min_chars else None


@register_rule("hiragana_ratio")
@dataclass
class HiraganaRatio(Rule):
    """Drop documents whose hiragana are too few of their Japanese letters (lists, tables,
    headline-only pages); no Japanese letters at all also drops."""

    min_ratio: float = 0.2  # hiragana / (hiragana + katakana + kanji) below this → drop

    def __call__(self, doc: Document) -> str | None:
        c = _counts(doc)
        return self.name if _ratio(c.hiragana, c.japanese) < self.min_ratio else None


@register_rule("katakana_ratio")
@dataclass
class KatakanaRatio(Rule):
    """Drop documents whose Japanese letters are mostly katakana (product and keyword lists)."""

    max_ratio: float = 0.5  # katakana / (hiragana + katakana + kanji) above this → drop

    def __call__(self, doc: Document) -> str | None:
        c = _counts(doc)
        return self.name if _ratio(c.katakana, c.japanese) > self.max_ratio else None


@register_rule("japanese_ratio")
@dataclass
class JapaneseRatio(Rule):
    """Drop documents whose letters are mostly not Japanese; no letters at all also drops."""

    min_ratio: float = 0.5  # Japanese letters / (Japanese + Latin letters) below this → drop

    def __call__(self, doc: Document) -> str | None:
        c = _counts(doc)
        return self.name if _ratio(c.japanese, c.letters) < self.min_ratio else None


@register_rule("mean_sentence_length")
@dataclass
class MeanSentenceLength(Rule):
    """Drop documents whose mean sentence length is implausible for prose (fragments, or text
    without sentence ends); sentences end at 。．！？!? and at line breaks."""

    min_chars: float = 20  # mean below this → drop
    max_chars: float = 90  # mean above this → drop

    def __call__(self, doc: Document) -> str | None:
        mean = doc.cached("mean_sentence_length", ts.mean_sentence_length)
        return self.name if mean < self.min_chars or mean > self.max_chars else None


@register_rule("max_sentence_length")
@dataclass
class MaxSentenceLength(Rule):
    """Drop documents with any sentence longer than `max_chars` characters."""

    max_chars: int = 200  # a sentence longer than this → drop

    def __call__(self, doc: Document) -> str | None:
        longest = doc.cached("max_sentence_length", ts.max_sentence_length)
        return self.name if longest > self.max_chars else None


@register_rule("ellipsis_ending")
@dataclass
class EllipsisEnding(Rule):
    """Drop documents where many sentences trail off (truncated snippets, teaser lists)."""

    max_ratio: float = 0.2  # sentences ending with one of `endings` / sentences above this → drop
    # The paper's … and ・, plus ‥ and what NFKC normalization makes of … and ‥ (... and ..).
    endings: list[str] = field(default_factory=lambda: ["…", "‥", "・", ".."])

    def __call__(self, doc: Document) -> str | None:
        sents = doc.cached("sentences", ts.sentences)
        trailing = ts.ending_fraction(sents, tuple(self.endings))
        return self.name if trailing > self.max_ratio else None


@register_rule("duplicate_lines")
@dataclass
class DuplicateLines(Rule):
    """Drop documents whose lines repeat (navigation, boilerplate); blank lines are ignored."""

    max_ratio: float = 0.30  # repeated lines / non-blank lines above this → drop

    def __call__(self, doc: Document) -> str | None:
        dup = doc.cached("line_duplicates", ts.line_duplicates)
        return self.name if dup.fraction > self.max_ratio else None


@register_rule("duplicate_sentences")
@dataclass
class DuplicateSentences(Rule):
    """Drop documents whose sentences repeat."""

    max_ratio: float = 0.30  # repeated sentences / sentences above this → drop

    def __call__(self, doc: Document) -> str | None:
        dup = doc.cached("sentence_duplicates", ts.sentence_duplicates)
        return self.name if dup.fraction > self.max_ratio else None


@register_rule("duplicate_line_chars")
@dataclass
class DuplicateLineChars(Rule):
    """Drop documents where repeated lines hold many of the characters."""

    max_ratio: float = 0.20  # characters in repeated lines / characters in lines above this → drop

    def __call__(self, doc: Document) -> str | None:
        dup = doc.cached("line_duplicates", ts.line_duplicates)
        return self.name if dup.char_fraction > self.max_ratio else None


@register_rule("duplicate_sentence_chars")
@dataclass
class DuplicateSentenceChars(Rule):
    """Drop documents where repeated sentences hold many of the characters."""

    max_ratio: float = 0.20  # characters in repeated sentences / in all sentences above this → drop

    def __call__(self, doc: Document) -> str | None:
        dup = doc.cached("sentence_duplicates", ts.sentence_duplicates)
        return self.name if dup.char_fraction > self.max_ratio else None


@register_rule("top_ngram_share")
@dataclass
class TopNgramShare(Rule):
    """Drop documents dominated by one character n-gram (repeated keywords, spam)."""

    # n → drop when the most frequent n-gram's occurrences / all n-gram occurrences exceed it
    max_share: dict[int, float] = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})

    def __post_init__(self) -> None:
        self.max_share = _int_keys(self.max_share, "top_ngram_share.max_share")

    def __call__(self, doc: Document) -> str | None:
        profile = _ngrams(doc, self.max_share)
        for n, limit in self.max_share.items():
            if profile.top_share(n) > limit:
                return self.name
        return None


@register_rule("duplicate_ngram_share")
@dataclass
class DuplicateNgramShare(Rule):
    """Drop documents with much repeated character n-gram content (Gopher's rule on characters).

    `count: occurrences` (default) measures the occurrences of n-grams seen more than once over
    all n-gram occurrences, as the paper describes; `count: distinct` measures distinct
    repeated n-grams over distinct n-grams, which is what the released annotator computes.
    """

    # n → drop when the repeated share of n-grams exceeds it
    max_share: dict[int, float] = field(default_factory=lambda: {
        5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    count: Literal["occurrences", "distinct"] = "occurrences"

    def __post_init__(self) -> None:
        self.max_share = _int_keys(self.max_share, "duplicate_ngram_share.max_share")

    def __call__(self, doc: Document) -> str | None:
        profile = _ngrams(doc, self.max_share)
        share = (profile.duplicate_share if self.count == "occurrences"
                 else profile.duplicate_distinct_share)
        for n, limit in self.max_share.items():
            if share(n) > limit:
                return self.name
        return None


@register_rule("ng_words")
@dataclass
class NgWords(Rule):
    """Drop documents where NG words (a user word list) cover too much of the Japanese text."""

    max_ratio: float = 0.05  # NG-word characters / Japanese letters at or above this → drop
    path: str = ""  # word list, one word a line; "" = the shipped sample data/ja/noisy/ng_words.txt
    katakana_boundary: bool = True  # katakana words match only between non-katakana characters

    def __post_init__(self) -> None:
        path = self.path or shipped_data_path("ja/noisy/ng_words.txt")
        self._matcher = WordMatcher.from_file(path, self.katakana_boundary)

    def __call__(self, doc: Document) -> str | None:
        chars = cached_matches(doc, self._matcher).chars
        japanese = _counts(doc).japanese
        if chars and (not japanese or chars / japanese >= self.max_ratio):
            return self.name
        return None


DEFAULT_FOOTER_KEYWORDS = [
    "Copyright", "copyright", "COPYRIGHT", "©", "(C)", "(c)", "All rights reserved",
    "All Rights Reserved", "ALL RIGHTS RESERVED", "無断転載", "無断複製", "利用規約",
    "ご利用規約", "サイトポリシー", "プライバシーポリシー", "個人情報保護方針",
    "特定商取引法に基づく表記", "お問い合わせ", "お問合せ", "問い合わせ", "会社概要",
    "運営会社", "サイトマップ", "ページトップ", "ページの先頭へ", "トップへ戻る",
    "トップページ", "このページの先頭", "トラックバック", "広告掲載", "ログイン", "新規登録",
]


@register_rule("footer_trim")
@dataclass
class FooterTrim(Rule):
    """Cut the footer of a web page: from the first of the last `max_lines` lines that is
    dominated by footer keywords (Copyright, ©, 利用規約, お問い合わせ, …) to the end.

    Everything after the first footer line goes with it, since footers also hold lines without
    keywords (addresses, phone numbers). Never drops; documents without a footer are unchanged.
    """

    keywords: list[str] = field(default_factory=lambda: list(DEFAULT_FOOTER_KEYWORDS))
    max_lines: int = 10  # how many trailing lines may belong to the footer
    keyword_share: float = 0.3  # a line is a footer line when keywords cover more than this share

    def __post_init__(self) -> None:
        self._matcher = WordMatcher(self.keywords)

    def __call__(self, doc: Document) -> str | None:
        lines = doc.text.split("\n")
        first = max(len(lines) - self.max_lines, 0)
        if not self._matcher.search("\n".join(lines[first:])):
            return None  # the common case: no keyword at all near the end
        for i in range(first, len(lines)):
            if self._is_footer(lines[i]):
                doc.text = "\n".join(lines[:i]).rstrip()
                break
        return None

    def _is_footer(self, line: str) -> bool:
        line = line.strip()
        return bool(line) and self._matcher.matches(line).chars / len(line) > self.keyword_share


@PRESETS.register("swallow_v1")
def swallow_v1() -> list[tuple[str, dict[str, Any]]]:
    """The Swallow corpus v1 quality filter, then its footer trimming."""
    return [
        ("min_length", {"min_chars": 400}),
        ("hiragana_ratio", {"min_ratio": 0.2}),
        ("katakana_ratio", {"max_ratio": 0.5}),
        ("japanese_ratio", {"min_ratio": 0.5}),
        ("mean_sentence_length", {"min_chars": 20, "max_chars": 90}),
        ("max_sentence_length", {"max_chars": 200}),
        ("ellipsis_ending", {"max_ratio": 0.2}),
        ("duplicate_lines", {"max_ratio": 0.30}),
        ("duplicate_sentences", {"max_ratio": 0.30}),
        ("duplicate_line_chars", {"max_ratio": 0.20}),
        ("duplicate_sentence_chars", {"max_ratio": 0.20}),
        ("top_ngram_share", {"max_share": {2: 0.20, 3: 0.18, 4: 0.16}}),
        ("duplicate_ngram_share", {"max_share": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12,
                                                 9: 0.11, 10: 0.10}}),
        ("ng_words", {"max_ratio": 0.05}),
        ("footer_trim", {}),
    ]
