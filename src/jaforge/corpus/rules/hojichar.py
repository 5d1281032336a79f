"""HojiChar-compatible quality rules and the `hojichar_std` preset.

Each `hojichar_*` rule makes the same keep/drop decision as the HojiChar document filter of the
same name (`hojichar.filters.document_filters`, HojiChar 0.18), with the same parameter names and
defaults, so a HojiChar `Compose([...])` of standard Japanese filters can be swapped for:

    quality:
      preset: hojichar_std
      params:
        hojichar_discard_adult_content_ja: {dict_path: /path/to/adult_keywords_ja.txt}

Word lists are files the user supplies (one word a line, read the way HojiChar reads them: every
non-empty line, stripped); "" uses jaforge's small samples under data/ja/noisy/. To use the lists
that ship inside an installed `hojichar` package, pass `hojichar_dict_params()` as quality.params.

The decisions are HojiChar's; the work is not done HojiChar's way. Texts are scanned with
`str.count` and precompiled regexes, character n-grams are counted with one numpy sort, and
keyword lists are first narrowed to the words whose rarest character pair occurs in the text (one
vectorised lookup for the whole list) before `in` / `str.count` confirm them. Counting rules
(`bbs_comments`, `ads`) first bound the regex's match count from above with `str.count`; only
texts above the threshold run the exact regex, which stops as soon as the threshold is passed.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from dataclasses import dataclass, fields
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from annotated_types import Ge, Le

from jaforge.corpus.rules.base import PRESETS, Rule, register_rule
from jaforge.corpus.rules.hojichar_text import (
    WordIndex,
    char_repetition_ratio,
    doc_alphabet,
    doc_codepoints,
    gaps,
    read_words,
)
from jaforge.corpus.rules.wordlists import shipped_data_path
from jaforge.extras import MissingExtraError, require
from jaforge.io.document import Document

_KANA = re.compile("[ぁ-んァ-ン]")  # HojiChar's AcceptJapanese test (first `lookup_size` chars)
_KATAKANA_WORD = re.compile("[ァ-ヴー]+")  # words that `ignore_confused` guards
_BBS = re.compile(r"\d{4}[年\.\-\/][\ ]*\d{1,2}[月\.\-\/][\ ]*\d{1,2}[日]*|コメント|SOLD OUT|レビュー"
                  r"|投稿|ページ|\([月火水木金土日]\)|質問|\d+話|楽天市場|-")
# Every match of _BBS contains one of these at its own position (a date has 年 . - or / after its
# year), so their counts bound the number of non-overlapping matches from above.
_BBS_WITNESSES = ("コメント", "SOLD OUT", "レビュー", "投稿", "ページ", "質問", "楽天市場",
                  "(", "話", "年", ".", "-", "/")


# --- rules --------------------------------------------------------------------------------------

class HojiCharRule(Rule):
    """A rule that mirrors the HojiChar filter named by `hojichar_filter`, with the same params."""

    hojichar_filter: ClassVar[str] = ""
    sample_list: ClassVar[str] = ""  # data/ja/noisy/ list used when `dict_path` is ""

    def hojichar_params(self) -> dict[str, Any]:
        """The keyword arguments of the HojiChar filter (with the word list's resolved path)."""
        params = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        if "dict_path" in params:
            params["dict_path"] = self.words_path()
        return params

    def words_path(self) -> str:
        path = getattr(self, "dict_path", "")
        return path or str(shipped_data_path(f"ja/noisy/{self.sample_list}"))


@register_rule("hojichar_document_length")
@dataclass
class DocumentLength(HojiCharRule):
    """Drop documents outside [min_doc_len, max_doc_len] characters (DocumentLengthFilter)."""

    hojichar_filter = "DocumentLengthFilter"
    min_doc_len: Annotated[int, Ge(0)] | None = None  # fewer characters → drop; None: no bound
    max_doc_len: Annotated[int, Ge(0)] | None = None  # more characters → drop; None: no bound

    def __call__(self, doc: Document) -> str | None:
        n = len(doc.text)
        too_short = self.min_doc_len is not None and n < self.min_doc_len
        too_long = self.max_doc_len is not None and n > self.max_doc_len
        return self.name if too_short or too_long else None


@register_rule("hojichar_accept_japanese")
@dataclass
class AcceptJapanese(HojiCharRule):
    """Drop documents with no hiragana or katakana in their first `lookup_size` characters."""

    hojichar_filter = "AcceptJapanese"
    lookup_size: Annotated[int, Ge(0)] = 50  # characters from the start that must contain a kana

    def __call__(self, doc: Document) -> str | None:
        return None if _KANA.search(doc.text[: self.lookup_size]) else self.name


@register_rule("hojichar_discard_rare_kuten")
@dataclass
class DiscardRareKuten(HojiCharRule):
    """Drop documents with too few 。: fewer than len(text) / max_average_sentence_length."""

    hojichar_filter = "DiscardRareKuten"
    max_average_sentence_length: Annotated[int, Ge(0)] = 100  # characters per 。 above this → drop

    def __call__(self, doc: Document) -> str | None:
        text = doc.text
        return self.name if text.count("。") < len(text) / self.max_average_sentence_length else None


@register_rule("hojichar_discard_too_short_lines")
@dataclass
class DiscardTooShortLines(HojiCharRule):
    """Drop documents whose lines (split at \\n) are mostly 10 characters or shorter (menus,
    breadcrumbs)."""

    hojichar_filter = "DiscardTooShortLines"
    threshold: Annotated[float, Ge(0), Le(1)] = 0.5  # share of lines of ≤ 10 chars above this → drop

    def __call__(self, doc: Document) -> str | None:
        cps = doc_codepoints(doc)
        lengths = gaps(np.flatnonzero(cps == 10), len(cps))
        short = int(np.count_nonzero(lengths <= 10))
        return self.name if short / len(lengths) > self.threshold else None


@register_rule("hojichar_single_character_repetition")
@dataclass
class SingleCharacterRepetition(HojiCharRule):
    """Drop documents that repeat one character `threshold` or more times in a row."""

    hojichar_filter = "SingleCharacterRepetitionFilter"
    threshold: Annotated[int, Ge(0)] = 200  # a run of this many equal characters → drop

    def __call__(self, doc: Document) -> str | None:
        cps = doc_codepoints(doc)
        if not len(cps):
            return None
        same_as_next = cps[1:] == cps[:-1]
        if np.count_nonzero(same_as_next) < self.threshold - 1:  # too few repeats for any run
            return None
        longest = int(gaps(np.flatnonzero(~same_as_next), len(cps) - 1).max()) + 1
        return self.name if longest >= self.threshold else None


@register_rule("hojichar_discard_too_many_ending_ellipsis")
@dataclass
class DiscardTooManyEndingEllipsis(HojiCharRule):
    """Drop documents whose lines mostly end with ... or … (truncated link lists)."""

    hojichar_filter = "DiscardTooManyEndingEllipsis"
    threshold: Annotated[float, Ge(0), Le(1)] = 0.7  # lines ending in … / line breaks above → drop

    def __call__(self, doc: Document) -> str | None:
        text = doc.text
        ellipses = text.count("...\n") + text.count("…\n")
        return self.name if ellipses / max(text.count("\n"), 1) > self.threshold else None


@register_rule("hojichar_char_repetition_ratio")
@dataclass
class CharRepetitionRatio(HojiCharRule):
    """Drop documents whose most frequent character n-grams cover too much of the text
    (CharRepetitionRatioFilter; catches noun-list adverts and repeated boilerplate)."""

    hojichar_filter = "CharRepetitionRatioFilter"
    threshold: Annotated[float, Ge(0), Le(1)] = 0.33  # repetition ratio at or above this → drop
    ngram_size: Annotated[int, Ge(1)] = 5  # characters per n-gram

    def __post_init__(self) -> None:
        if self.ngram_size < 1:
            raise ValueError(f"hojichar_char_repetition_ratio: ngram_size must be ≥ 1, "
                             f"got {self.ngram_size}")

    def __call__(self, doc: Document) -> str | None:
        n = self.ngram_size
        ratio = doc.cached(f"char_repetition_ratio:{n}",
                           lambda text: char_repetition_ratio(text, n, doc_alphabet(doc)))
        return self.name if ratio >= self.threshold else None


def _more_matches_than(pattern: re.Pattern, text: str, limit: int) -> bool:
    """Whether `pattern.findall(text)` would return more than `limit` matches."""
    return sum(1 for _ in islice(pattern.finditer(text), limit + 1)) > limit


@register_rule("hojichar_discard_bbs_comments")
@dataclass
class DiscardBBSComments(HojiCharRule):
    """Drop documents with more than `max_allowed_num` matches of HojiChar's bulletin-board
    pattern (dates, コメント, レビュー, 投稿, 質問, (曜), 〜話, hyphens, …)."""

    hojichar_filter = "DiscardBBSComments"
    max_allowed_num: Annotated[int, Ge(0)] = 14  # more pattern matches than this → drop

    def __call__(self, doc: Document) -> str | None:
        text = doc.text
        if sum(map(text.count, _BBS_WITNESSES)) <= self.max_allowed_num:
            return None
        return self.name if _more_matches_than(_BBS, text, self.max_allowed_num) else None


@register_rule("hojichar_discard_ads")
@dataclass
class DiscardAds(HojiCharRule):
    """Drop documents with more than `max_allowed_num` advertising keywords (DiscardAds;
    non-overlapping matches, earlier words in the list first)."""

    hojichar_filter = "DiscardAds"
    sample_list = "ad_words.txt"
    dict_path: str = ""  # keyword list, one a line; "" = the sample data/ja/noisy/ad_words.txt
    max_allowed_num: Annotated[int, Ge(0)] = 14  # more keyword matches than this → drop

    def __post_init__(self) -> None:
        words = read_words(self.words_path())
        self._index = WordIndex(words)
        self._pattern = re.compile("|".join(map(re.escape, words)))

    def __call__(self, doc: Document) -> str | None:
        text = doc.text
        found = self._index.candidates(doc)
        bound = sum(map(text.count, found)) + (len(text) + 1 if self._index.has_empty else 0)
        if bound <= self.max_allowed_num:
            return None
        return self.name if _more_matches_than(self._pattern, text, self.max_allowed_num) else None


@register_rule("hojichar_ng_words_ja")
@dataclass
class NgWordsJa(HojiCharRule):
    """Drop documents that contain any word of a list (NgWordsFilterJa; plain substrings)."""

    hojichar_filter = "NgWordsFilterJa"
    sample_list = "ng_words.txt"
    dict_path: str = ""  # word list, one a line; "" = the sample data/ja/noisy/ng_words.txt
    ignore_confused: bool = False  # katakana-only words match only with no katakana beside them

    def __post_init__(self) -> None:
        words = read_words(self.words_path())
        self._index = WordIndex(words)
        katakana = [w for w in words if _KATAKANA_WORD.fullmatch(w)] if self.ignore_confused else []
        guarded = set(katakana)
        plain = [w for w in words if w not in guarded]
        self._guarded = {w: re.compile(f"(?<![ァ-ヴー]){re.escape(w)}(?![ァ-ヴー])")
                         for w in katakana}
        self._pattern: re.Pattern | None = None
        one_side_empty = self.ignore_confused and not (plain and katakana)
        if self._index.has_empty or not words or one_side_empty:
            # An empty word, or (with ignore_confused) an empty side of HojiChar's "plain|katakana"
            # pattern, is an empty alternative that matches (almost) anywhere: use that pattern.
            pattern = "|".join(map(re.escape, plain))
            if self.ignore_confused:
                pattern += f"|(?<![ァ-ヴー])({'|'.join(map(re.escape, katakana))})(?![ァ-ヴー])"
            self._pattern = re.compile(pattern)

    def __call__(self, doc: Document) -> str | None:
        if self._pattern is not None:
            return self.name if self._pattern.search(doc.text) else None
        text, guarded = doc.text, self._guarded
        for word in self._index.candidates(doc):
            if word in text and (word not in guarded or guarded[word].search(text)):
                return self.name
        return None


@register_rule("hojichar_discard_adult_content_ja")
@dataclass
class DiscardAdultContentJa(NgWordsJa):
    """NG words for adult content (HojiChar ships adult_keywords_ja.txt)."""

    hojichar_filter = "DiscardAdultContentJa"


@register_rule("hojichar_discard_discrimination_content_ja")
@dataclass
class DiscardDiscriminationContentJa(NgWordsJa):
    """NG words for discriminatory content (HojiChar ships discrimination_keywords_ja.txt)."""

    hojichar_filter = "DiscardDiscriminationContentJa"


@register_rule("hojichar_discard_violence_content_ja")
@dataclass
class DiscardViolenceContentJa(NgWordsJa):
    """NG words for violent or threatening content (HojiChar ships violence_keywords_ja.txt)."""

    hojichar_filter = "DiscardViolenceContentJa"


@register_rule("hojichar_document_normalizer")
@dataclass
class DocumentNormalizer(HojiCharRule):
    """Rewrite the text to Unicode NFKC (DocumentNormalizer); never drops. Not in
    `hojichar_std`: the corpus stage's `normalize` step already applies NFKC."""

    hojichar_filter = "DocumentNormalizer"

    def __call__(self, doc: Document) -> str | None:
        doc.text = unicodedata.normalize("NFKC", doc.text)
        return None


# --- the preset and the way back to HojiChar ----------------------------------------------------

HOJICHAR_DICTS = {
    "hojichar_discard_ads": "advertisement_keywords_ja.txt",
    "hojichar_discard_adult_content_ja": "adult_keywords_ja.txt",
    "hojichar_discard_discrimination_content_ja": "discrimination_keywords_ja.txt",
    "hojichar_discard_violence_content_ja": "violence_keywords_ja.txt",
}


@PRESETS.register("hojichar_std")
def hojichar_std() -> list[tuple[str, dict[str, Any]]]:
    """HojiChar's standard Japanese document filters (none needs fugashi or emoji), cheapest
    first; the length bounds are the 200–50,000 characters HojiChar's documentation suggests."""
    return [
        ("hojichar_document_length", {"min_doc_len": 200, "max_doc_len": 50_000}),
        ("hojichar_accept_japanese", {}),
        ("hojichar_discard_rare_kuten", {}),
        ("hojichar_discard_too_short_lines", {}),
        ("hojichar_discard_too_many_ending_ellipsis", {}),
        ("hojichar_single_character_repetition", {}),
        ("hojichar_char_repetition_ratio", {}),
        ("hojichar_discard_bbs_comments", {}),
        ("hojichar_discard_ads", {}),
        ("hojichar_discard_adult_content_ja", {}),
        ("hojichar_discard_discrimination_content_ja", {}),
        ("hojichar_discard_violence_content_ja", {}),
    ]


def hojichar_dict_params() -> dict[str, dict[str, str]]:
    """quality.params that point the keyword rules at the lists inside the installed `hojichar`
    package (read from there at run time)."""
    spec = importlib.util.find_spec("hojichar")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("'hojichar' is needed for its word lists but is not installed; "
                                "run: pip install 'jaforge[bench]'")
    folder = Path(list(spec.submodule_search_locations)[0]) / "dict"
    return {rule: {"dict_path": str(folder / name)} for rule, name in HOJICHAR_DICTS.items()}


def to_hojichar(rules: list[Rule]) -> list[Any]:
    """The HojiChar filters that make the same decisions as these `hojichar_*` rules (for
    side-by-side checks); needs the `hojichar` package."""
    document_filters = require("hojichar.filters.document_filters", "bench", "HojiChar filters")
    out = []
    for rule in rules:
        if not isinstance(rule, HojiCharRule):
            raise TypeError(f"rule '{rule.name}' has no HojiChar counterpart")
        out.append(getattr(document_filters, rule.hojichar_filter)(**rule.hojichar_params()))
    return out
