"""Loaders for SFT data: Dolly-style instructions, chat conversations and preference pairs.

    from jaforge.sft.data import load_chat, load_dolly_ja
    examples = load_dolly_ja("databricks-dolly-15k-ja.json")   # the real release (a JSON array)
    examples = load_dolly_ja(sample_path("dolly_ja"))          # jaforge's own sample (JSON lines)

Files are JSON lines or one JSON array of objects. Every record is checked: a missing field, a
value of the wrong type, an unknown category or role, or a conversation whose turns do not
alternate raises `DataError` naming the file, the line (or record number) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jaforge.data import data_path
from jaforge.io.records import DataError, choice, field, read_records
from jaforge.registry import did_you_mean

DOLLY_CATEGORIES = ("open_qa", "closed_qa", "general_qa", "classification",
                    "information_extraction", "summarization", "brainstorming", "creative_writing")
ROLES = ("system", "user", "assistant")


@dataclass
class DollyExample:
    """One databricks-dolly-15k-ja record; `input` is the optional context (often empty)."""

    instruction: str
    input: str
    output: str
    category: str  # one of DOLLY_CATEGORIES
    index: str = ""


@dataclass
class Message:
    role: str  # one of ROLES
    content: str


@dataclass
class ChatExample:
    """An optional system message, then user/assistant turns alternating, ending with the assistant."""

    id: str
    messages: list[Message]

    @property
    def user_turns(self) -> int:
        return sum(m.role == "user" for m in self.messages)


@dataclass
class PreferencePair:
    prompt: str
    chosen: str    # the preferred response
    rejected: str  # the dispreferred response to the same prompt


def load_dolly_ja(path: str | Path) -> list[DollyExample]:
    """Dolly-style records (instruction, input, output, category, optional index)."""
    examples = []
    for where, r in read_records(path):
        index = str(field(r, "index", (str, int), where)) if "index" in r else ""
        examples.append(DollyExample(
            field(r, "instruction", str, where), field(r, "input", str, where),
            field(r, "output", str, where), choice(r, "category", DOLLY_CATEGORIES, where), index))
    return examples


def _message(raw: object, where: str) -> Message:
    role = choice(raw, "role", ROLES, where)
    content = field(raw, "content", str, where)
    if not content.strip():
        raise DataError(f"{where}: field 'content' is empty")
    return Message(role, content)


def check_turns(messages: list[Message], where: str) -> None:
    """A system message may only come first; then user and assistant alternate, user first,
    and the conversation ends with an assistant reply (something to learn from)."""
    turns = messages[1:] if messages and messages[0].role == "system" else messages
    offset = len(messages) - len(turns)
    if not turns:
        raise DataError(f"{where}: field 'messages' has no user/assistant turns")
    for i, message in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if message.role != expected:
            after = f" after '{turns[i - 1].role}'" if i else " first"
            raise DataError(f"{where}: field 'messages[{i + offset}].role': expected "
                            f"'{expected}'{after}, got '{message.role}'")
    if turns[-1].role != "assistant":
        raise DataError(f"{where}: field 'messages[{len(messages) - 1}]': the conversation ends "
                        f"with a user turn; it should end with the assistant's reply")


def load_chat(path: str | Path) -> list[ChatExample]:
    """Conversations: {"id", "messages": [{"role", "content"}, …]} (id optional)."""
    examples = []
    for number, (where, r) in enumerate(read_records(path), start=1):
        raw = field(r, "messages", list, where)
        messages = [_message(m, f"{where}: messages[{i}]") for i, m in enumerate(raw)]
        check_turns(messages, where)
        chat_id = str(field(r, "id", (str, int), where)) if "id" in r else f"{Path(path).stem}-{number}"
        examples.append(ChatExample(chat_id, messages))
    return examples


def load_preference(path: str | Path) -> list[PreferencePair]:
    """Preference pairs (prompt, chosen, rejected) for DPO-style tuning."""
    pairs = []
    for where, r in read_records(path):
        texts = {name: field(r, name, str, where) for name in ("prompt", "chosen", "rejected")}
        for name, text in texts.items():
            if not text.strip():
                raise DataError(f"{where}: field '{name}' is empty")
        if texts["chosen"] == texts["rejected"]:
            raise DataError(f"{where}: field 'rejected' is the same text as 'chosen'")
        pairs.append(PreferencePair(**texts))
    return pairs


SAMPLES = {"dolly_ja": "sft/dolly_ja.jsonl", "chat": "sft/chat.jsonl",
           "preference": "sft/preference.jsonl"}


def sample_path(name: str) -> Path:
    """jaforge's own sample file: 'dolly_ja', 'chat' or 'preference'."""
    if name not in SAMPLES:
        raise KeyError(f"unknown SFT sample '{name}'{did_you_mean(name, list(SAMPLES))} "
                       f"known: {', '.join(SAMPLES)}")
    return data_path(SAMPLES[name])


