"""JSON records from files, with errors that name the file, the line and the field.

    for record in read_jsonl("data/sft/chat.jsonl"): ...          # JSON lines (.gz too)
    for place, record in read_records(path): ...                   # JSON lines or one JSON array
    text = field(record, "text", str, place)                       # checked: present and a str

Every loader of user-supplied records (eval tasks, SFT sources, prompts files) reads through these,
so a bad file fails the same way everywhere: `DataError` naming `file:line` and the field.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from jaforge.errors import JaforgeError
from jaforge.registry import did_you_mean


class DataError(JaforgeError, ValueError):
    """A data file that does not have the layout its loader expects (names file, line, field)."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def parse_json(raw: bytes, path: str | Path, first_line: int = 1) -> Any:
    """JSON from bytes read at `first_line` of `path`; an error names the file and line."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        line = first_line + raw.count(b"\n", 0, err.start)
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{first_line + err.lineno - 1}: malformed JSON: {err.msg} "
                        f"(column {err.colno})") from None


def read_jsonl_numbered(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file (.gz too)."""
    path = Path(path)
    with _open(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if raw.strip():
                record = parse_json(raw.strip(), path, line_no)
                if not isinstance(record, dict):
                    raise DataError(f"{path}:{line_no}: expected a JSON object, "
                                    f"got {type(record).__name__}")
                yield line_no, record


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """The objects of a JSON-lines file; a bad line raises `DataError` naming file and line."""
    for _, record in read_jsonl_numbered(path):
        yield record


def read_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(place, object) from JSON lines or from one JSON array of objects (as many HF exports are).

    The place is ``file:line`` for JSON lines and ``file: record N`` for an array.
    """
    path = Path(path)
    with _open(path) as handle:
        raw = handle.read()
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        for line_no, record in read_jsonl_numbered(path):
            yield f"{path}:{line_no}", record
        return
    for number, record in enumerate(parse_json(raw, path), start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {number}: expected a JSON object, "
                            f"got {type(record).__name__}")
        yield f"{path}: record {number}", record


def field(record: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``record[name]`` checked to be of `kind` (a bool is no int); errors name place and field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if name not in record:
        hint = did_you_mean(name, list(record)) or ";"
        raise DataError(f"{where}: field '{name}' is missing{hint} fields here: "
                        f"{', '.join(record) or 'none'}")
    value = record[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"{where}: field '{name}' should be {expected}, got {value!r}")
    return value


def choice(record: Any, name: str, choices: Iterable[Any], where: str) -> Any:
    """``record[name]``, which must be one of `choices` (an exact match, bools never equal ints)."""
    choices = list(choices)
    value = field(record, name, tuple({type(c) for c in choices}), where)
    if value not in choices:
        hint = did_you_mean(str(value), [str(c) for c in choices])
        raise DataError(f"{where}: field '{name}': {value!r} is not one of "
                        f"{', '.join(map(repr, choices))}{hint}")
    return value
