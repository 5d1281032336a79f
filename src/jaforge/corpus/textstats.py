"""Fast text features shared by the corpus quality rules (Swallow, LLM-jp and HojiChar presets).

Every feature is a pure function of the text. Rules reach them through the document's cache, so
each is computed at most once per text version however many rules read it:

    counts = doc.cached("char_counts", char_counts)
    if counts.hiragana / counts.japanese < 0.2: ...

The work runs in C rather than in per-character Python loops: character classes via numpy over
the UTF-32 code points, lines and sentences via `str.split` / `re`, duplicates via sets,
character n-grams via one numpy sort of rolling hashes for several sizes, compression via zlib.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from itertools import repeat
from typing import Iterable, NamedTuple

import numpy as np

# --- character classes --------------------------------------------------------------------------

# Inclusive code-point ranges. The prolonged sound mark ー belongs to katakana words (コーヒー);
# the middle dot ・ does not: it separates words (ポート・スキャン), so it is a symbol here.
HIRAGANA_RANGES = [(0x3041, 0x3096), (0x309D, 0x309F)]
KATAKANA_RANGES = [(0x30A1, 0x30FA), (0x30FC, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)]
KANJI_RANGES = [(0x3005, 0x3005), (0x3007, 0x3007), (0x303B, 0x303B), (0x3400, 0x4DBF),
                (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F)]
LATIN_RANGES = [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F),
                (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)]
DIGIT_RANGES = [(0x30, 0x39), (0xFF10, 0xFF19)]
SPACE_RANGES = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                (0x3000, 0x3000)]


def char_class(ranges: list[tuple[int, int]]) -> str:
    """A regex character class (``[...]``) matching the given code-point ranges."""
    return "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b != a else "")
                         for a, b in ranges) + "]"


KATAKANA_CLASS = char_class(KATAKANA_RANGES)

_CLASSES = ("other", "hiragana", "katakana", "kanji", "latin", "digit", "space")


def _class_table(groups: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted range boundaries and, for each gap between them, the class index it belongs to
    (class i + 1 for `groups[i]`, 0 for everything else)."""
    ranges = sorted((a, b, cls) for cls, group in enumerate(groups, start=1) for a, b in group)
    bounds, labels = [], [0]
    for a, b, cls in ranges:
        bounds += [a, b + 1]
        labels += [cls, 0]
    return np.array(bounds, dtype=np.uint32), np.array(labels, dtype=np.intp)


def _class_counts(text: str, table: tuple[np.ndarray, np.ndarray], n_classes: int) -> list[int]:
    bounds, labels = table
    interval = np.searchsorted(bounds, codepoints(text), side="right")
    per_interval = np.bincount(interval, minlength=len(labels))
    return [int(x) for x in np.bincount(labels, weights=per_interval, minlength=n_classes)]


_JAFORGE_TABLE = _class_table([HIRAGANA_RANGES, KATAKANA_RANGES, KANJI_RANGES, LATIN_RANGES,
                               DIGIT_RANGES, SPACE_RANGES])


class CharCounts(NamedTuple):
    """How many characters of each class a text has; `other` is every remaining non-space."""

    hiragana: int
    katakana: int
    kanji: int
    latin: int
    digit: int
    space: int
    other: int

    @property
    def japanese(self) -> int:
        """Japanese letters: hiragana + katakana + kanji."""
        return self.hiragana + self.katakana + self.kanji

    @property
    def letters(self) -> int:
        """Letters: Japanese letters + Latin letters."""
        return self.hiragana + self.katakana + self.kanji + self.latin


