"""Text features and the keyword index behind the HojiChar-compatible rules (`hojichar.py`).

Character n-gram repetition is counted with one numpy sort over the text's own alphabet; keyword
lists are narrowed to the words whose rarest character pair occurs in the text before `in` /
`str.count` confirm them.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from jaforge.io.document import Document
from jaforge.corpus.textstats import codepoints


# --- features shared through the document cache -------------------------------------------------

def doc_codepoints(doc: Document) -> np.ndarray:
    return doc.cached("codepoints", codepoints)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.sort and a mask: several times faster than np.unique)."""
    values = np.sort(values)
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


_CHAR_ID = np.zeros(0, dtype=np.uint32)  # code point → index in the current text's alphabet


def char_alphabet(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct code points, each character's index among them)."""
    global _CHAR_ID
    chars = _distinct(cps)
    if len(_CHAR_ID) == 0:
        _CHAR_ID = np.zeros(0x110000, dtype=np.uint32)  # 4 MiB, once per process
    _CHAR_ID[chars] = np.arange(len(chars), dtype=np.uint32)  # only these entries are read
    return chars, _CHAR_ID[cps]


def doc_alphabet(doc: Document) -> tuple[np.ndarray, np.ndarray]:
    return doc.cached("alphabet", lambda _: char_alphabet(doc_codepoints(doc)))


def _char_pairs(doc: Document) -> np.ndarray:
    """Sorted distinct pairs of adjacent code points, each as one uint64 (first << 21 | second)."""
    def pairs(_: str) -> np.ndarray:
        cps = doc_codepoints(doc).astype(np.uint64)
        return _distinct((cps[:-1] << np.uint64(21)) | cps[1:])
    return doc.cached("char_pairs", pairs)


def gaps(marks: np.ndarray, size: int) -> np.ndarray:
    """Lengths of the pieces that the marked positions cut 0…size-1 into (marks excluded)."""
    edges = np.empty(len(marks) + 2, dtype=np.intp)
    edges[0], edges[-1] = -1, size
    edges[1:-1] = marks
    return edges[1:] - edges[:-1] - 1


def _contains(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.searchsorted(sorted_values, keys)
    found = np.zeros(len(keys), dtype=bool)
    inside = at < len(sorted_values)
    found[inside] = sorted_values[at[inside]] == keys[inside]
    return found


def char_repetition_ratio(text: str, n: int,
                          alphabet: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Share of the n-gram occurrences taken by the √(distinct n-grams) most frequent n-grams
    that repeat (BigScience's character repetition ratio, as HojiChar computes it).

    `alphabet` is the text's (distinct code points, character ids) if already computed.
    """
    total = len(text) - n + 1
    if total <= 0:
        return 0.0
    chars, ids = alphabet or char_alphabet(codepoints(text))
    if len(chars) ** n <= 2**64:  # every n-gram packs exactly into one uint64
        ids, base = ids.astype(np.uint64), np.uint64(len(chars))
        packed = ids[:total].copy()
        for k in range(1, n):
            packed *= base
            packed += ids[k : k + total]
        packed.sort()
        counts = gaps(np.flatnonzero(packed[1:] != packed[:-1]), total - 1) + 1
    else:  # an alphabet too large to pack: count the n-gram strings
        counts = np.fromiter(Counter(text[i : i + n] for i in range(total)).values(), np.int64)
    distinct = len(counts)
    top = min(math.isqrt(distinct), distinct - int(np.count_nonzero(counts == 1)))
    repeated = int(np.partition(counts, distinct - top)[distinct - top :].sum()) if top > 0 else 0
    return repeated / total


# --- keyword lists ------------------------------------------------------------------------------

def read_words(path: str | Path) -> list[str]:
    """A word list read as HojiChar reads it: every non-empty line, stripped, in file order."""
    with open(path, encoding="utf-8") as f:
        return [w.strip() for w in f.read().split("\n") if len(w) != 0]


def _commonness(ch: str) -> int:
    if ch.isascii() or "ぁ" <= ch <= "ゟ":
        return 2
    return 1 if "゠" <= ch <= "ヿ" else 0


class WordIndex:
    """Finds which words of a list occur in a text.

    A word of two or more characters can only occur if its key (its least common pair of
    adjacent characters) occurs; one sorted lookup tests every word's key, and `in` /
    `str.count` confirm the few words that pass. One-character words are always candidates.
    """

    def __init__(self, words: list[str]):
        distinct = list(dict.fromkeys(w for w in words if w))
        self.has_empty = "" in words
        self._single = [w for w in distinct if len(w) == 1]
        self._multi = [w for w in distinct if len(w) > 1]
        self._multi_keys = np.array([self._pair_key(w) for w in self._multi], dtype=np.uint64)

    @staticmethod
    def _pair_key(word: str) -> int:
        a, b = min(zip(word, word[1:]), key=lambda p: _commonness(p[0]) + _commonness(p[1]))
        return (ord(a) << 21) | ord(b)

    def candidates(self, doc: Document) -> list[str]:
        """The words whose key occurs in the document (a superset of the words that occur)."""
        if not self._multi or len(doc.text) < 2:
            return self._single
        found = np.flatnonzero(_contains(_char_pairs(doc), self._multi_keys))
        return self._single + [self._multi[i] for i in found]
