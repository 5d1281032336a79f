"""SFT data from anything `datasets` loads, with a column mapping: `format: hf` sources.

    data:
      sources:
        - {name: qa, format: hf, path: my/qa.parquet, columns: {prompt: question, response: answer}}
        - {name: alpaca, format: hf, path: "my/alpaca-*.jsonl",
           columns: {instruction: instruction, input: input, output: output}, ratio: 0.5}
        - {name: chats, format: hf, path: runs/chats-dataset, split: train, columns: {messages: conversation}}

`path` is a .jsonl / .json / .parquet file, a glob of such files, or a `datasets.save_to_disk`
directory (a Dataset, or a DatasetDict whose `split` is used). Files are read by `datasets`' own
json and parquet builders and directories by `load_from_disk`: nothing in the data runs code.

The mapping's keys are jaforge's fields, its values the data's columns, in one of three shapes:
`instruction` + `output` (+ `input`, Alpaca style), `prompt` + `response`, or `messages` (a list of
{role, content}: an optional system message, then user/assistant turns alternating, ending with the
assistant); `system` and `id` may be added to any shape. Without a mapping, columns named like the
fields are used (messages, else instruction/output, else prompt/response). A mapping that names a
column the data lacks fails naming the column and the columns the data has; rows whose prompt or
response is empty are dropped and counted in a warning.
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path
from typing import Any

from jaforge.data import DataError
from jaforge.errors import ConfigError, InputError, input_errors
from jaforge.extras import require
from jaforge.registry import did_you_mean
from jaforge.sft.config import SourceConfig
from jaforge.sft.data import Message, check_turns, message_from
from jaforge.sft.examples import SFTExample

log = logging.getLogger(__name__)

SHAPES = {"messages": ("messages",), "instruction": ("instruction", "output"),
          "prompt": ("prompt", "response")}
OPTIONAL = ("input", "system", "id")
FIELDS = ("instruction", "input", "output", "prompt", "response", "messages", "system", "id")
BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def data_files(path: str) -> tuple[str, list[str]]:
    """(datasets builder, files) of a file or a glob of files of one kind."""
    files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
    if not files:
        raise InputError(path, "no file matches this pattern")
    kinds = {BUILDERS.get("".join(Path(f).suffixes[-1:]).lower()) for f in files}
    if None in kinds or len(kinds) > 1:
        raise InputError(path, f"format hf reads .jsonl, .json or .parquet files (one kind) or a "
                               f"datasets save_to_disk directory; got {', '.join(Path(f).name for f in files[:3])}")
    return kinds.pop(), files


def load_table(path: str, split: str, where: str) -> Any:
    """The rows of a data file, glob or saved dataset directory as a `datasets.Dataset`."""
    datasets = require("datasets", "sft", "format: hf sources")
    if Path(path).is_dir():
        if not any((Path(path) / n).exists() for n in ("dataset_info.json", "dataset_dict.json")):
            raise InputError(path, "not a datasets save_to_disk directory (no dataset_info.json or "
                                   "dataset_dict.json); point path at its .jsonl/.parquet files instead")
        with input_errors(path, "a datasets save_to_disk directory"):
            table = datasets.load_from_disk(path)
        if isinstance(table, datasets.DatasetDict):
            if split not in table:
                raise ConfigError(f"'{where}.split': {split!r} is not a split of {path}; it has "
                                  f"{', '.join(table)}{did_you_mean(split, list(table))}")
            table = table[split]
        return table
    builder, files = data_files(path)
    with input_errors(path, f"{builder} data that datasets reads"):
        return datasets.load_dataset(builder, data_files=files, split="train")


def column_mapping(columns: dict[str, str], available: list[str], path: str, where: str) -> dict[str, str]:
    """jaforge field → column, checked against the data's columns."""
    unknown = [k for k in columns if k not in FIELDS]
    if unknown:
        hint = did_you_mean(unknown[0], list(FIELDS)) or ";"
        raise ConfigError(f"'{where}.columns.{unknown[0]}': not a field{hint} known fields: {', '.join(FIELDS)}")
    mapping = dict(columns) or _by_name(available, path, where)
    shapes = [s for s in SHAPES if s in mapping]
    if len(shapes) != 1:
        raise ConfigError(f"'{where}.columns': map exactly one of messages, instruction (+ output, input) "
                          f"or prompt (+ response); got {', '.join(mapping) or 'nothing'}")
    for needed in SHAPES[shapes[0]]:
        if needed not in mapping:
            raise ConfigError(f"'{where}.columns': {shapes[0]} needs '{needed}' mapped too")
    extra = [k for k in mapping if k not in SHAPES[shapes[0]] + OPTIONAL]
    if extra:
        raise ConfigError(f"'{where}.columns.{extra[0]}': does not go with {shapes[0]}")
    for key, column in mapping.items():
        if column not in available:
            raise ConfigError(f"'{where}.columns.{key}': column '{column}' is not in {path}"
                              f"{did_you_mean(column, available) or ';'} its columns: {', '.join(available)}")
    return mapping


def _by_name(available: list[str], path: str, where: str) -> dict[str, str]:
    for needed in SHAPES.values():
        if all(c in available for c in needed):
            return {c: c for c in (*needed, *OPTIONAL) if c in available}
    raise ConfigError(f"'{where}.columns': {path} has no columns named messages, instruction + output "
                      f"or prompt + response; map yours (its columns: {', '.join(available)})")


def _text(row: dict, column: str, where: str) -> str:
    value = row[column]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: column '{column}' should hold text, got {type(value).__name__}")
    return value


def example_from_row(row: dict, mapping: dict[str, str], name: str, number: int, where: str) -> SFTExample | None:
    """One row as an SFTExample; None when its prompt or response is empty."""
    system = _text(row, mapping["system"], where) if "system" in mapping else ""
    chat_id = str(row[mapping["id"]]) if "id" in mapping else f"{name}-{number}"
    head = [Message("system", system)] if system.strip() else []
    if "messages" in mapping:
        raw = row[mapping["messages"]]
        if not isinstance(raw, list):
            raise DataError(f"{where}: column '{mapping['messages']}' should hold a list of "
                            f"{{role, content}}, got {type(raw).__name__}")
        messages = [message_from(m, f"{where}: {mapping['messages']}[{i}]") for i, m in enumerate(raw)]
        if head and messages and messages[0].role == "system":
            head = []
        check_turns(head + messages, where)
        return SFTExample(chat_id, head + messages)
    ask, answer = ("instruction", "output") if "instruction" in mapping else ("prompt", "response")
    prompt, response = _text(row, mapping[ask], where), _text(row, mapping[answer], where)
    if not prompt.strip() or not response.strip():
        return None
    given = _text(row, mapping["input"], where) if "input" in mapping else ""
    return SFTExample(chat_id, head + [Message("user", prompt), Message("assistant", response)], given)


def load_hf_source(path: Path, source: SourceConfig, where: str) -> list[SFTExample]:
    """The examples of a `format: hf` source (its first `limit` rows when a limit is set)."""
    table = load_table(str(path), source.split, where)
    mapping = column_mapping(source.columns, list(table.column_names), str(path), where)
    table = table.select_columns(sorted(set(mapping.values())))
    if source.limit:
        table = table.select(range(min(source.limit, len(table))))
    examples, empty = [], 0
    for number, row in enumerate(table, start=1):
        example = example_from_row(row, mapping, source.name, number, f"{path}: row {number}")
        if example is None:
            empty += 1
        else:
            examples.append(example)
    if empty:
        log.warning("%s: %d of %d rows dropped (empty prompt or response)", path, empty, len(table))
    return examples
