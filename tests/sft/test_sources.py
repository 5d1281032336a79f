"""oasst1-89k-ja trees become conversations (failed translations dropped with their subtrees);
llm-japanese-dataset records load; bad records name file, line and field."""

import pytest

from jaforge.sft.data import load_llm_japanese, load_oasst_ja

from conftest import write_jsonl


def msg(mid, parent, role, text, ng=0):
    return {"message_id": mid, "parent_id": parent, "role": role, "text": f"en {text}",
            "text_ja": text, "ng_translation": ng, "lang": "en"}


TREE = [
    msg("r", None, "prompter", "質問"),
    msg("a1", "r", "assistant", "答え1"),
    msg("a2", "r", "assistant", "答え2", ng="1.0"),       # failed translation: dropped with its subtree
    msg("u2", "a2", "prompter", "続き"),
    msg("a3", "u2", "assistant", "答え3"),
    msg("f", "a1", "prompter", "追加の質問"),             # a leaf prompter: cut back to a1
    msg("a4", "f", "assistant", "答え4"),
    msg("b", "a1", "prompter", "別の質問"),               # leaf prompter with no reply: path ends at a1
]


def test_oasst_tree_becomes_conversations_without_failed_translations(tmp_path):
    path = write_jsonl(tmp_path / "oasst.jsonl", TREE)
    conversations = {c.id: [m.content for m in c.messages] for c in load_oasst_ja(path)}
    assert conversations == {"a4": ["質問", "答え1", "追加の質問", "答え4"], "a1": ["質問", "答え1"]}
    assert all(m.role in ("user", "assistant") for c in load_oasst_ja(path) for m in c.messages)


def test_oasst_bad_role_names_line(tmp_path):
    path = write_jsonl(tmp_path / "oasst.jsonl", [TREE[0], {**TREE[1], "role": "bot"}])
    with pytest.raises(ValueError, match=r"oasst.jsonl:2: field 'role': 'bot'"):
        load_oasst_ja(path)


def test_llm_japanese_records(tmp_path):
    path = write_jsonl(tmp_path / "llmja.jsonl", [
        {"instruction": "次の単語の意味は？", "input": "猫", "output": "ネコ科の動物。"},
        {"instruction": "挨拶して", "output": "こんにちは。"}])
    first, second = load_llm_japanese(path)
    assert (first.input, second.input, second.index) == ("猫", "", "2")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"instruction": "x", "input": "", "output": " "}])
    with pytest.raises(ValueError, match=r"bad.jsonl:1: field 'output' is empty"):
        load_llm_japanese(bad)
