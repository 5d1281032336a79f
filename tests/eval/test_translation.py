"""Translation tasks: held-out pairs only, prompts in the parallel-text template, chrF by sacrebleu."""

import pytest

from jaforge.corpus.parallel import ParallelTextConfig
from jaforge.corpus.parallel import run as parallel_text
from jaforge.eval import GenerationConfig, evaluate_tasks, load_backend
from jaforge.eval.tasks import TASKS, load_docs
from jaforge.eval.translation import corpus_chrf, sentence_chrf

from tiny_models import tiny_models  # noqa: F401  (fixture)

sacrebleu = pytest.importorskip("sacrebleu", reason="sacrebleu (the 'ja' extra) is not installed")


def test_docs_are_the_held_out_pairs_in_the_training_template(tmp_path):
    docs = load_docs(TASKS.get("translation_en_ja"), "test")
    back = load_docs(TASKS.get("translation_ja_en"), "test")
    assert len(docs) == len(back) >= 40
    assert docs[0]["prompt"].startswith("English: ") and docs[0]["prompt"].endswith("\n日本語:")
    assert back[0]["prompt"].startswith("日本語: ") and back[0]["answers"][0] in docs[0]["prompt"]
    parallel_text(ParallelTextConfig(output_dir=str(tmp_path / "par")))  # its heldout.jsonl: the same pairs
    assert load_docs(TASKS.get("translation_en_ja"), "test", data_dir=str(tmp_path / "par")) == docs


def test_chrf_is_sacrebleus():
    doc = {"answers": ["今日はとても良い天気です。"]}
    assert sentence_chrf(" 今日はとても良い天気です。", doc)["chrf_sentence"] == pytest.approx(100.0)
    samples = [{"prediction": "今日は良い天気。", "gold": doc["answers"][0]},
               {"prediction": "雨が降る", "gold": "明日は雨が降るでしょう。"}]
    expected = sacrebleu.corpus_chrf(["今日は良い天気。", "雨が降る"],
                                     [["今日はとても良い天気です。", "明日は雨が降るでしょう。"]]).score
    assert corpus_chrf(samples)["chrf"] == pytest.approx(expected)
    assert 0 < expected < 100


def test_translation_tasks_run_on_a_model(tiny_models):  # noqa: F811
    hf_dir, _ = tiny_models
    report = evaluate_tasks(load_backend(hf_dir), ["translation_en_ja", "translation_ja_en"], limit=3,
                            generation=GenerationConfig(max_new_tokens=6))
    for name in ("translation_en_ja", "translation_ja_en"):
        result = report.tasks[name]
        assert result.headline == "chrf" and 0 <= result.score <= 100 and result.n_examples == 3
        assert all("\n" not in s["prediction"] for s in result.samples)
