"""En↔Ja translation on held-out sentence pairs, scored by chrF (sacrebleu): the tasks
`translation_en_ja` and `translation_ja_en`.

    jaforge eval --model runs/lifecycle-continual/continual-hf --tasks '[translation_en_ja,translation_ja_en]'
    jaforge eval --model my-model --tasks '[translation_en_ja]' --data_dir runs/parallel   # heldout.jsonl

The pairs are jaforge's team-written `data/parallel/en_ja.jsonl` (its `test` split) or, with
`data_dir`, a folder holding the parallel-text stage's `heldout.jsonl` (or an `en_ja.jsonl` in the
same layout). The prompt is the parallel-text stage's template cut before the target
("English: …\\n日本語:"), 0-shot, so a model continually pretrained on those documents is asked in
the form it learned; generation stops at the end of the line. chrF (character 6-grams, β = 2,
whitespace ignored — sacrebleu's default) is the corpus score; it needs no Japanese word
segmenter, unlike BLEU. Per example, the sentence chrF is kept too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from jaforge.corpus.parallel import Pair, prompt_and_target, read_pairs
from jaforge.extras import require

DIRECTIONS = {"translation_en_ja": "en-ja", "translation_ja_en": "ja-en"}
FILES = ("heldout.jsonl", "en_ja.jsonl", "parallel*/en_ja.jsonl")


def load_pairs(path: Path, split: str) -> list[Pair]:
    """The pairs of `split` (test: the held-out ones; train: the rest)."""
    pairs = list(read_pairs(path))
    return [p for p in pairs if (p.split == "test") == (split == "test")]


def to_doc(direction: str):
    def doc(pair: Pair, index: int) -> Optional[dict]:
        prompt, target = prompt_and_target(pair, direction)
        return {"id": pair.id, "prompt": prompt, "answers": [target], "genre": pair.genre}
    return doc


def _chrf():
    return require("sacrebleu.metrics", "ja", "chrF of the translation tasks").CHRF()


def sentence_chrf(output: str, doc: dict) -> dict[str, float]:
    return {"chrf_sentence": _chrf().sentence_score(output.strip(), [doc["answers"][0]]).score}


def corpus_chrf(samples: list[dict]) -> dict[str, float]:
    hypotheses = [s["prediction"].strip() for s in samples]
    return {"chrf": _chrf().corpus_score(hypotheses, [[s["gold"] for s in samples]]).score}
