"""The report's content, from the stages' results: an overview and one section per stage."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaforge.plotting import figure_png, pyplot
from jaforge.stage_result import StageResult

CURVES = ("loss", "val_loss", "val_loss_per_char", "dpo_loss", "reward_margin")
HEADLINE_SKIP = {"seconds"}


@dataclass
class Section:
    name: str
    stage: str
    status: str
    summary: str
    figures: dict[str, bytes] = field(default_factory=dict)
    """Caption → PNG bytes."""
    generations: list[dict[str, str]] = field(default_factory=list)
    model_card: str = ""
    output_dir: str = ""


@dataclass
class Report:
    title: str
    recipe: str
    written: str
    overview: list[dict[str, Any]]
    sections: list[Section]

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", f"recipe `{self.recipe}`, written {self.written}", "",
                 "| stage | runs | status | seconds | headline |", "|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['stage']} | {r['status']} | {r['seconds']} | {r['headline']} |"
                  for r in self.overview]
        for s in self.sections:
            lines += ["", f"## {s.name} ({s.stage})", "", s.summary.strip()]
            lines += [f"\n![{caption}]({s.name}-{i}.png)" for i, caption in enumerate(s.figures)]
            if s.generations:
                lines += ["", generations_table(s.generations)]
            if s.model_card:
                lines += ["", "<details><summary>model card</summary>", "", s.model_card, "</details>"]
        return "\n".join(lines) + "\n"


def headline(metrics: dict[str, Any], limit: int = 4) -> str:
    shown = [(k, v) for k, v in metrics.items()
             if k not in HEADLINE_SKIP and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v:,}" for k, v in shown[:limit])


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def curves_figure(rows: list[dict], title: str) -> bytes | None:
    """Training curves against the step (each metric of CURVES the log has)."""
    present = [c for c in CURVES if any(isinstance(r.get(c), (int, float)) for r in rows)]
    if not present:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name in present:
        points = [(r["step"], r[name]) for r in rows if isinstance(r.get(name), (int, float))]
        ax.plot(*zip(*points), marker="o" if len(points) < 20 else None, markersize=3, label=name)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return figure_png(fig)


def generations_table(rows: list[dict[str, str]], limit: int = 8) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")[:300]
    lines = ["| prompt | output |", "|---|---|"]
    lines += [f"| {cell(r.get('prompt', ''))} | {cell(r.get('output', r.get('text', '')))} |"
              for r in rows[:limit]]
    return "\n".join(lines)


def section_of(name: str, result: StageResult, status: str) -> Section:
    section = Section(name, result.stage, status, result.markdown(), output_dir=result.output_dir)
    metrics_file = Path(result.outputs.get("metrics", ""))
    if metrics_file.is_file():
        png = curves_figure(read_jsonl(metrics_file), f"{name}: training curves")
        if png:
            section.figures[f"{name}: training curves"] = png
    generations = Path(result.outputs.get("generations", ""))
    if generations.is_file():
        section.generations = read_jsonl(generations)
    card = Path(result.outputs.get("model_card", ""))
    if card.is_file():
        section.model_card = card.read_text(encoding="utf-8")
    for path in result.outputs.get("figures", "").split(",") if result.outputs.get("figures") else []:
        if Path(path).is_file():
            section.figures[Path(path).stem] = Path(path).read_bytes()
    return section


def build_report(title: str, recipe: str, results: dict[str, StageResult],
                 statuses: dict[str, str]) -> Report:
    overview = [{"name": n, "stage": r.stage, "status": statuses.get(n, "run"),
                 "seconds": r.metrics.get("seconds", "–"), "headline": headline(r.metrics)}
                for n, r in results.items()]
    sections = [section_of(n, r, statuses.get(n, "run")) for n, r in results.items()]
    return Report(title, recipe, time.strftime("%Y-%m-%d %H:%M"), overview, sections)
