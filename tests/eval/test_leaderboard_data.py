"""Loaders of the non-JGLUE leaderboard datasets and JSTS: our samples meet the data card (≥ 30
evaluated examples per task, consistent answers), the published formats are read (MGSM's TSV and
rows, JAQKET's array and JSON lines), and bad records fail naming file, line and field."""

import json
import re

import pytest

from jaforge.errors import InputError
from jaforge.eval.jglue import load_jsts
from jaforge.eval.leaderboard_data import (JAQKET_CONTEXTS, load_jaqket_v2, load_mgsm, load_xlsum,
                                           load_xwinograd)
from jaforge.eval.metrics import mgsm_answer
from jaforge.eval.tasks import TASKS, load_task_data

from conftest import write_jsonl


@pytest.mark.parametrize("task", ["jsts", "jaqket_v2", "mgsm", "xlsum", "xwinograd"])
def test_each_sample_has_thirty_evaluated_examples_and_its_shots(task):
    data = load_task_data(TASKS.get(task), TASKS.get(task).eval_split)
    assert len(data.docs) >= 30, (task, len(data.docs))
    if TASKS.get(task).shots:
        assert len(load_task_data(TASKS.get(task), "train").docs) >= TASKS.get(task).shots
    assert len({json.dumps(d, ensure_ascii=False, sort_keys=True) for d in data.docs}) == len(data.docs)


def test_jaqket_drops_questions_without_an_answer_passage_and_counts_them():
    data = load_task_data(TASKS.get("jaqket_v2"), "validation")
    assert data.dropped == 2 and list(data.reasons.values()) == [2]
    for doc in data.docs:
        assert len(doc["contexts"]) == JAQKET_CONTEXTS
        assert any(c["has_answer"] and any(a in c["text"] for a in doc["answers"]) for c in doc["contexts"])


def test_mgsm_exemplars_end_with_their_answer_number():
    exemplars = load_task_data(TASKS.get("mgsm"), "train").docs
    assert len(exemplars) == 8
    for doc in exemplars:
        assert mgsm_answer(doc["answers"][0]) == doc["answer_number"] and doc["question"].startswith("問題：")
        assert not doc["answers"][0].startswith("ステップごとの答え：")  # the prefix the template drops


def test_jsts_xwinograd_and_xlsum_samples_fit_their_formats(data_dir):
    scores = [p.label for p in load_jsts(data_dir / "eval" / "jsts" / "valid-v1.1.json")]
    assert min(scores) < 1 and max(scores) > 4.5
    pairs = load_xwinograd(data_dir / "eval" / "xwinograd" / "xwinograd-ja.json")
    assert {p.answer for p in pairs} == {1, 2} and all(p.sentence1 != p.sentence2 for p in pairs)
    articles = load_xlsum(data_dir / "eval" / "xlsum" / "japanese_test.jsonl")
    assert all(len(a.summary) < len(a.text) for a in articles)


def test_mgsm_reads_the_tsv_and_the_hf_rows(tmp_path):
    tsv = tmp_path / "mgsm_ja.tsv"
    tsv.write_text("りんごが3個あります。2個食べると何個？\t1\n\nみかんが1,200個\t1,200\n", "utf-8")
    assert [(p.question[:3], p.answer_number, p.answer) for p in load_mgsm(tsv)] == [("りんご", 1, None),
                                                                                  ("みかん", 1200, None)]
    tsv.write_text("問題だけ\n", "utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(tsv))}:1: expected 2 tab-separated cells"):
        load_mgsm(tsv)
    tsv.write_text("問題\t2.5\n", "utf-8")
    with pytest.raises(ValueError, match=r"mgsm_ja.tsv:1: field 'answer_number': '2.5' is not an integer"):
        load_mgsm(tsv)
    rows = write_jsonl(tmp_path / "test.jsonl", [{"question": "q", "answer": None, "answer_number": 4,
                                                 "equation_solution": None}])
    assert load_mgsm(rows)[0].answer_number == 4


def jaqket_record(has_answer: bool = True, **changes) -> dict:
    ctx = [{"id": str(i), "title": f"t{i}", "text": f"text {i}", "score": 10.0 - i, "has_answer": i == 5 or (has_answer and i == 0)}
           for i in range(7)]
    return {"qid": "QA-1", "question": "何でしょう？", "answers": ["text 0"], "ctxs": ctx, **changes}


def test_jaqket_keeps_five_passages_and_checks_fields(tmp_path):
    path = tmp_path / "dev_jaqket.json"
    path.write_text(json.dumps([jaqket_record(), jaqket_record(False)]), "utf-8")
    first, second = load_jaqket_v2(path)
    assert len(first.contexts) == 5 and first.answerable and not second.answerable  # passage 5 is cut off
    path.write_text(json.dumps([jaqket_record(answers=[])]), "utf-8")
    with pytest.raises(ValueError, match=r"dev_jaqket.json: record 1: field 'answers' should be a non-empty list"):
        load_jaqket_v2(path)
    record = jaqket_record()
    del record["ctxs"][2]["has_answer"]
    write_jsonl(path, [record])
    with pytest.raises(ValueError, match=r"dev_jaqket.json:1: ctxs\[2\]: field 'has_answer' is missing"):
        load_jaqket_v2(path)


def test_xwinograd_and_jsts_check_answers_and_scores(tmp_path):
    path = write_jsonl(tmp_path / "xwinograd-ja.json", [{"sentence1": "a", "sentence2": "b", "answer": "3"}])
    with pytest.raises(ValueError, match=r"xwinograd-ja.json:1: field 'answer': '3' is not one of '1', '2'"):
        load_xwinograd(path)
    path = write_jsonl(tmp_path / "valid-v1.1.json", [{"sentence_pair_id": "1", "sentence1": "a",
                                                       "sentence2": "b", "label": 5.5}])
    with pytest.raises(ValueError, match=r"valid-v1.1.json:1: field 'label': 5.5 is outside 0.0–5.0"):
        load_jsts(path)


def test_a_bad_user_file_is_an_input_error_naming_file_and_line(tmp_path):
    folder = tmp_path / "xlsum"
    write_jsonl(folder / "japanese_train.jsonl", [{"id": "1", "url": "u", "title": "t", "summary": "s", "text": "x"}])
    write_jsonl(folder / "japanese_test.jsonl", [{"id": "1", "url": "u", "title": "t", "text": "x"}])
    with pytest.raises(InputError, match=r"japanese_test.jsonl:1: field 'summary' is missing"):
        load_task_data(TASKS.get("xlsum"), "test", data_dir=str(tmp_path))
