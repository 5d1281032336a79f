"""Rules for web junk that the cited presets leave to chance, and the `ja_web` preset.

`ja_web` is jaforge's default: the Swallow corpus v1 rules, with LLM-jp's advertising rule and
two checks of its own — broken encodings (mojibake) and pages made mostly of symbols — placed
before them so that each such page is dropped for what is actually wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jaforge.corpus import textstats as ts
from jaforge.corpus.document import Document
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

    max_ratio: float = 0.02  # mojibake marks / characters above this → drop

    def __call__(self, doc: Document) -> str | None:
        marks = len(_MOJIBAKE.findall(doc.text))
        return self.name if doc.text and marks / len(doc.text) > self.max_ratio else None


@register_rule("symbol_ratio")
@dataclass
class SymbolRatio(Rule):
    """Drop documents made mostly of symbols and digits (ASCII art, price tables, emoji spam)."""

    max_ratio: float = 0.3  # (symbols + digits) / non-space characters above this → drop

    def __call__(self, doc: Document) -> str | None:
        c = doc.cached("char_counts", ts.char_counts)
        visible = len(doc.text) - c.space
        return self.name if visible and (c.other + c.digit) / visible > self.max_ratio else None


@PRESETS.register("ja_web")
def ja_web() -> list[tuple[str, dict[str, Any]]]:
    """jaforge's default: Swallow v1, with mojibake, symbol and advertising checks."""
    swallow = PRESETS.get("swallow_v1")()
    return ([swallow[0], ("mojibake", {}), ("symbol_ratio", {}), ("discard_ads", {"min_matches": 7})]
            + swallow[1:])
