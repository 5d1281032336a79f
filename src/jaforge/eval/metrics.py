"""Metrics of the eval tasks, in numpy: accuracy, length-normalised accuracy, balanced accuracy,
macro-F1 and Matthews correlation for choice tasks; JSTS correlations; exact match as lm-eval's
japanese_leaderboard computes it; MGSM's answer extraction; JSQuAD's jasquad-normalised match and
token F1.

    from jaforge.eval.metrics import choice_metrics, jsquad_scores, exact_match, mgsm_correct
    choice_metrics(logliks, choice_texts, golds)   # {'acc': …, 'acc_norm': …, …}
    exact_match(" 東京 ", "東京")                    # 1.0 (surrounding whitespace ignored)
    mgsm_correct("…なので答えは11です。", 11)          # True (the last number in the text)
    jsquad_scores(prediction, ["答え", …])          # {'exact_match': 0/1, 'f1': …}

acc_norm divides each choice's log-likelihood by its length in characters, as the harness does.
Balanced accuracy is the mean per-class recall, MCC the multi-class Matthews correlation (both as
scikit-learn defines them, which the jp-stable harness calls). JSQuAD follows the jp-stable
`jasquad` metric: answers are normalised (NFKC-style width folding, neologdn-style long-vowel and
space rules, emoji removed, whitespace collapsed); exact match compares the normalised strings,
F1 compares fugashi (MeCab, unidic-lite) tokens with punctuation tokens removed. `neologdn` is
used when installed; otherwise the rules below stand in for it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

from jaforge.extras import require


def confusion(golds: Sequence[int], preds: Sequence[int], n_classes: int) -> np.ndarray:
    """[gold, pred] counts."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(golds, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Mean recall over the classes that occur among the golds."""
    support = matrix.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(matrix)[present] / support[present])) if present.any() else 0.0


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean F1 over the classes seen among golds or predictions (0 where undefined)."""
    tp = np.diag(matrix).astype(float)
    gold, pred = matrix.sum(axis=1), matrix.sum(axis=0)
    seen = (gold + pred) > 0
    denominator = gold + pred
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1[seen].mean()) if seen.any() else 0.0


def matthews_corrcoef(matrix: np.ndarray) -> float:
    """Multi-class MCC (Gorodkin's R_K); 0 when either marginal is constant."""
    t, p = matrix.sum(axis=1).astype(float), matrix.sum(axis=0).astype(float)
    c, s = float(np.trace(matrix)), float(matrix.sum())
    cov_yp = c * s - t @ p
    cov_yy, cov_pp = s * s - t @ t, s * s - p @ p
    return 0.0 if cov_yy * cov_pp == 0 else float(cov_yp / np.sqrt(cov_yy * cov_pp))


def predictions(logliks: Sequence[Sequence[float]], choices: Sequence[Sequence[str]]
                ) -> tuple[list[int], list[int]]:
    """Argmax of the log-likelihoods, and of the log-likelihoods per character (acc_norm)."""
    raw, norm = [], []
    for scores, texts in zip(logliks, choices):
        scores = np.asarray(scores, dtype=float)
        raw.append(int(np.argmax(scores)))
        norm.append(int(np.argmax(scores / np.array([float(len(t)) for t in texts]))))
    return raw, norm


def choice_metrics(logliks: Sequence[Sequence[float]], choices: Sequence[Sequence[str]],
                   golds: Sequence[int]) -> dict[str, float]:
    """acc, acc_norm, balanced_acc, macro_f1, mcc of one choice task."""
    raw, norm = predictions(logliks, choices)
    n_classes = max(len(c) for c in choices)
    matrix = confusion(golds, raw, n_classes)
    golds = np.asarray(golds)
    return {"acc": float(np.mean(np.asarray(raw) == golds)),
            "acc_norm": float(np.mean(np.asarray(norm) == golds)),
            "balanced_acc": balanced_accuracy(matrix), "macro_f1": macro_f1(matrix),
            "mcc": matthews_corrcoef(matrix)}


def correlations(predicted: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman (average ranks for ties) correlation; 0 where a side is constant."""
    x, y = np.asarray(predicted, dtype=float), np.asarray(gold, dtype=float)
    return {"pearson": _pearson(x, y), "spearman": _pearson(_ranks(x), _ranks(y))}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # ties share their average rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def expected_score(logliks: Sequence[float], values: Sequence[float]) -> float:
    """Σ value·P(value), P the softmax of the choices' log-likelihoods (JSTS's prediction)."""
    scores = np.asarray(logliks, dtype=float)
    probs = np.exp(scores - scores.max())
    return float((probs / probs.sum()) @ np.asarray(values, dtype=float))


# --- generation metrics as lm-eval's japanese_leaderboard defines them ---------------------------

_LEADING, _TRAILING = re.compile(r"^\s+"), re.compile(r"\s+$")


def exact_match(prediction: str, reference: str) -> float:
    """lm-eval's exact_match with regexes_to_ignore ['^\\s+', '\\s+$']: equal once surrounding
    whitespace is removed (JSQuAD and JAQKET compare with the first gold answer only)."""
    strip = lambda text: _TRAILING.sub("", _LEADING.sub("", text))  # noqa: E731
    return float(strip(prediction) == strip(reference))


_NUMBER = re.compile(r"(\-?[0-9\.\,]+)")


def mgsm_answer(completion: str) -> Optional[int]:
    """The last number of the completion as an integer (commas dropped), None when there is none
    or it is not an integer — lm-eval's ja_leaderboard_mgsm extraction."""
    matches = _NUMBER.findall(completion)
    if not matches:
        return None
    try:
        number = float(matches[-1].strip(".").replace(",", ""))
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def mgsm_correct(completion: str, answer_number: int) -> bool:
    answer = mgsm_answer(completion)
    return answer is not None and answer == answer_number


# --- JSQuAD -----------------------------------------------------------------------------------

JA_PUNCTUATION = frozenset("！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕"
                           "〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.") | frozenset(string.punctuation)
_EMOJI = re.compile("[\U0001F600-\U0001F64F\U0001F300-\U0001F5FF\U0001F680-\U0001F6FF"
                    "\U0001F1E0-\U0001F1FF\U00002702-\U000027B0\U0001F900-\U0001F9FF]+")
_CJK = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_LONG_VOWELS = re.compile("[˗֊‐‑‒–⁃⁻₋−﹣－ー—―─━ｰ]+")
_TILDES = re.compile("[~∼∾〜〰～]+")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])")