# ---------------------------------------------------------------------------- oasst1-89k-ja

OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def _flagged(value: object) -> bool:
    """oasst1-89k-ja writes ng_translation as 0/1, "0"/"1", "0.0"/"1.0" or a bool."""
    if isinstance(value, str):
        return value.strip() not in ("", "0", "0.0", "false", "False")
    return bool(value)


def _oasst_messages(path: str | Path) -> dict[str, dict]:
    messages = {}
    for where, r in read_records(path):
        message_id = field(r, "message_id", str, where)
        parent = r.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise DataError(f"{where}: field 'parent_id' should be str or null, got {parent!r}")
        role = OASST_ROLES.get(field(r, "role", str, where))
        if role is None:
            raise DataError(f"{where}: field 'role': {r['role']!r} is not one of 'prompter', 'assistant'")
        text = r.get("text_ja", r.get("text"))
        if not isinstance(text, str):
            raise DataError(f"{where}: field 'text_ja' is missing or not a string")
        messages[message_id] = {"parent": parent or None, "role": role, "text": text,
                                "ok": not _flagged(r.get("ng_translation", 0)) and bool(text.strip()),
                                "where": where}
    return messages


def load_oasst_ja(path: str | Path) -> list[ChatExample]:
    """oasst1-89k-ja message trees → conversations, one per leaf of each tree, each cut after its
    last assistant message. A message whose translation failed (ng_translation) is dropped with
    its whole subtree, since every conversation through it would have a hole."""
    messages = _oasst_messages(path)
    children: dict[str | None, list[str]] = {}
    for message_id, m in messages.items():
        children.setdefault(m["parent"] if m["parent"] in messages else None, []).append(message_id)
    examples, seen = [], set()
    stack = [(root, []) for root in reversed(children.get(None, []))]
    while stack:
        message_id, path_ids = stack.pop()
        if not messages[message_id]["ok"]:
            continue
        path_ids = path_ids + [message_id]
        kids = [k for k in children.get(message_id, []) if messages[k]["ok"]]
        if kids:
            stack.extend((k, path_ids) for k in reversed(kids))
            continue
        while path_ids and messages[path_ids[-1]]["role"] != "assistant":
            path_ids = path_ids[:-1]
        if not path_ids or tuple(path_ids) in seen:
            continue
        seen.add(tuple(path_ids))
        turns = [Message(messages[i]["role"], messages[i]["text"]) for i in path_ids]
        try:
            check_turns(turns, messages[path_ids[-1]]["where"])
        except DataError:
            continue  # a tree whose roles do not alternate (rare in the release): not a conversation
        examples.append(ChatExample(path_ids[-1], turns))
    return examples


# ---------------------------------------------------------------------------- llm-japanese-dataset

@dataclass
class InstructionExample:
    """An (instruction, input, output) record without a category (llm-japanese-dataset, Alpaca)."""

    instruction: str
    input: str
    output: str
    index: str = ""


def load_llm_japanese(path: str | Path) -> list[InstructionExample]:
    """llm-japanese-dataset records: instruction, input (may be empty or missing), output."""
    examples = []
    for number, (where, r) in enumerate(read_records(path), start=1):
        given = field(r, "input", str, where) if "input" in r else ""
        output = field(r, "output", str, where)
        if not output.strip():
            raise DataError(f"{where}: field 'output' is empty")
        examples.append(InstructionExample(field(r, "instruction", str, where), given, output,
                                           str(r.get("index", r.get("id", number)))))
    return examples
