"""report.md and a self-contained report.html (inline CSS, plots as data: URIs, no scripts)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jaforge.extras import require
from jaforge.io.atomic import write_bytes, write_text
from jaforge.report.build import Report, build_report, generations_table

TEMPLATE = """<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{{ report.title }}</title>
<style>
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.5; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } img { max-width: 100%; border: 1px solid #eee; }
section { border-top: 2px solid #ddd; margin-top: 2em; } .status { color: #666; font-size: 0.9em; }
details { margin: 1em 0; } pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
</style></head><body>
<h1>{{ report.title }}</h1>
<p class="status">recipe <code>{{ report.recipe }}</code> · written {{ report.written }}</p>
<table><tr><th>stage</th><th>runs</th><th>status</th><th>seconds</th><th>headline</th></tr>
{% for r in report.overview %}<tr><td><a href="#{{ r.name }}">{{ r.name }}</a></td><td>{{ r.stage }}</td>
<td>{{ r.status }}</td><td>{{ r.seconds }}</td><td>{{ r.headline }}</td></tr>
{% endfor %}</table>
{% for s in report.sections %}<section id="{{ s.name }}"><h2>{{ s.name }} <span class="status">({{ s.stage }}, {{ s.status }})</span></h2>
{{ s.html | safe }}
{% for caption, uri in s.images %}<figure><img alt="{{ caption }}" src="{{ uri }}"><figcaption>{{ caption }}</figcaption></figure>
{% endfor %}{% if s.generations %}<h3>generations</h3>{{ s.generations | safe }}{% endif %}
{% if s.model_card %}<details><summary>model card</summary>{{ s.model_card | safe }}</details>{% endif %}
</section>
{% endfor %}</body></html>
"""


def markdown_html(text: str) -> str:
    markdown_it = require("markdown_it", "report", "the HTML report")
    return markdown_it.MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def html(report: Report) -> str:
    jinja2 = require("jinja2", "report", "the HTML report")
    sections = [{"name": s.name, "stage": s.stage, "status": s.status, "html": markdown_html(s.summary),
                 "images": [(c, "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
                            for c, png in s.figures.items()],
                 "generations": markdown_html(generations_table(s.generations)) if s.generations else "",
                 "model_card": markdown_html(s.model_card) if s.model_card else ""}
                for s in report.sections]
    env = jinja2.Environment(autoescape=True)
    view = {"title": report.title, "recipe": report.recipe, "written": report.written,
            "overview": report.overview}
    return env.from_string(TEMPLATE).render(report=_Obj(view, sections=[_Obj(s) for s in sections]))


class _Obj:
    def __init__(self, data: dict[str, Any], **extra: Any):
        self.__dict__.update(data, **extra)


def write_report(pipeline: Any, results: dict) -> dict[str, Path]:
    """report.md (+ its PNGs) and report.html in the pipeline's output directory."""
    statuses = {p.name: p.status for p in pipeline.stages}
    report = build_report(f"jaforge run: {Path(pipeline.recipe).stem}", str(pipeline.recipe),
                          results, statuses)
    out = Path(pipeline.output_dir)
    for section in report.sections:
        for i, png in enumerate(section.figures.values()):
            write_bytes(out / f"{section.name}-{i}.png", png)
    paths = {"md": write_text(out / "report.md", report.markdown()),
             "html": write_text(out / "report.html", html(report))}
    return paths
