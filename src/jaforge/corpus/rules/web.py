"""Rules for web junk that the cited presets leave to chance, and the `ja_web` preset.

`ja_web` is jaforge's default, for web text: the Swallow corpus v1 rules with the options that
keep long clean documents, with LLM-jp's advertising rule and two checks of its own — broken
encodings (mojibake) and pages made mostly of symbols — placed before them so that each such page
is dropped for what is actually wrong with it. `ja_docs` is the same for manuals and technical
documentation, whose structure repeats n-grams by design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Le

from jaforge.corpus import textstats as ts
from jaforge.io.document import Document
from jaforge.corpus.rules.base import PRESETS, Rule, register_rule

# UTF-8 Japanese read as CP932 turns the lead bytes of kana (E3 81/82/83) into 縺 繧 繝, kanji
# that real Japanese text almost never uses; UTF-8 read as Latin-1 leaves Ã/â/ã followed by
# C1 controls or Latin-1 symbols; undecodable bytes leave U+FFFD.
_MOJIBAKE = re.compile(r"[縺繧繝\ufffd]|[ÃÂâã][\x80-\xbf]")


@register_rule("mojibake")
@dataclass
class Mojibake(Rule):
    """Drop documents whose characters show a broken encoding (UTF-8 read as CP932 or Latin-1,
    replacement characters)."""

    max_ratio: Annotated[float, Ge(0), Le(1)] = 0.02  # mojibake marks / characters above this → drop

    def __call__(self, doc: Document) -> str | None:
        marks = len(_MOJIBAKE.findall(doc.text))
        return self.name if doc.text and marks / len(doc.text) > self.max_ratio else None


@register_rule("symbol_ratio")
@dataclass
class SymbolRatio(Rule):
    """Drop documents made mostly of symbols and digits (ASCII art, price tables, emoji spam)."""

    max_ratio: Annotated[float, Ge(0), Le(1)] = 0.3  # (symbols + digits) / non-space characters above this → drop

    def __call__(self, doc: Document) -> str | None:
        c = doc.cached("char_counts", ts.char_counts)
        visible = len(doc.text) - c.space
        return self.name if visible and (c.other + c.digit) / visible > self.max_ratio else None


# What ja_web changes in each Swallow v1 rule (see rules/swallow.py for the options).
JA_WEB_OPTIONS: dict[str, dict[str, Any]] = {
    **{name: {"letters": "kana_kanji"} for name in ("hiragana_ratio", "katakana_ratio",
                                                    "japanese_letters")},
    "japanese_ratio": {"letters": "kana_kanji", "of": "letters", "min_letters": 1000,
                       "min_ratio_with_letters": 0.2},
    **{name: {"segments": "stripped"} for name in (
        "duplicate_lines", "duplicate_sentences", "duplicate_line_chars", "duplicate_sentence_chars",
        "ellipsis_ending")},
    **{name: {"segments": "stripped", "japanese_only": True} for name in (
        "mean_sentence_length", "max_sentence_length")},
    "duplicate_ngram_share": {"window": 1000},
    "ng_words": {"letters": "kana_kanji", "katakana_boundary": True},
}


@PRESETS.register("ja_web")
def ja_web() -> list[tuple[str, dict[str, Any]]]:
    """jaforge's default: Swallow v1's rules and thresholds with these options —
    Japanese letters are kana and kanji (ー and half-width katakana included, punctuation not);
    the Japanese share is of Japanese + Latin letters, or 1,000 Japanese letters at a share of
    0.2 or more (a Japanese manual full of code or English terms is Japanese);
    lines and sentences are stripped and blank lines are not lines; sentence lengths leave out
    sentences without Japanese letters (code, logs); repeated n-grams count distinct n-grams (as
    the released annotator), averaged over pieces of 1,000 characters; NG words in katakana match only between
    non-katakana characters — plus mojibake, symbol and advertising checks first."""
    rules = [(name, {**params, **JA_WEB_OPTIONS.get(name, {})})
             for name, params in PRESETS.get("swallow_v1")()]
    return [rules[0], ("mojibake", {}), ("symbol_ratio", {}), ("discard_ads", {"min_matches": 7})] + rules[1:]


@PRESETS.register("ja_docs")
def ja_docs() -> list[tuple[str, dict[str, Any]]]:
    """For manuals and technical documentation: ja_web with the repeated n-gram limits doubled
    (5-grams 0.30 … 10-grams 0.20). Option lists, struct fields and "set X to yes to enable
    the X daemon" paragraphs repeat n-grams by design; web spam is still caught by ja_web's other
    rules (on the labelled noisy set, the repeated n-gram rule alone drops one document)."""
    return [(name, {**params, "max_share": {n: 2 * v for n, v in params["max_share"].items()}})
            if name == "duplicate_ngram_share" else (name, params) for name, params in ja_web()]
