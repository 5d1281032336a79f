"""JGLUE loaders: our samples meet the data card, and bad files fail naming file, line and field."""

import json
import re
from collections import Counter

import pytest

from jaforge.eval.jglue import (JNLI_LABELS, LOADERS, MARC_JA_LABELS, load_jcommonsenseqa,
                                load_jnli, load_jsquad, load_marc_ja, load_sample, sample_path)

from conftest import write_jsonl


def both_splits(task):
    return load_sample(task, "train") + load_sample(task, "valid")


# ---------------------------------------------------------------------------- the embedded samples

@pytest.mark.parametrize("task", sorted(LOADERS))
def test_every_sample_file_is_read(task, data_dir):
    files = sorted((data_dir / "eval" / task).glob("*.json"))
    assert [p.name.split("-")[0] for p in files] == ["train", "valid"]
    for path in files:
        assert LOADERS[task](path), path
    assert sample_path(task, "valid") == files[1]


def test_jnli_sample_is_balanced():
    pairs = both_splits("jnli")
    labels = Counter(p.label for p in pairs)
    assert len(pairs) >= 150
    assert set(labels) == set(JNLI_LABELS)
    assert min(labels.values()) >= 40, labels
    assert len({p.pair_id for p in pairs}) == len(pairs)


def test_marc_ja_sample_has_both_labels():
    reviews = both_splits("marc_ja")
    labels = Counter(r.label for r in reviews)
    assert len(reviews) >= 150
    assert set(labels) == set(MARC_JA_LABELS)
    assert min(labels.values()) >= len(reviews) / 3, labels


def test_jcommonsenseqa_sample_uses_every_answer_position():
    questions = both_splits("jcommonsenseqa")
    assert len(questions) >= 100
    assert {q.label for q in questions} == {0, 1, 2, 3, 4}
    assert all(len(q.choices) == 5 and len(set(q.choices)) == 5 for q in questions)
    assert len({q.q_id for q in questions}) == len(questions)


def test_jsquad_sample_answers_point_at_their_text():
    questions = both_splits("jsquad")
    assert len(questions) >= 50
    assert len({q.context for q in questions}) >= 15
    for q in questions:
        assert q.answers, q.id
        for text, start in q.answers:
            assert q.context[start:start + len(text)] == text, q.id
    assert len({q.id for q in questions}) == len(questions)


def test_jsquad_sample_follows_the_release_layout(data_dir):
    document = json.loads((data_dir / "eval" / "jsquad" / "valid-v1.1.json").read_text("utf-8"))
    assert document["version"] == "v1.1"
    title = document["data"][0]["title"]
    assert document["data"][0]["paragraphs"][0]["context"].startswith(f"{title} [SEP] ")


# ---------------------------------------------------------------------------- errors on bad files

JNLI_OK = {"sentence_pair_id": "0", "yjcaptions_id": "1-2-3", "sentence1": "犬が走っている。",
           "sentence2": "動物が動いている。", "label": "entailment"}


def test_jnli_wrong_label_names_file_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "jnli.json", [JNLI_OK, {**JNLI_OK, "label": "entailed"}])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: field 'label': 'entailed' is not "
                                         r"one of .*did you mean 'entailment'"):
        load_jnli(path)


def test_jnli_missing_field_names_it(tmp_path):
    broken = {k: v for k, v in JNLI_OK.items() if k != "sentence2"}
    path = write_jsonl(tmp_path / "jnli.json", [JNLI_OK, JNLI_OK, broken])
    with pytest.raises(ValueError, match=r"jnli.json:3: field 'sentence2' is missing"):
        load_jnli(path)


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "marc.json"
    path.write_text('{"sentence": "良い", "label": "positive", "review_id": "R1"}\n{"sentence": "悪い",\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: malformed JSON"):
        load_marc_ja(path)


def test_marc_ja_reads_a_json_array_and_checks_labels(tmp_path):
    path = tmp_path / "marc.json"
    path.write_text(json.dumps([{"sentence": "良い", "label": "positive", "review_id": "R1"},
                                {"sentence": "普通", "label": "neutral", "review_id": "R2"}]),
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"marc.json: record 2: field 'label': 'neutral'"):
        load_marc_ja(path)


@pytest.mark.parametrize("label, message", [(5, "field 'label': 5 is not one of"),
                                            (True, "field 'label' should be int, got True"),
                                            ("2", "field 'label' should be int, got '2'")])
def test_jcommonsenseqa_label_must_be_a_choice_index(tmp_path, label, message):
    record = {"q_id": 0, "question": "空を飛ぶのは？", "label": label,
              **{f"choice{i}": c for i, c in enumerate(["鳥", "魚", "石", "机", "靴"])}}
    path = write_jsonl(tmp_path / "jcqa.json", [record])
    with pytest.raises(ValueError, match=rf"jcqa.json:1: {re.escape(message)}"):
        load_jcommonsenseqa(path)


def test_jcommonsenseqa_needs_five_choices(tmp_path):
    record = {"q_id": 0, "question": "空を飛ぶのは？", "label": 0,
              **{f"choice{i}": c for i, c in enumerate(["鳥", "魚", "石", "机"])}}
    path = write_jsonl(tmp_path / "jcqa.json", [record])
    with pytest.raises(ValueError, match=r"jcqa.json:1: field 'choice4' is missing"):
        load_jcommonsenseqa(path)


def squad(answer_start, context="湖 [SEP] 白鳥湖は北の町にある湖である。"):
    qa = {"id": "q-7", "question": "白鳥湖はどこにある？", "is_impossible": False,
          "answers": [{"text": "北の町", "answer_start": answer_start}]}
    return {"version": "v1.1", "data": [{"title": "湖", "paragraphs": [{"context": context,
                                                                       "qas": [qa]}]}]}


def test_jsquad_checks_answer_start_naming_the_question(tmp_path):
    path = tmp_path / "jsquad.json"
    path.write_text(json.dumps(squad(12), ensure_ascii=False), encoding="utf-8")
    assert load_jsquad(path)[0].answers == [("北の町", 12)]
    path.write_text(json.dumps(squad(11), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"jsquad.json: question q-7: field "
                                         r"'answers\[0\].answer_start': 11 points at 'は北の'"):
        load_jsquad(path)
    assert load_jsquad(path, check_spans=False)[0].answers == [("北の町", 11)]


def test_jsquad_missing_field_and_malformed_json(tmp_path):
    document = squad(12)
    del document["data"][0]["paragraphs"][0]["context"]
    path = tmp_path / "jsquad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match=r"jsquad.json: data\[0\].paragraphs\[0\]: "
                                         r"field 'context' is missing"):
        load_jsquad(path)
    path.write_text('{"version": "v1.1",\n "data": [}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"jsquad.json:2: malformed JSON"):
        load_jsquad(path)


def test_unknown_task_suggests_the_known_ones():
    with pytest.raises(KeyError, match="did you mean 'jnli'"):
        sample_path("jnil", "train")
