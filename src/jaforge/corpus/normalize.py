"""Normalisation: Unicode NFKC, whitespace, and Japanese punctuation (`，．` → `、。`).

Run as the first step of the corpus stage; every later rule sees the normalised text.
"""

from __future__ import annotations

import re
import unicodedata

from jaforge.corpus.config import NormalizeConfig
from jaforge.io.document import Document

JAPANESE_CHAR = r"[\u3041-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]"
_COMMA_AFTER_JA = re.compile(rf"(?<={JAPANESE_CHAR})[，,]")
_PERIOD_AFTER_JA = re.compile(rf"(?<={JAPANESE_CHAR})[．.](?!\.)")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_SPACES_AT_LINE_EDGES = re.compile(r"^[ \t]+|[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def nfkc(text: str, keep: str = "") -> str:
    """Unicode NFKC, leaving the characters of `keep` as they are."""
    if keep and any(ch in text for ch in keep):
        pieces = re.split(f"([{re.escape(keep)}])", text)
        return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(pieces))
    return unicodedata.normalize("NFKC", text)


def normalize_text(text: str, cfg: NormalizeConfig) -> str:
    if cfg.nfkc:
        text = nfkc(text, cfg.nfkc_keep)
    if cfg.whitespace:
        text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        text = _SPACES_AT_LINE_EDGES.sub("", _SPACES.sub(" ", text))
        text = _BLANK_LINES.sub("\n\n", text).strip()
    if cfg.japanese_punctuation:
        text = _PERIOD_AFTER_JA.sub("。", _COMMA_AFTER_JA.sub("、", text))
    return text


class Normalize:
    """Corpus step: rewrites the text, never drops (the empty result is left to later rules)."""

    name = "normalize"

    def __init__(self, cfg: NormalizeConfig):
        self.cfg = cfg

    def __call__(self, doc: Document) -> str | None:
        doc.text = normalize_text(doc.text, self.cfg)
        return None
