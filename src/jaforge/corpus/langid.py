"""Japanese detection by script statistics, with an optional fastText language-ID model.

Script statistics are enough to separate Japanese from other languages written in Latin,
Hangul or Han script: Japanese text mixes kana with kanji, Chinese has no kana. A document is
Japanese when Japanese letters are most of its letters, or when it has many Japanese letters
(`language.min_japanese_letters`) at a lower share: a Japanese manual page full of code, option
names and English terms is still Japanese.
"""

from __future__ import annotations

import re

from jaforge.corpus.config import LanguageConfig
from jaforge.io.document import Document
from jaforge.corpus.textstats import char_counts
from jaforge.extras import require

_LETTER_LIKE = re.compile(r"[^\W\d_]")  # any Unicode letter (Latin, Hangul, Cyrillic, kana, kanji…)


def script_shares(text: str) -> tuple[float, float, int]:
    """(Japanese letters / all letters, kana / Japanese letters, Japanese letters) of a text."""
    counts = char_counts(text)
    kana = counts.hiragana + counts.katakana
    japanese = counts.japanese
    letters = len(_LETTER_LIKE.findall(text))
    return (japanese / letters if letters else 0.0, kana / japanese if japanese else 0.0, japanese)


def is_japanese(share: float, kana: float, letters: int, cfg: LanguageConfig) -> bool:
    if kana < cfg.min_kana_ratio:
        return False
    if share >= cfg.min_japanese_ratio:
        return True
    return (cfg.min_japanese_letters > 0 and letters >= cfg.min_japanese_letters
            and share >= cfg.min_japanese_ratio_with_letters)


class JapaneseDetector:
    """Corpus step: drops documents that are not Japanese (`not_japanese`, or `langid_model`)."""

    name = "language"

    def __init__(self, cfg: LanguageConfig):
        self.cfg = cfg
        self._model = None
        if cfg.fasttext_model:
            fasttext = require("fasttext", "ja", "fastText language ID")
            self._model = fasttext.load_model(cfg.fasttext_model)

    def __call__(self, doc: Document) -> str | None:
        if not is_japanese(*doc.cached("script_shares", script_shares), self.cfg):
            return "not_japanese"
        if self._model is not None:
            labels, probs = self._model.predict(doc.text.replace("\n", " "))
            if labels[0] != "__label__ja" or probs[0] < self.cfg.fasttext_min_prob:
                return "langid_model"
        return None
