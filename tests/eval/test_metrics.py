"""Choice metrics agree with scikit-learn's definitions; JSQuAD EM/F1 normalise like jasquad."""

import numpy as np
import pytest

from jaforge.eval.metrics import (choice_metrics, confusion, jsquad_scores, macro_f1,
                                  matthews_corrcoef, normalize_answer, predictions)


def test_choice_metrics_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    rng = np.random.default_rng(0)
    golds, preds = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    preds[:80] = golds[:80]
    matrix = confusion(golds, preds, 3)
    assert macro_f1(matrix) == pytest.approx(metrics.f1_score(golds, preds, average="macro"))
    assert matthews_corrcoef(matrix) == pytest.approx(metrics.matthews_corrcoef(golds, preds))
    logliks = [[0.0 if j == p else -1.0 for j in range(3)] for p in preds]
    out = choice_metrics(logliks, [["a", "b", "c"]] * 200, list(golds))
    assert out["acc"] == pytest.approx(metrics.accuracy_score(golds, preds))
    assert out["balanced_acc"] == pytest.approx(metrics.balanced_accuracy_score(golds, preds))


def test_acc_norm_divides_by_characters():
    raw, norm = predictions([[-4.0, -6.0]], [["ab", "abcdef"]])
    assert raw == [0] and norm == [1]  # -4/2 = -2 < -6/6 = -1


def test_jsquad_normalisation_and_token_f1():
    pytest.importorskip("fugashi", reason="fugashi (the 'ja' extra) is not installed")
    assert normalize_answer("ＡＢＣ　１２３") == "ABC 123"
    assert jsquad_scores("  東京都。", ["東京都"])["exact_match"] == 0.0  # punctuation counts for EM
    scores = jsquad_scores("東京都。", ["東京都"])
    assert scores["f1"] == 1.0  # …but not for token F1
    assert 0 < jsquad_scores("東京都の港区", ["港区"])["f1"] < 1
    assert jsquad_scores("大阪", ["東京", "大阪"]) == {"exact_match": 1.0, "f1": 1.0}
