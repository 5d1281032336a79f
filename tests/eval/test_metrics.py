"""Choice metrics agree with scikit-learn's definitions; JSQuAD EM/F1 normalise like jasquad; exact
match, MGSM's answer extraction and XL-Sum's ROUGE-2 equal lm-eval's own functions; JSTS
correlations equal scipy's."""

import numpy as np
import pytest

from jaforge.eval.metrics import (choice_metrics, confusion, correlations, exact_match, expected_score,
                                  jsquad_scores, macro_f1, matthews_corrcoef, mgsm_correct, normalize_answer,
                                  predictions)
from jaforge.eval.rouge_ja import rouge2_leaderboard, rouge2_scores


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


# ---------------------------------------------------------------------------- as lm-eval computes them

def lm_eval_leaderboard_module(name: str):
    pytest.importorskip("lm_eval", reason="lm-eval (the 'bench' extra) is not installed")
    import importlib

    return importlib.import_module(f"lm_eval.tasks.japanese_leaderboard.ja_leaderboard_{name}")


COMPLETIONS = ["まず12+8=20です。答えは20です。", "答えは1,100です。", "合計は3.5個", "わかりません", "…",
               "答えは-4です。", "20個と30個で50。", "答えは7.0です", ""]


def test_mgsm_extraction_equals_lm_evals():
    mgsm = lm_eval_leaderboard_module("mgsm")
    for completion in COMPLETIONS:
        for answer in (20, 1100, 50, -4, 7, 3):
            expected = mgsm.process_results({"answer_number": answer}, [completion])["acc"]
            assert mgsm_correct(completion, answer) == expected, (completion, answer)


def test_exact_match_equals_lm_evals():
    from lm_eval.api.metrics import exact_match_hf_evaluate

    pairs = [(" 東京 ", "東京"), ("東京\n", "東京"), ("東 京", "東京"), ("東京都", "東京"), ("", ""), ("\u3000東京", "東京")]
    for prediction, reference in pairs:
        theirs = exact_match_hf_evaluate(predictions=[prediction], references=[reference],
                                         regexes_to_ignore=[r"^\s+", r"\s+$"])["exact_match"]
        assert exact_match(prediction, reference) == theirs, (prediction, reference)


def test_rouge2_equals_lm_evals_bootstrap_aggregate():
    pytest.importorskip("rouge_score", reason="rouge-score (the 'ja' extra) is not installed")
    pytest.importorskip("fugashi", reason="fugashi (the 'ja' extra) is not installed")
    xlsum = lm_eval_leaderboard_module("xlsum")
    references = ["青野川町に和紙の新しい工房が完成した。", "浜風線に新型車両が二両導入される。",
                  "白鷺湖にハクチョウが例年より早く飛来した。", "湯けむり祭りに過去最多の人が訪れた。"]
    predictions = ["青野川町で和紙の工房が完成した。", "新型車両が浜風線に導入される予定だ。", "まったく関係のない文。",
                   "祭りに多くの人が訪れた😀。"]
    import numpy as np

    np.random.seed(1234)
    theirs = xlsum.rouge2_agg(list(zip(references, predictions)))
    assert rouge2_leaderboard(references, predictions) == pytest.approx(theirs, abs=1e-12)
    per_example = [s.fmeasure for s in rouge2_scores(references, predictions)]
    assert 0 < min(per_example[:2]) and per_example[2] == 0 and 0 < theirs < 1


def test_correlations_equal_scipys():
    stats = pytest.importorskip("scipy.stats", reason="scipy is not installed")
    rng = np.random.default_rng(1)
    gold = np.round(rng.uniform(0, 5, 40), 1)
    predicted = gold + rng.normal(0, 1.2, 40)
    predicted[:6] = predicted[0]  # ties
    out = correlations(predicted, gold)
    assert out["pearson"] == pytest.approx(stats.pearsonr(predicted, gold).statistic)
    assert out["spearman"] == pytest.approx(stats.spearmanr(predicted, gold).statistic)
    assert expected_score([0.0, np.log(3.0)], [0.0, 4.0]) == pytest.approx(3.0)
