"""What each arm of an ablation does: every measure's difference from a reference arm, with its
error bar, and whether it agrees with a published finding.

    table = effects(results, cfg.report)      # EffectsTable: arms × measures, Δ ± s.e. per cell
    markdown, html = render(table, cfg.report)

A run's measures: the final validation columns (`val_loss/<d>`, `val_loss_per_char/<d>`), their
rise from step 0 (`vs_base/<column>`: against the base model of a continual run, which the pretrain
stage evaluates before its first step), the validation split's characters per token
(`chars_per_token/<d>`, the efficiency Swallow reports) and the eval tasks' scores
(`score/<task>`). An arm's effect is mean(arm) − mean(reference); its standard error comes from
the per-seed differences when both arms ran the same seeds (paired: the data order is shared),
else from the two seed spreads. A direction is called only beyond 2 standard errors; with two
seeds that is a weak test, and the report says how many seeds each number rests on.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from jaforge.explore.chars import chars_per_token
from jaforge.explore.config import Expectation, ReportConfig


def measures(result: dict) -> dict[str, float]:
    """The measures of one run (see the module doc)."""
    found = {k: v for k, v in result.get("final", {}).items() if v is not None}
    found.update({f"vs_base/{k}": result["final"][k] - v for k, v in result.get("start", {}).items()
                  if result.get("final", {}).get(k) is not None and v is not None})
    for name, path in result.get("datasets", {}).items():
        try:
            found[f"chars_per_token/{name}"] = chars_per_token(path)
        except (FileNotFoundError, ValueError):
            pass  # token data moved or empty: the measure is missing, not wrong
    found.update({f"score/{task}": score for task, score in result.get("scores", {}).items()})
    return found


@dataclass
class Cell:
    mean: float
    std: float
    n: int
    effect: Optional[float] = None
    stderr: Optional[float] = None

    @property
    def direction(self) -> str:
        """↑ / ↓ beyond 2 standard errors, else ≈; a * marks a difference without any spread over
        seeds (exact for deterministic measures such as chars/token, unmeasured noise otherwise)."""
        if self.effect is None or self.stderr is None:
            return ""
        no_spread = self.stderr <= 1e-9 * max(1.0, abs(self.effect))  # rounding of equal differences
        if abs(self.effect) > 2 * self.stderr and abs(self.effect) > 1e-12:
            return ("↑" if self.effect > 0 else "↓") + ("*" if no_spread else "")
        return "≈"


@dataclass
class EffectsTable:
    reference: str
    arms: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)


def arm_of(result: dict) -> str:
    labels = result.get("labels", {})
    return " / ".join(str(v) for v in labels.values()) if labels else "base"


def _difference(arm: dict[int, float], ref: dict[int, float]) -> tuple[float, float]:
    """(mean difference, its standard error): paired by seed when the seeds match."""
    if set(arm) == set(ref) and len(arm) > 1:
        diffs = [arm[s] - ref[s] for s in arm]
        return float(np.mean(diffs)), float(np.std(diffs, ddof=1) / math.sqrt(len(diffs)))
    a, r = list(arm.values()), list(ref.values())
    spread = sum(np.var(x, ddof=1) / len(x) if len(x) > 1 else 0.0 for x in (a, r))
    return float(np.mean(a) - np.mean(r)), float(math.sqrt(spread))


def effects(results: list[dict], report: ReportConfig) -> Optional[EffectsTable]:
    """Arms × measures with each arm's difference from `report.reference`; None without one."""
    if not report.reference:
        return None
    by_arm: dict[str, dict[str, dict[int, float]]] = {}
    for result in results:
        per_measure = by_arm.setdefault(arm_of(result), {})
        for name, value in measures(result).items():
            per_measure.setdefault(name, {})[result.get("seed", 0)] = value
    ref = next((a for a in by_arm if report.reference in a.split(" / ")), None)
    if ref is None:
        return None
    columns = report.measures or sorted({m for arm in by_arm.values() for m in arm})
    table = EffectsTable(ref, [ref] + [a for a in by_arm if a != ref], columns)
    for arm in table.arms:
        for column in columns:
            values = by_arm[arm].get(column)
            if not values:
                continue
            v = list(values.values())
            cell = Cell(float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v))
            if arm != ref and by_arm[ref].get(column):
                cell.effect, cell.stderr = _difference(values, by_arm[ref][column])
            table.cells[(arm, column)] = cell
    return table


