"""SFT loaders: our samples meet the data card, and bad files fail naming file, line and field."""

import json
import re
from collections import Counter

import pytest

from jaforge.sft.data import (DOLLY_CATEGORIES, load_chat, load_dolly_ja, load_preference,
                              sample_path)

from conftest import write_jsonl

# ---------------------------------------------------------------------------- the embedded samples


def test_every_sft_sample_file_is_read(data_dir):
    files = {p.name for p in (data_dir / "sft").glob("*") if p.is_file()}
    assert files == {"dolly_ja.jsonl", "chat.jsonl", "preference.jsonl", "safety_ja.jsonl"}


def test_safety_sample_reads_as_chat_with_held_out_prompts(data_dir):
    records = [json.loads(line) for line in open(data_dir / "sft" / "safety_ja.jsonl", encoding="utf-8")]
    conversations = load_chat(data_dir / "sft" / "safety_ja.jsonl")
    assert len(conversations) == len(records) >= 150
    kinds = Counter((r["kind"], r["split"]) for r in records)
    assert kinds[("harmful", "test")] >= 30 and kinds[("benign", "test")] >= 20
    assert len({r["category"] for r in records}) >= 10


def test_dolly_ja_sample_covers_every_category():
    examples = load_dolly_ja(sample_path("dolly_ja"))
    categories = Counter(e.category for e in examples)
    assert len(examples) >= 300
    assert set(categories) == set(DOLLY_CATEGORIES)
    assert all(e.instruction.strip() and e.output.strip() for e in examples)
    assert len({e.index for e in examples}) == len(examples)


def test_chat_sample_is_multi_turn():
    conversations = load_chat(sample_path("chat"))
    assert sum(c.user_turns >= 2 for c in conversations) >= 50
    assert len({c.id for c in conversations}) == len(conversations)


def test_preference_sample_pairs_differ():
    pairs = load_preference(sample_path("preference"))
    assert pairs
    assert all(p.chosen != p.rejected for p in pairs)


# ---------------------------------------------------------------------------- errors on bad files

DOLLY_OK = {"instruction": "富士山の高さは？", "input": "", "output": "3776メートルです。",
            "category": "open_qa", "index": "0"}


def test_dolly_wrong_category_names_file_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "dolly.jsonl", [DOLLY_OK, {**DOLLY_OK, "category": "open-qa"}])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:2: field 'category': 'open-qa' "
                                         r"is not one of .*did you mean 'open_qa'"):
        load_dolly_ja(path)


def test_dolly_reads_the_release_json_array(tmp_path):
    path = tmp_path / "databricks-dolly-15k-ja.json"
    broken = {k: v for k, v in DOLLY_OK.items() if k != "output"}
    path.write_text(json.dumps([DOLLY_OK, {**DOLLY_OK, "index": 1}], ensure_ascii=False), "utf-8")
    assert [e.index for e in load_dolly_ja(path)] == ["0", "1"]
    path.write_text(json.dumps([DOLLY_OK, broken], ensure_ascii=False), "utf-8")
    with pytest.raises(ValueError, match=r"15k-ja.json: record 2: field 'output' is missing"):
        load_dolly_ja(path)


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text('{"messages": [}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}:1: malformed JSON"):
        load_chat(path)


def chat(*roles):
    return {"id": "c1", "messages": [{"role": r, "content": f"{r}の発言"} for r in roles]}


def test_chat_accepts_a_system_prompt_and_alternating_turns(tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [chat("system", "user", "assistant", "user",
                                                      "assistant")])
    [conversation] = load_chat(path)
    assert conversation.user_turns == 2 and conversation.messages[0].role == "system"


@pytest.mark.parametrize("roles, message", [
    (("user", "user", "assistant"),
     "field 'messages[1].role': expected 'assistant' after 'user', got 'user'"),
    (("assistant", "user"), "field 'messages[0].role': expected 'user' first, got 'assistant'"),
    (("user", "system", "assistant"), "field 'messages[1].role': expected 'assistant'"),
    (("user", "assistant", "user"), "field 'messages[2]': the conversation ends with a user turn"),
    (("user", "bot"), "field 'role': 'bot' is not one of"),
    (("system",), "field 'messages' has no user/assistant turns"),
])
def test_chat_turn_errors_name_line_and_field(tmp_path, roles, message):
    path = write_jsonl(tmp_path / "chat.jsonl", [chat("user", "assistant"), chat(*roles)])
    with pytest.raises(ValueError, match=rf"chat.jsonl:2.*{re.escape(message)}"):
        load_chat(path)


def test_chat_empty_content_and_missing_messages(tmp_path):
    empty = {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "はい"}]}
    path = write_jsonl(tmp_path / "chat.jsonl", [empty])
    with pytest.raises(ValueError, match=r"chat.jsonl:1: messages\[0\]: field 'content' is empty"):
        load_chat(path)
    path = write_jsonl(tmp_path / "chat.jsonl", [{"id": "c1", "turns": []}])
    with pytest.raises(ValueError, match=r"chat.jsonl:1: field 'messages' is missing"):
        load_chat(path)


def test_preference_errors_name_line_and_field(tmp_path):
    ok = {"prompt": "挨拶して", "chosen": "こんにちは。", "rejected": "知らない。"}
    path = write_jsonl(tmp_path / "pref.jsonl", [ok, {**ok, "rejected": ok["chosen"]}])
    with pytest.raises(ValueError, match=r"pref.jsonl:2: field 'rejected' is the same text as"):
        load_preference(path)
    path = write_jsonl(tmp_path / "pref.jsonl", [{"prompt": "挨拶して", "chosen": "こんにちは。"}])
    with pytest.raises(ValueError, match=r"pref.jsonl:1: field 'rejected' is missing"):
        load_preference(path)


def test_unknown_sample_suggests_the_known_ones():
    with pytest.raises(KeyError, match="did you mean 'chat'"):
        sample_path("chta")
