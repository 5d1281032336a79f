"""SFT data from any `datasets`-loadable source (format hf): JSONL and Parquet files, a glob, and
save_to_disk directories, mapped by column (instruction/input/output, prompt/response, messages),
mixed by ratio like the built-in loaders; a bad mapping names the column and the data's columns.
And the safety set's train split (format safety_ja): no test-split prompt is ever trained on."""

import json

import pytest

datasets = pytest.importorskip("datasets", reason="datasets (the 'sft' extra) is not installed")

from jaforge.errors import ConfigError, InputError  # noqa: E402
from jaforge.sft.config import SourceConfig  # noqa: E402
from jaforge.sft.mixture import build_mixture, load_source  # noqa: E402

ROWS = [{"question": f"質問{i}ですか？", "answer": f"答え{i}です。", "context": "文脈" if i % 2 else "",
         "persona": "丁寧に答えてください。"} for i in range(10)]
CHATS = [{"conversation": [{"role": "user", "content": f"こんにちは{i}"},
                           {"role": "assistant", "content": f"はい{i}"},
                           {"role": "user", "content": "ありがとう"},
                           {"role": "assistant", "content": "どういたしまして"}], "uid": f"c{i}"}
         for i in range(6)]


def source(path, **changes):
    return SourceConfig(**{"name": "mine", "path": str(path), "format": "hf", **changes})


def test_prompt_response_from_jsonl_with_system_and_empty_rows_dropped(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = ROWS + [{"question": "", "answer": "x", "context": "", "persona": ""}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    examples = load_source(source(path, columns={"prompt": "question", "response": "answer", "system": "persona"}))
    assert len(examples) == 10 and examples[3].id == "mine-4"
    assert [m.role for m in examples[0].messages] == ["system", "user", "assistant"]
    assert examples[0].messages[1].content == "質問0ですか？" and examples[0].messages[2].content == "答え0です。"


def test_alpaca_columns_from_parquet_files_by_glob(tmp_path):
    for part in range(2):
        datasets.Dataset.from_list(ROWS[part * 5:(part + 1) * 5]).to_parquet(str(tmp_path / f"part-{part}.parquet"))
    examples = load_source(source(tmp_path / "part-*.parquet", limit=7,
                                  columns={"instruction": "question", "input": "context", "output": "answer"}))
    assert len(examples) == 7 and examples[1].input == "文脈" and examples[0].input == ""
    assert [m.content for m in examples[6].messages] == ["質問6ですか？", "答え6です。"]


def test_messages_from_a_saved_dataset_dict_split(tmp_path):
    datasets.DatasetDict({"train": datasets.Dataset.from_list(CHATS),
                          "test": datasets.Dataset.from_list(CHATS[:1])}).save_to_disk(str(tmp_path / "saved"))
    examples = load_source(source(tmp_path / "saved", columns={"messages": "conversation", "id": "uid"}))
    assert [e.id for e in examples] == [f"c{i}" for i in range(6)] and len(examples[0].messages) == 4
    assert len(load_source(source(tmp_path / "saved", split="test", columns={"messages": "conversation"}))) == 1


def test_columns_found_by_name_and_mixed_by_ratio(tmp_path):
    datasets.Dataset.from_list([{"instruction": r["question"], "output": r["answer"]} for r in ROWS]) \
        .save_to_disk(str(tmp_path / "plain"))
    mixture = build_mixture([source(tmp_path / "plain", ratio=0.5, epochs=2),
                             SourceConfig("dolly", "data/sft/dolly_ja.jsonl", "dolly_ja", limit=20)],
                            eval_fraction=0.2, eval_max=5, seed=0)
    assert len(mixture.held_out["mine"]) == 2 and mixture.drawn["mine"] == 8   # 2 epochs × half of 8
    assert {e.source for e in mixture.train} == {"mine", "dolly"}


@pytest.mark.parametrize("columns, message", [
    ({"prompt": "query", "response": "answer"}, r"'data.sources\[0\].columns.prompt': column 'query' is not in "
                                                r".*qa.jsonl.*its columns: question, answer, context, persona"),
    ({"prompt": "question"}, r"prompt needs 'response' mapped too"),
    ({"promt": "question", "response": "answer"}, r"'data.sources\[0\].columns.promt': not a field; did you mean 'prompt'"),
    ({"messages": "question", "prompt": "question", "response": "answer"}, r"map exactly one of"),
    ({}, r"has no columns named messages, instruction \+ output or prompt \+ response.*question, answer"),
])
def test_a_bad_mapping_names_the_key_the_column_and_the_known_columns(tmp_path, columns, message):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), "utf-8")
    with pytest.raises(ConfigError, match=message):
        load_source(source(path, columns=columns))


def test_bad_shapes_and_paths_name_the_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"conversation": "not a list"}) + "\n", "utf-8")
    with pytest.raises(Exception, match=r"bad.jsonl: row 1: column 'conversation' should hold a list"):
        load_source(source(path, columns={"messages": "conversation"}))
    (tmp_path / "notes.txt").write_text("x", "utf-8")
    with pytest.raises(InputError, match=r"notes.txt: format hf reads .jsonl, .json or .parquet"):
        load_source(source(tmp_path / "notes.txt"))
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(InputError, match=r"not a datasets save_to_disk directory"):
        load_source(source(tmp_path / "empty-dir"))
    with pytest.raises(InputError, match=r"absent.jsonl: not found \('data.sources\[0\].path'\)"):
        load_source(source(tmp_path / "absent.jsonl"))


# ---------------------------------------------------------------------------- the safety set

def test_the_safety_source_never_trains_on_the_held_out_test_split(data_dir):
    records = [json.loads(line) for line in open(data_dir / "sft" / "safety_ja.jsonl", encoding="utf-8")]
    test_prompts = {r["messages"][0]["content"] for r in records if r["split"] == "test"}
    safety = SourceConfig("safety", "data/sft/safety_ja.jsonl", "safety_ja", epochs=3)
    mixture = build_mixture([safety], eval_fraction=0.1, eval_max=8, seed=0)
    seen = {m.content for e in mixture.train + mixture.held_out["safety"] for m in e.messages}
    assert test_prompts and not seen & test_prompts
    assert len({e.id for e in mixture.train}) == sum(r["split"] == "train" for r in records) - 8


def test_a_safety_record_without_a_split_is_an_error(tmp_path):
    path = tmp_path / "safety.jsonl"
    path.write_text(json.dumps({"id": "x", "messages": [{"role": "user", "content": "a"},
                                                         {"role": "assistant", "content": "b"}]}) + "\n", "utf-8")
    with pytest.raises(Exception, match=r"safety.jsonl:1: field 'split' is missing"):
        load_source(SourceConfig("s", str(path), "safety_ja"))
