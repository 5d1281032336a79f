"""The document that flows through the corpus stage.

A corpus step takes an iterator of documents and yields documents. Features that several rules
need (lines, sentences, script counts, …) are computed once per text and cached on the document;
assigning a new `text` clears that cache.
"""

from __future__ import annotations

import json
from typing import Any, Callable, TypeVar

from jaforge.io.atomic import finite

T = TypeVar("T")

COLUMNS = ("id", "text", "source", "metadata")
"""The columns of every shard: all strings, `metadata` a JSON object as text, so that shards of
inputs with different fields still share one schema."""


class Document:
    """One document: an id, its text, metadata passed through to the output, and its origin."""

    __slots__ = ("id", "_text", "meta", "source", "_cache")

    def __init__(self, id: str, text: str, meta: dict[str, Any] | None = None, source: str = ""):
        self.id = id
        self._text = text
        self.meta = meta if meta is not None else {}
        self.source = source  # "path:line" of where it was read, for messages
        self._cache: dict[str, Any] = {}

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        if value != self._text:
            self._text = value
            self._cache.clear()

    def cached(self, key: str, compute: Callable[[str], T]) -> T:
        """`compute(text)`, computed once per text version and shared by every rule."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = compute(self._text)
            return value

    def to_record(self) -> dict[str, str]:
        """The shard record: the strings of `COLUMNS`."""
        return {"id": self.id, "text": self._text, "source": self.source,
                "metadata": metadata_json(self.meta)}

    def __repr__(self) -> str:
        preview = self._text[:30].replace("\n", " ")
        return f"Document(id={self.id!r}, text={preview!r}…, chars={len(self._text)})"


def metadata_json(meta: dict[str, Any]) -> str:
    """Metadata as one line of standard JSON (never NaN or Infinity; other types as strings)."""
    return json.dumps(finite(meta), ensure_ascii=False, allow_nan=False, default=str)