def neologdn_style(text: str) -> str:
    """neologdn's main rules: NFKC width folding, one long-vowel mark, tildes dropped, no spaces
    between Japanese characters."""
    try:
        return require("neologdn", "ja", "JSQuAD normalisation").normalize(text)
    except ImportError:
        pass
    text = unicodedata.normalize("NFKC", text)
    text = _LONG_VOWELS.sub(lambda m: "ー" if _is_kana_context(m) else "-", text)
    text = _TILDES.sub("", text)
    return _SPACE_BETWEEN_CJK.sub("", re.sub(r"[ \u3000]+", " ", text)).strip()


def _is_kana_context(match: re.Match) -> bool:
    before = match.string[match.start() - 1] if match.start() else ""
    return bool(before) and bool(re.match(f"[{_CJK}]", before))


def normalize_answer(text: str) -> str:
    """The jasquad normalisation: emoji removed, neologdn, whitespace collapsed."""
    text = "".join(ch for ch in text if not _EMOJI.match(ch))
    return " ".join(neologdn_style(text).split())


@lru_cache(maxsize=1)
def _tagger():
    fugashi = require("fugashi", "ja", "JSQuAD token F1")
    return fugashi.Tagger("-Owakati")


def answer_tokens(text: str) -> list[str]:
    """fugashi tokens of the normalised answer, punctuation tokens removed."""
    return [t for t in _tagger().parse(normalize_answer(text)).split() if t not in JA_PUNCTUATION]


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = answer_tokens(prediction), answer_tokens(gold)
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def jsquad_scores(prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """Exact match and token F1, each the best over the gold answers."""
    normalized = normalize_answer(prediction)
    return {"exact_match": float(max(normalized == normalize_answer(g) for g in golds)),
            "f1": max(token_f1(prediction, g) for g in golds)}
