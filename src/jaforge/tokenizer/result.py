"""What a tokenizer stage returns: its numbers (read like a mapping) and a Markdown summary.

Not a dict on purpose: `jaforge`'s command line prints dict results as a lifecycle's per-stage
sections; it prints this one's `markdown()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator


class StageResult(Mapping):
    """Read-only results of one stage run, with the Markdown summary written beside them."""

    def __init__(self, data: dict[str, Any], markdown: str):
        self._data = data
        self._markdown = markdown

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def markdown(self) -> str:
        return self._markdown

    def __repr__(self) -> str:
        return f"StageResult({self._data!r})"
