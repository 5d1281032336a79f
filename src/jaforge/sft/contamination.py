"""Contamination check: character n-gram overlap between training examples and evaluation files.

    index = eval_ngrams(["data/eval"], n=20)
    report = overlapping(train_examples, index, n=20)   # {"checked", "overlapping", "ids", …}

Whitespace is removed before taking n-grams (Japanese has none to rely on, and reformatting
should not hide a copy). Evaluation files are JSON or JSON lines; every string value of at least
n characters counts. Hashes of the n-grams are kept, not the n-grams themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

SPACE = re.compile(r"\s+")


def ngram_hashes(text: str, n: int) -> set[int]:
    text = SPACE.sub("", text)
    return {hash(text[i:i + n]) for i in range(len(text) - n + 1)}


def _strings(value: Any, n: int) -> Iterator[str]:
    if isinstance(value, str):
        if len(value) >= n:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, n)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, n)


def _records(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        yield json.loads(text)
    except json.JSONDecodeError:
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)


def eval_files(paths: list[str | Path]) -> list[Path]:
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"data.contamination_paths: {path} not found")
    return files


def eval_ngrams(paths: list[str | Path], n: int) -> set[int]:
    """Hashes of every n-gram of every long-enough string in the evaluation files."""
    index: set[int] = set()
    for path in eval_files(paths):
        for record in _records(path):
            for text in _strings(record, n):
                index |= ngram_hashes(text, n)
    return index


def overlapping(examples: list, index: set[int], n: int) -> dict:
    """Which examples (with a `.text` and `.id`) share at least one n-gram with the index."""
    hits = [e for e in examples if ngram_hashes(e.text, n) & index] if index else []
    return {"checked": len(examples), "overlapping": len(hits), "ngram": n,
            "ids": sorted({e.id for e in hits})[:50]}
