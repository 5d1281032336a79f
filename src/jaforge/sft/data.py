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

from jaforge.data import DataError, choice, data_path, field, read_records
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