def verdict(table: EffectsTable, expectation: Expectation) -> str:
    arm = next((a for a in table.arms if expectation.arm in a.split(" / ")), None)
    cell = table.cells.get((arm, expectation.measure)) if arm else None
    if cell is None or cell.effect is None:
        return "not measured"
    direction = cell.direction
    sign = direction.rstrip("*")
    said = {"higher": sign == "↑", "lower": sign == "↓",
            "not higher": sign in ("↓", "≈"), "not lower": sign in ("↑", "≈")}[expectation.direction]
    opposite = {"higher": sign == "↓", "lower": sign == "↑",
                "not higher": sign == "↑", "not lower": sign == "↓"}[expectation.direction]
    measured = f"{cell.effect:+.4f} ± {cell.stderr:.4f} ({direction}, {cell.n} seeds)"
    if said:
        return f"agrees: {measured}"
    return f"disagrees: {measured}" if opposite else f"inconclusive (within 2 s.e.): {measured}"


def _cell_text(cell: Optional[Cell], reference: bool) -> str:
    if cell is None:
        return "–"
    if reference or cell.effect is None:
        return f"{cell.mean:.4f} ± {cell.std:.4f}" if cell.n > 1 else f"{cell.mean:.4f}"
    return f"{cell.effect:+.4f} ± {cell.stderr:.4f} {cell.direction}"


def render(table: EffectsTable, report: ReportConfig) -> tuple[str, str]:
    """The effects section as Markdown and as HTML."""
    intro = (f"Each arm against **{table.reference}** (its row: mean ± std over seeds). Other rows: "
             f"the difference arm − {table.reference}, mean ± standard error over seeds; ↑/↓ when "
             f"beyond 2 s.e. (* where the seeds gave no spread at all), ≈ otherwise. vs_base/… is the "
             f"final value minus the step-0 value (the base model before continual pretraining); "
             f"losses are nats (per token, or per character); scores are accuracy or chrF.")
    rows = [[arm] + [_cell_text(table.cells.get((arm, c)), arm == table.reference) for c in table.columns]
            for arm in table.arms]
    checks = [(e, verdict(table, e)) for e in report.expectations]
    md = ["", f"## Effects against {table.reference}", "", intro, "",
          "| arm | " + " | ".join(table.columns) + " |", "|" + "---|" * (len(table.columns) + 1)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if checks:
        md += ["", "## Compared with the papers", ""]
        md += [f"- {e.source or 'expected'} — {e.arm}: {e.measure} {e.direction} than "
               f"{table.reference}: {v}" for e, v in checks]
    esc = html.escape
    body = "<tr><th>arm</th>" + "".join(f"<th>{esc(c)}</th>" for c in table.columns) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(x)}</td>" for x in r) + "</tr>" for r in rows)
    items = "".join(f"<li>{esc(e.source or 'expected')} — {esc(e.arm)}: {esc(e.measure)} {esc(e.direction)} "
                    f"than {esc(table.reference)}: {esc(v)}</li>" for e, v in checks)
    page = (f"<h2>Effects against {esc(table.reference)}</h2><p>{esc(intro).replace('**', '')}</p>"
            f"<table>{body}</table>" + (f"<h2>Compared with the papers</h2><ul>{items}</ul>" if items else ""))
    return "\n".join(md) + "\n", page


def effects_json(table: EffectsTable) -> list[dict]:
    """The table as records (effects.json next to the report)."""
    return [{"arm": arm, "measure": column, **json.loads(json.dumps(cell.__dict__))}
            for (arm, column), cell in table.cells.items()]
