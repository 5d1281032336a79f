"""Quality rules of the Swallow corpus v1 (Okazaki et al., 2024, "Building a Large Japanese Web
Corpus for Large Language Models"), and the `swallow_v1` preset that applies them in order.

By default every rule computes what the released annotator computes (github.com/swallow-llm/
swallow-corpus, `quality.py` and `ngword.py`, `apply_v1`), with its thresholds:
  - Japanese letters are hiragana U+3041–3096, katakana U+30A1–30FA, kanji (々〇〻, CJK
    U+3400–9FFF, U+F900–FAFF) and 。．！？、，; the Japanese share divides them by all characters;
  - paragraphs are all lines (blank ones too), sentences are split per line after one of
    。．！？!? and keep their spaces;
  - the top n-gram share counts occurrences; the repeated n-gram share counts distinct n-grams
    (distinct n-grams seen twice or more / distinct n-grams);
  - a sentence trails off when, stripped, it ends with … or ・;
  - NG words are matched leftmost-longest, anywhere, against the Japanese letter count.
jaforge's variants are options, never silent defaults: `letters: kana_kanji` (ー, small and
half-width katakana and every kanji plane count; punctuation does not), `of: letters` (Japanese
share of Japanese + Latin letters), `segments: stripped` (non-blank stripped lines; sentences end at
a run of end marks), `count: occurrences` (the paper's wording for repeated n-grams; it grows with
document length), `window: N` (repeated n-grams judged as the mean over pieces of about N
characters, so the share no longer grows with length), `japanese_only: true` (sentence lengths
leave out sentences without Japanese letters: code, logs), `min_letters` and
`min_ratio_with_letters` (japanese_ratio: many Japanese letters pass at a lower share),
`katakana_boundary: true` (NG words in katakana only between non-katakana).
The preset ends with `footer_trim` (rules/footer.py, the cleaning phase, with jaforge's own keyword
list), which only rewrites text. Each rule returns its own name as the drop reason.

    from jaforge.corpus.rules import PRESETS, make_rule
    rules = [make_rule(name, params) for name, params in PRESETS.get("swallow_v1")()]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Iterable, Literal, NamedTuple

from annotated_types import Ge, Le

from jaforge.corpus import textstats as ts
from jaforge.io.document import Document
from jaforge.corpus.rules.base import PRESETS, Rule, register_rule
from jaforge.corpus.rules.wordlists import WordMatcher, cached_matches, shipped_data_path

Share = Annotated[float, Ge(0), Le(1)]
Count = Annotated[int, Ge(0)]
Letters = Literal["swallow", "kana_kanji"]
Segmentation = Literal["swallow", "stripped"]


class JapaneseLetters(NamedTuple):
    hiragana: int
    katakana: int
    japanese: int
    total: int  # the share's denominator


def japanese_letters(doc: Document, letters: str, of: str = "characters") -> JapaneseLetters:
    """Hiragana, katakana and Japanese letters by the chosen definition, and the denominator of
    the Japanese share (`characters`: every character; `letters`: Japanese + Latin letters)."""
    if letters == "swallow":
        c = doc.cached("swallow_counts", ts.swallow_counts)
        hira, kata, japanese = c.hiragana, c.katakana, c.japanese
    else:
        k = doc.cached("char_counts", ts.char_counts)
        hira, kata, japanese = k.hiragana, k.katakana, k.japanese
    if of == "characters":
        total = len(doc.text)
    else:
        total = japanese + doc.cached("char_counts", ts.char_counts).latin
    return JapaneseLetters(hira, kata, japanese, total)


def paragraphs_and_sentences(doc: Document, segments: str) -> ts.Segments:
    if segments == "swallow":
        return doc.cached("swallow_segments", ts.swallow_segments)
    return ts.Segments(doc.cached("lines", ts.lines), doc.cached("sentences", ts.sentences))


def _sentences(doc: Document, segments: str, japanese_only: bool) -> tuple[str, ...]:
    sents = paragraphs_and_sentences(doc, segments).sentences
    if not japanese_only:
        return sents
    return doc.cached(f"japanese_sentences:{segments}",
                      lambda _: tuple(s for s in sents if ts.has_japanese_letter(s)))


def _duplicates(doc: Document, segments: str, which: int) -> ts.Duplicates:
    key = f"duplicates:{segments}:{which}"
    return doc.cached(key, lambda _: ts.duplicates(paragraphs_and_sentences(doc, segments)[which]))


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
    if any(not 0 <= v <= 1 for v in out.values()):
        raise ValueError(f"{what}: shares must be within 0…1, got {out}")
    return out


@register_rule("min_length")
@dataclass
class MinLength(Rule):
    """Drop documents shorter than `min_chars` characters."""

    min_chars: Count = 400  # fewer characters than this → drop

    def __call__(self, doc: Document) -> str | None:
        return self.name if len(doc.text) < self.min_chars else None


@register_rule("japanese_letters")
@dataclass
class MinJapaneseLetters(Rule):
    """Drop documents with fewer than `min_letters` Japanese letters."""

    min_letters: Count = 400  # fewer Japanese letters than this → drop
    letters: Letters = "swallow"

    def __call__(self, doc: Document) -> str | None:
        return self.name if japanese_letters(doc, self.letters).japanese < self.min_letters else None


@register_rule("hiragana_ratio")
@dataclass
class HiraganaRatio(Rule):
    """Drop documents whose hiragana are too few of their Japanese letters (lists, tables,
    headline-only pages); no Japanese letters at all also drops."""

    min_ratio: Share = 0.2  # hiragana / Japanese letters below this → drop
    letters: Letters = "swallow"

    def __call__(self, doc: Document) -> str | None:
        c = japanese_letters(doc, self.letters)
        return self.name if _ratio(c.hiragana, c.japanese) < self.min_ratio else None


@register_rule("katakana_ratio")
@dataclass
class KatakanaRatio(Rule):
    """Drop documents whose Japanese letters are mostly katakana (product and keyword lists)."""

    max_ratio: Share = 0.5  # katakana / Japanese letters above this → drop
    letters: Letters = "swallow"

    def __call__(self, doc: Document) -> str | None:
        c = japanese_letters(doc, self.letters)
        return self.name if _ratio(c.katakana, c.japanese) > self.max_ratio else None


@register_rule("japanese_ratio")
@dataclass
class JapaneseRatio(Rule):
    """Drop documents that are mostly not Japanese: Japanese letters below `min_ratio` of all
    characters (`of: characters`) or of Japanese + Latin letters (`of: letters`), unless there
    are `min_letters` Japanese letters and at least `min_ratio_with_letters` of them (a Japanese
    manual full of code; 0 turns that off)."""

    min_ratio: Share = 0.5  # Japanese share below this → drop
    letters: Letters = "swallow"
    of: Literal["characters", "letters"] = "characters"
    min_letters: Count = 0  # this many Japanese letters may keep a document with a lower share…
    min_ratio_with_letters: Share = 0.0  # …when their share is at least this

    def __call__(self, doc: Document) -> str | None:
        c = japanese_letters(doc, self.letters, self.of)
        share = _ratio(c.japanese, c.total)
        if share >= self.min_ratio:
            return None
        if self.min_letters and c.japanese >= self.min_letters and share >= self.min_ratio_with_letters:
            return None
        return self.name


@register_rule("mean_sentence_length")
@dataclass
class MeanSentenceLength(Rule):
    """Drop documents whose mean sentence length is implausible for prose (fragments, or text
    without sentence ends)."""

    min_chars: Annotated[float, Ge(0)] = 20  # mean below this → drop
    max_chars: Annotated[float, Ge(0)] = 90  # mean above this → drop
    segments: Segmentation = "swallow"
    japanese_only: bool = False  # true: sentences without Japanese letters (code, logs) don't count

    def __call__(self, doc: Document) -> str | None:
        sents = _sentences(doc, self.segments, self.japanese_only)
        mean = sum(map(len, sents)) / len(sents) if sents else 0.0
        return self.name if mean < self.min_chars or mean > self.max_chars else None


@register_rule("max_sentence_length")
@dataclass
class MaxSentenceLength(Rule):
    """Drop documents with any sentence longer than `max_chars` characters."""

    max_chars: Count = 200  # a sentence longer than this → drop
    segments: Segmentation = "swallow"
    japanese_only: bool = False  # true: sentences without Japanese letters (code, logs) don't count

    def __call__(self, doc: Document) -> str | None:
        sents = _sentences(doc, self.segments, self.japanese_only)
        return self.name if max(map(len, sents), default=0) > self.max_chars else None


@register_rule("ellipsis_ending")
@dataclass
class EllipsisEnding(Rule):
    """Drop documents where many sentences trail off (truncated snippets, teaser lists)."""

    max_ratio: Share = 0.2  # sentences ending with one of `endings` / sentences above this → drop
    endings: list[str] = field(default_factory=lambda: ["…", "・"])
    segments: Segmentation = "swallow"

    def __call__(self, doc: Document) -> str | None:
        sents = paragraphs_and_sentences(doc, self.segments).sentences
        trailing = ts.ending_fraction(sents, tuple(self.endings), strip=self.segments == "swallow")
        return self.name if trailing > self.max_ratio else None


@register_rule("duplicate_lines")
@dataclass
class DuplicateLines(Rule):
    """Drop documents whose lines (paragraphs) repeat: navigation, boilerplate."""

    max_ratio: Share = 0.30  # repeated lines / lines above this → drop
    segments: Segmentation = "swallow"

    def __call__(self, doc: Document) -> str | None:
        return self.name if _duplicates(doc, self.segments, 0).fraction > self.max_ratio else None


@register_rule("duplicate_sentences")
@dataclass
class DuplicateSentences(Rule):
    """Drop documents whose sentences repeat."""

    max_ratio: Share = 0.30  # repeated sentences / sentences above this → drop
    segments: Segmentation = "swallow"

    def __call__(self, doc: Document) -> str | None:
        return self.name if _duplicates(doc, self.segments, 1).fraction > self.max_ratio else None


@register_rule("duplicate_line_chars")
@dataclass
class DuplicateLineChars(Rule):
    """Drop documents where repeated lines hold many of the characters."""

    max_ratio: Share = 0.20  # characters in repeated lines / characters in lines above this → drop
    segments: Segmentation = "swallow"

    def __call__(self, doc: Document) -> str | None:
        dup = _duplicates(doc, self.segments, 0)
        return self.name if dup.char_fraction > self.max_ratio else None


@register_rule("duplicate_sentence_chars")
@dataclass
class DuplicateSentenceChars(Rule):
    """Drop documents where repeated sentences hold many of the characters."""

    max_ratio: Share = 0.20  # characters in repeated sentences / in all sentences above this → drop
    segments: Segmentation = "swallow"

    def __call__(self, doc: Document) -> str | None:
        dup = _duplicates(doc, self.segments, 1)
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

    `count: distinct` (default) measures distinct repeated n-grams over distinct n-grams, which
    is what the released annotator computes; `count: occurrences` measures the occurrences of
    n-grams seen more than once over all n-gram occurrences, as the paper words it. Both grow
    with document length (ordinary reuse of terms), the occurrence share much faster; with
    `window` a document of 1.5 windows or more is cut into equal pieces of about `window`
    characters and judged by the mean share of its pieces.
    """

    # n → drop when the repeated share of n-grams exceeds it
    max_share: dict[int, float] = field(default_factory=lambda: {
        5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    count: Literal["distinct", "occurrences"] = "distinct"
    window: Count = 0  # > 0: the mean share over pieces of about this many characters

    def __post_init__(self) -> None:
        self.max_share = _int_keys(self.max_share, "duplicate_ngram_share.max_share")

    def __call__(self, doc: Document) -> str | None:
        if self.window and len(doc.text) >= 1.5 * self.window:
            shares = doc.cached(f"windowed_ngrams:{self.window}:{self.count}", self._windowed)
        else:
            shares = self._shares(_ngrams(doc, self.max_share))
        return self.name if any(shares[n] > limit for n, limit in self.max_share.items()) else None

    def _shares(self, profile: ts.NgramProfile) -> dict[int, float]:
        share = (profile.duplicate_share if self.count == "occurrences"
                 else profile.duplicate_distinct_share)
        return {n: share(n) for n in self.max_share}

    def _windowed(self, text: str) -> dict[int, float]:
        """Mean shares over equal pieces of about `window` characters: a long document is judged
        as several documents of ordinary length, so the share no longer grows with length."""
        pieces = ts.equal_pieces(text, self.window)
        per_piece = [self._shares(ts.NgramProfile(p).prepare(self.max_share)) for p in pieces]
        return {n: sum(s[n] for s in per_piece) / len(per_piece) for n in self.max_share}


@register_rule("ng_words")
@dataclass
class NgWords(Rule):
    """Drop documents where NG words (a user word list) cover too much of the Japanese text;
    a document without Japanese letters is kept (the released annotator's ratio is then 0)."""

    max_ratio: Share = 0.05  # NG-word characters / Japanese letters at or above this → drop
    path: str = ""  # word list, one word a line; "" = the shipped sample data/ja/noisy/ng_words.txt
    katakana_boundary: bool = False  # true: katakana words match only between non-katakana
    letters: Letters = "swallow"

    def __post_init__(self) -> None:
        path = self.path or shipped_data_path("ja/noisy/ng_words.txt")
        self._matcher = WordMatcher.from_file(path, self.katakana_boundary)

    def __call__(self, doc: Document) -> str | None:
        chars = cached_matches(doc, self._matcher).chars
        japanese = japanese_letters(doc, self.letters).japanese
        return self.name if japanese and chars / japanese >= self.max_ratio else None


@PRESETS.register("swallow_v1")
def swallow_v1() -> list[tuple[str, dict[str, Any]]]:
    """The Swallow corpus v1 quality filter as its released annotator applies it (`apply_v1`,
    with the NG-word rule of `ngword.py`), then footer trimming. Every rule's default is the
    annotator's semantics; see this module's docstring for the options that change them."""
    return [
        ("min_length", {"min_chars": 400}),
        ("duplicate_lines", {"max_ratio": 0.30}),
        ("duplicate_sentences", {"max_ratio": 0.30}),
        ("duplicate_line_chars", {"max_ratio": 0.20}),
        ("duplicate_sentence_chars", {"max_ratio": 0.20}),
        ("top_ngram_share", {"max_share": {2: 0.20, 3: 0.18, 4: 0.16}}),
        ("duplicate_ngram_share", {"max_share": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12,
                                                 9: 0.11, 10: 0.10}}),
        ("hiragana_ratio", {"min_ratio": 0.2}),
        ("katakana_ratio", {"max_ratio": 0.5}),
        ("japanese_ratio", {"min_ratio": 0.5}),
        ("japanese_letters", {"min_letters": 400}),
        ("mean_sentence_length", {"min_chars": 20, "max_chars": 90}),
        ("max_sentence_length", {"max_chars": 200}),
        ("ellipsis_ending", {"max_ratio": 0.2}),
        ("ng_words", {"max_ratio": 0.05}),
        ("footer_trim", {}),
    ]
