"""Per-step statistics of a corpus run: documents and characters in/out, drops per reason.

Each task counts into its own `CorpusStats`; the run merges them into `stats.json` and a
Markdown summary table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepCount:
    docs_in: int = 0
    chars_in: int = 0
    docs_out: int = 0
    chars_out: int = 0
    drops: Counter = field(default_factory=Counter)

    def merge(self, other: "StepCount") -> None:
        self.docs_in += other.docs_in
        self.chars_in += other.chars_in
        self.docs_out += other.docs_out
        self.chars_out += other.chars_out
        self.drops.update(other.drops)


@dataclass
class CorpusStats:
    steps: dict[str, StepCount] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    pii_masked: Counter = field(default_factory=Counter)
    docs_read: int = 0
    chars_read: int = 0
    docs_written: int = 0
    chars_written: int = 0

    def step(self, name: str) -> StepCount:
        count = self.steps.get(name)
        if count is None:
            count = self.steps[name] = StepCount()
        return count

    def merge(self, other: "CorpusStats") -> None:
        for name, count in other.steps.items():
            self.step(name).merge(count)
        self.skipped.update(other.skipped)
        self.pii_masked.update(other.pii_masked)
        for name in _TOTALS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def drops(self) -> dict[str, int]:
        """Dropped documents per rule (step) name."""
        return {name: sum(c.drops.values()) for name, c in self.steps.items() if c.drops}

    def to_dict(self) -> dict[str, Any]:
        steps = {name: {**{k: getattr(c, k) for k in ("docs_in", "chars_in", "docs_out", "chars_out")},
                        "drops": dict(c.drops)} for name, c in self.steps.items()}
        return {**{name: getattr(self, name) for name in _TOTALS}, "steps": steps,
                "skipped": dict(self.skipped), "pii_masked": dict(self.pii_masked)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CorpusStats":
        stats = cls(skipped=Counter(data.get("skipped", {})),
                    pii_masked=Counter(data.get("pii_masked", {})),
                    **{name: data.get(name, 0) for name in _TOTALS})
        for name, c in data.get("steps", {}).items():
            stats.steps[name] = StepCount(c["docs_in"], c["chars_in"], c["docs_out"], c["chars_out"],
                                          Counter(c.get("drops", {})))
        return stats


_TOTALS = ("docs_read", "chars_read", "docs_written", "chars_written")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary_table(stats: CorpusStats) -> str:
    """A Markdown table: one row per step, then skipped input and PII masks."""
    lines = ["| step | docs in | docs out | dropped | chars in | chars out | drop reasons |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, c in stats.steps.items():
        dropped = c.docs_in - c.docs_out
        reasons = ", ".join(f"{r} {n}" for r, n in c.drops.most_common()) if c.drops else ""
        lines.append(f"| {name} | {c.docs_in:,} | {c.docs_out:,} | {dropped:,} "
                     f"({_pct(dropped, c.docs_in)}) | {c.chars_in:,} | {c.chars_out:,} | {reasons} |")
    if stats.skipped:
        lines += ["", "| skipped input | count |", "|---|---:|"]
        lines += [f"| {reason} | {n:,} |" for reason, n in stats.skipped.most_common()]
    if stats.pii_masked:
        lines += ["", "| PII masked | count |", "|---|---:|"]
        lines += [f"| {kind} | {n:,} |" for kind, n in stats.pii_masked.most_common()]
    return "\n".join(lines) + "\n"
