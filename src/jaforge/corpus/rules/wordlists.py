"""User-supplied word lists (NG words, ad keywords, host block lists) and fast matching.

A word list is a UTF-8 text file with one entry a line; blank lines and lines starting with
``#`` are ignored. `WordMatcher` finds the words in a text with one compiled regex and reports
how many matches, characters and distinct words it found:

    matcher = WordMatcher.from_file("data/ja/noisy/ng_words.txt", katakana_boundary=True)
    matcher.matches(doc.text)  # WordMatches(count=2, chars=7, distinct=1)

With ``katakana_boundary`` a word written in katakana only matches when no katakana touches it
on either side, so the NG word ポート does not fire inside インポート or ポートレート.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from jaforge.data import data_path

from jaforge.io.document import Document
from jaforge.corpus.textstats import KATAKANA_CLASS

_KATAKANA_WORD = re.compile(f"{KATAKANA_CLASS}+")


class WordListError(ValueError):
    """A word list that cannot be read; the message names the file (and line)."""


def load_word_list(path: str | Path) -> list[str]:
    """The distinct entries of a word list, in file order (stripped; comments dropped)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WordListError(f"word list not found: {path}") from None
    except OSError as err:
        raise WordListError(f"cannot read word list {path}: {err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise WordListError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte "
                            f"{err.start}); save the word list as UTF-8") from None
    words = (line.strip() for line in text.splitlines())
    return list(dict.fromkeys(w for w in words if w and not w.startswith("#")))


def shipped_data_path(relative: str) -> Path:
    """A sample list under jaforge's ``data/`` directory (see `jaforge.data.data_dir`)."""
    try:
        return data_path(relative)
    except FileNotFoundError as err:
        raise WordListError(f"shipped word list data/{relative}: {err}; "
                            f"pass the rule a `path` to your own list") from None


class WordMatches(NamedTuple):
    count: int     # non-overlapping matches (leftmost, longest word first)
    chars: int     # characters covered by those matches
    distinct: int  # distinct words among them


_FANOUT = 32  # more distinct first characters than this → dispatch in groups


def _trie_pattern(words: list[str], katakana_boundary: bool) -> str:
    """One regex for all words, factored by common prefix.

    At every node longer continuations are tried before the word that ends there, so the regex
    matches exactly what the alternation of all words sorted longest first would, while the
    engine only walks the branch that fits the next character.
    """
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = word
    chars = sorted(trie)
    if len(chars) <= _FANOUT:
        return _node_pattern(trie, katakana_boundary)
    # The engine tries an alternation's branches one by one, and with hundreds of first
    # characters that dominates. So consume the first character with one class (which also
    # lets the engine skip positions that cannot start a word), then pick its branch through
    # one-character lookbehinds in groups of about √k: about 2√k tries instead of k.
    step = int(len(chars) ** 0.5)
    groups = []
    for i in range(0, len(chars), step):
        group = chars[i:i + step]
        alts = "|".join(f"(?<={re.escape(ch)})" + _node_pattern(trie[ch], katakana_boundary)
                        for ch in group)
        groups.append(f"(?<=[{''.join(map(re.escape, group))}])(?:{alts})")
    return f"[{''.join(map(re.escape, chars))}](?:{'|'.join(groups)})"


def _node_pattern(node: dict, katakana_boundary: bool) -> str:
    branches = [re.escape(ch) + _node_pattern(child, katakana_boundary)
                for ch, child in sorted(node.items()) if ch]
    if "" in node:
        word = node[""]
        end = ""
        if katakana_boundary and _KATAKANA_WORD.fullmatch(word):
            # Checked at the word's end so every branch still starts with a literal.
            end = f"(?<!{KATAKANA_CLASS}{re.escape(word)})(?!{KATAKANA_CLASS})"
        branches.append(end)
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


class WordMatcher:
    """Finds the words of a list in texts (non-overlapping, longest word first)."""

    def __init__(self, words: list[str], katakana_boundary: bool = False,
                 source: str | None = None):
        self.words = list(dict.fromkeys(w for w in words if w))
        self.katakana_boundary = katakana_boundary
        self.source = source  # the file the words came from, if any
        self.pattern = (re.compile(_trie_pattern(self.words, katakana_boundary))
                        if self.words else None)

    @classmethod
    def from_file(cls, path: str | Path, katakana_boundary: bool = False) -> WordMatcher:
        """A matcher for a word list file, shared by every rule that names the same file."""
        path = Path(path).resolve()
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise WordListError(f"word list not found: {path}") from None
        return _cached_matcher(path, mtime, katakana_boundary)

    def search(self, text: str) -> bool:
        """Whether any word occurs in the text."""
        return self.pattern is not None and self.pattern.search(text) is not None

    def findall(self, text: str) -> list[str]:
        return self.pattern.findall(text) if self.pattern is not None else []

    def matches(self, text: str) -> WordMatches:
        found = self.findall(text)
        return WordMatches(len(found), sum(map(len, found)), len(set(found)))

    def __repr__(self) -> str:
        return (f"WordMatcher({len(self.words)} words, "
                f"katakana_boundary={self.katakana_boundary})")


@lru_cache(maxsize=32)
def _cached_matcher(path: Path, mtime_ns: int, katakana_boundary: bool) -> WordMatcher:
    return WordMatcher(load_word_list(path), katakana_boundary, source=f"{path}@{mtime_ns}")


def cached_matches(doc: Document, matcher: WordMatcher) -> WordMatches:
    """`matcher.matches(doc.text)`, shared by every rule that uses the same list file."""
    if matcher.source is None:
        return matcher.matches(doc.text)
    key = f"word_matches:{matcher.source}:{matcher.katakana_boundary}"
    return doc.cached(key, matcher.matches)