def codepoints(text: str) -> np.ndarray:
    """The text's code points as a uint32 array (lone surrogates kept as their code)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def char_counts(text: str) -> CharCounts:
    """Counts of hiragana, katakana, kanji, Latin letters, digits, spaces and other symbols."""
    other, hira, kata, kanji, latin, digit, space = _class_counts(text, _JAFORGE_TABLE, len(_CLASSES))
    return CharCounts(hira, kata, kanji, latin, digit, space, other)


# The released Swallow corpus annotator (quality.py) counts narrower classes: no ー, no small or
# half-width katakana, no kanji beyond the BMP (its surrogate-pair pattern never matches a
# Python str), and it counts the Japanese full stops and commas as Japanese letters.
SWALLOW_GROUPS = [
    [(0x3041, 0x3096)],                                                   # hiragana
    [(0x30A1, 0x30FA)],                                                   # katakana
    [(0x3005, 0x3005), (0x3007, 0x3007), (0x303B, 0x303B), (0x3400, 0x9FFF),
     (0xF900, 0xFAFF)],                                                   # kanji
    [(0x3002, 0x3002), (0xFF0E, 0xFF0E), (0xFF01, 0xFF01), (0xFF1F, 0xFF1F)],  # kuten 。．！？
    [(0x3001, 0x3001), (0xFF0C, 0xFF0C)],                                 # toten 、，
]
_SWALLOW_TABLE = _class_table(SWALLOW_GROUPS)


class SwallowCounts(NamedTuple):
    """Character counts as the Swallow annotator takes them; `chars` is every character."""

    hiragana: int
    katakana: int
    kanji: int
    kuten: int
    toten: int
    chars: int

    @property
    def japanese(self) -> int:
        """Its "Japanese letters": hiragana + katakana + kanji + 。．！？ + 、，."""
        return self.hiragana + self.katakana + self.kanji + self.kuten + self.toten


def swallow_counts(text: str) -> SwallowCounts:
    _, hira, kata, kanji, kuten, toten = _class_counts(text, _SWALLOW_TABLE, 6)
    return SwallowCounts(hira, kata, kanji, kuten, toten, len(text))


# --- lines and sentences ------------------------------------------------------------------------

SENTENCE_END = "。．！？!?"
# A sentence runs to a run of end marks or to the end of its line: a line break also ends one.
_SENTENCE = re.compile(f"[^{SENTENCE_END}\n]+[{SENTENCE_END}]*")


@lru_cache(maxsize=16)
def lines(text: str) -> tuple[str, ...]:
    """The non-blank lines, stripped of surrounding whitespace."""
    return tuple(line for line in map(str.strip, text.split("\n")) if line)


@lru_cache(maxsize=16)
def sentences(text: str) -> tuple[str, ...]:
    """Sentences split after 。．！？!? (a run of them stays with its sentence) and at line
    breaks, stripped; blank pieces are dropped."""
    return tuple(s for s in map(str.strip, _SENTENCE.findall(text)) if s)


def mean_sentence_length(text: str) -> float:
    """Mean sentence length in characters (0.0 when there is no sentence)."""
    sents = sentences(text)
    return sum(map(len, sents)) / len(sents) if sents else 0.0


def max_sentence_length(text: str) -> int:
    """Length in characters of the longest sentence (0 when there is none)."""
    return max(map(len, sentences(text)), default=0)


# The Swallow annotator's sentences: per line, a run of non-end characters and at most one end
# mark (a second end mark is skipped); sentences keep their spaces, and every line, blank or not,
# is a paragraph made of its sentences.
_SWALLOW_SENTENCE = re.compile(r"[^。．！？!?]+[。．！？!?]?")


class Segments(NamedTuple):
    paragraphs: tuple[str, ...]
    sentences: tuple[str, ...]


@lru_cache(maxsize=16)
def swallow_segments(text: str) -> Segments:
    """Paragraphs (every line) and sentences exactly as the Swallow annotator splits them."""
    per_line = [_SWALLOW_SENTENCE.findall(line) for line in text.split("\n")]
    return Segments(tuple("".join(s) for s in per_line), tuple(s for d in per_line for s in d))


_JAPANESE_LETTER = re.compile(char_class(HIRAGANA_RANGES + KATAKANA_RANGES + KANJI_RANGES))


def has_japanese_letter(text: str) -> bool:
    return _JAPANESE_LETTER.search(text) is not None


def equal_pieces(text: str, size: int) -> list[str]:
    """`text` cut into round(len / size) (at least 1) pieces of equal length."""
    k = max(1, round(len(text) / size))
    bounds = [len(text) * i // k for i in range(k + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def ending_fraction(items: tuple[str, ...], endings: tuple[str, ...], strip: bool = False) -> float:
    """Fraction of `items` (stripped first with `strip`) that end with one of `endings`."""
    if not items:
        return 0.0
    return sum(map(str.endswith, map(str.strip, items) if strip else items, repeat(endings))) / len(items)


# --- duplicates ---------------------------------------------------------------------------------

class Duplicates(NamedTuple):
    """Repeats among a document's lines or sentences (Gopher / MassiveText counting: every
    occurrence after the first is a duplicate)."""

    fraction: float       # duplicate items / all items
    char_fraction: float  # characters in duplicate items / characters in all items


def duplicates(items: tuple[str, ...] | list[str]) -> Duplicates:
    """Fraction of items, and of their characters, that repeat an earlier item."""
    if not items:
        return Duplicates(0.0, 0.0)
    distinct = set(items)
    total_chars = sum(map(len, items))
    dup_chars = total_chars - sum(map(len, distinct))
    return Duplicates((len(items) - len(distinct)) / len(items),
                      dup_chars / total_chars if total_chars else 0.0)


def line_duplicates(text: str) -> Duplicates:
    return duplicates(lines(text))


def sentence_duplicates(text: str) -> Duplicates:
    return duplicates(sentences(text))


# --- character n-grams --------------------------------------------------------------------------

MAX_N = 64
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd, so each step of the rolling hash is a bijection
# Distinct values parked past a row's last n-gram: they sort last and never pair up.
_SENTINELS = np.uint64(2**64 - 1) - np.arange(MAX_N, dtype=np.uint64)


class NgramProfile:
    """Counts of overlapping character n-grams, as the Swallow corpus counts them (on the raw
    text, line breaks included), for any n from 1 to 64.

    Each n-gram is a 64-bit rolling hash; equal neighbours after sorting are the repeats. Sizes
    are computed on first use, several in one sort through `prepare(sizes)`, and kept: a rule
    asking for 2…4 and one asking for 5…10 share the hashing. Two distinct n-grams share a
    hash with probability about 2^-64 per pair.
    """

    def __init__(self, text: str):
        self._cps = codepoints(text).astype(np.uint64)
        self._size = len(self._cps)
        self._hashes = [self._cps]  # [n - 1]: unsorted hashes of the n-grams, in text order
        self._equal_next: dict[int, np.ndarray] = {}  # n → sorted n-gram i == i+1
        self._repeats: dict[int, int] = {}  # n → occurrences of n-grams seen more than once

    def prepare(self, sizes: Iterable[int]) -> NgramProfile:
        """Compute these n-gram sizes now, in one sort."""
        todo = sorted({int(n) for n in sizes} - self._equal_next.keys())
        if not todo:
            return self
        if todo[0] < 1 or todo[-1] > MAX_N:
            raise ValueError(f"n-gram sizes must be within 1…{MAX_N}, got {todo}")
        size = self._size
        while len(self._hashes) < todo[-1]:
            n = len(self._hashes) + 1
            valid = max(size - n + 1, 0)
            self._hashes.append(self._hashes[-1][:valid] * _HASH_MULT + self._cps[n - 1:])
        block = np.empty((len(todo), size), dtype=np.uint64)
        for row, n in enumerate(todo):
            hashes = self._hashes[n - 1]
            block[row, :len(hashes)] = hashes
            block[row, len(hashes):] = _SENTINELS[:size - len(hashes)]
        block.sort(axis=1)
        eq = block[:, 1:] == block[:, :-1]
        if size > 1:
            repeats = np.count_nonzero(eq[:, 1:] | eq[:, :-1], axis=1) + eq[:, 0] + eq[:, -1]
        else:
            repeats = np.zeros(len(todo), dtype=np.intp)
        for row, n in enumerate(todo):
            self._equal_next[n] = eq[row]
            self._repeats[n] = int(repeats[row])
        return self

    def total(self, n: int) -> int:
        """How many n-grams (occurrences) the text has."""
        return max(self._size - n + 1, 0)

    def _row(self, n: int) -> np.ndarray:
        if n not in self._equal_next:
            self.prepare((n,))
        return self._equal_next[n]

    def top_share(self, n: int) -> float:
        """Occurrences of the most frequent n-gram / all n-gram occurrences."""
        eq, total = self._row(n), self.total(n)
        if total < 2:
            return float(total)
        breaks = np.flatnonzero(~eq)  # last element of each run of equal n-grams
        if not len(breaks):
            return 1.0
        inner = int((breaks[1:] - breaks[:-1]).max()) if len(breaks) > 1 else 0
        return max(int(breaks[0]) + 1, inner, len(eq) - int(breaks[-1])) / total

    def duplicate_share(self, n: int) -> float:
        """Occurrences of n-grams that occur more than once / all n-gram occurrences."""
        self._row(n)
        total = self.total(n)
        return self._repeats[n] / total if total else 0.0

    def duplicate_distinct_share(self, n: int) -> float:
        """Distinct n-grams that occur more than once / all distinct n-grams."""
        eq, total = self._row(n), self.total(n)
        if total < 2:
            return 0.0
        repeated = int(eq[0]) + np.count_nonzero(eq[1:] & ~eq[:-1])
        return repeated / (total - np.count_nonzero(eq))


# --- compression --------------------------------------------------------------------------------

def compression_ratio(text: str, level: int = 9) -> float:
    """zlib-compressed size / UTF-8 size (0.0 for empty text); natural prose sits in between,
    boilerplate compresses far better and random strings far worse."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(zlib.compress(raw, level)) / len(raw) if raw else 0.0
