"""ROUGE-2 on Japanese the way lm-eval's japanese_leaderboard scores XL-Sum: MeCab (fugashi,
unidic-lite) tokens of neologdn-normalised, emoji-free text, `rouge_score`'s ROUGE-2 F-measure per
summary, and the task score as the middle of its bootstrap aggregate (1,000 resamples with numpy's
global generator seeded as lm-eval seeds it, 1234).

    from jaforge.eval.rouge_ja import rouge2_scores, rouge2_leaderboard
    per_example = rouge2_scores(references, predictions)     # [F, …]
    score = rouge2_leaderboard(references, predictions)      # what lm-eval reports

Needs the `ja` extra (fugashi, unidic-lite, rouge-score, neologdn, emoji). Without `emoji` or
`neologdn`, the regular expressions of `jaforge.eval.metrics` stand in (identical on ordinary
news text; lm-eval itself requires both).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

import numpy as np

from jaforge.eval.metrics import neologdn_style
from jaforge.extras import require

LM_EVAL_NUMPY_SEED = 1234
"""lm-eval's default numpy_random_seed, which its bootstrap aggregate draws from."""

_EMOJI_RANGES = re.compile("[\U0001F600-\U0001F64F\U0001F300-\U0001F5FF\U0001F680-\U0001F6FF"
                           "\U0001F1E0-\U0001F1FF\U00002702-\U000027B0]+", flags=re.UNICODE)


def _is_emoji(char: str) -> bool:
    try:
        return require("emoji", "ja", "XL-Sum ROUGE").is_emoji(char)
    except ImportError:
        return False


class MecabTokens:
    """The tokenizer `rouge_score` is given: normalised text split by MeCab."""

    def __init__(self):
        self.tagger = require("fugashi", "ja", "Japanese ROUGE").Tagger("-Owakati")

    @staticmethod
    def normalize(text: str) -> str:
        text = _EMOJI_RANGES.sub("", "".join("" if _is_emoji(c) else c for c in text))
        return " ".join(neologdn_style(text).split())

    def tokenize(self, text: str) -> list[str]:
        return self.tagger.parse(self.normalize(text)).split()


@lru_cache(maxsize=1)
def _scorer():
    rouge_scorer = require("rouge_score.rouge_scorer", "ja", "XL-Sum ROUGE")
    return rouge_scorer.RougeScorer(rouge_types=["rouge2"], tokenizer=MecabTokens())


def rouge2_scores(references: Sequence[str], predictions: Sequence[str]) -> list:
    """rouge_score's ROUGE-2 Score (precision, recall, fmeasure) of each prediction."""
    return [_scorer().score(ref, pred)["rouge2"] for ref, pred in zip(references, predictions)]


def rouge2_leaderboard(references: Sequence[str], predictions: Sequence[str],
                       seed: int = LM_EVAL_NUMPY_SEED) -> float:
    """The middle of rouge_score's BootstrapAggregator over the ROUGE-2 F-measures, drawn from
    numpy's global generator seeded with `seed` (restored afterwards)."""
    scoring = require("rouge_score.scoring", "ja", "XL-Sum ROUGE")
    if not references:
        return 0.0
    aggregator = scoring.BootstrapAggregator()
    for score in rouge2_scores(references, predictions):
        aggregator.add_scores({"rouge2": score})
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return float(aggregator.aggregate()["rouge2"].mid.fmeasure)
    finally:
        np.random.set_state(state)
