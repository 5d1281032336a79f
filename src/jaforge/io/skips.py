"""Bad input that is skipped, never silently: each skip is counted by reason and logged with its place."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import IO, Callable, Optional

log = logging.getLogger("jaforge.corpus")

SHOWN_PER_REASON = 3  # messages printed per reason and task; every skip still goes to skipped.jsonl


class SkipLog:
    """Counts skipped input by reason and writes one JSON line per skip (file, line, reason, detail)."""

    def __init__(self, sink: IO[str] | None = None, redact: Optional[Callable[[str], str]] = None):
        self.counts: Counter[str] = Counter()
        self._sink = sink
        self._redact = redact  # PII masking of details (a URL, a field list) before they are kept

    def skip(self, place: str, reason: str, detail: str = "") -> None:
        if self._redact is not None and detail:
            detail = self._redact(detail)
        self.counts[reason] += 1
        if self.counts[reason] <= SHOWN_PER_REASON:
            log.warning("skipped %s: %s%s", place, reason, f" ({detail})" if detail else "")
        if self._sink is not None:
            record = {"place": place, "reason": reason, "detail": detail}
            self._sink.write(json.dumps(record, ensure_ascii=False) + "\n")


def place(path: str | Path, line: int) -> str:
    """The `file:line` that messages name."""
    return f"{path}:{line}"
