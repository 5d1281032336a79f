"""The study report: report.md and report.html (plots embedded as base64 PNGs) in the study directory.

    write_report(cfg, results, failed)      # → <output_dir>/report.md (and report.html, plots/)

Sections: the recommendation (a paragraph naming the evidence: best configuration, its margin in
seed standard deviations, marginal effects, the aspect-ratio trend and the power law), the table
(one row per configuration, mean ± std over seeds), with `report.reference` the effects of each arm
against it and the papers' findings checked (`jaforge.explore.effects`, also effects.json), the
plots, and the failed runs.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any

from jaforge.explore.analysis import Analysis, Group, analyse
from jaforge.explore.base import load_base
from jaforge.explore.budget import pretrain_of, shape_at
from jaforge.explore.config import ExploreConfig
from jaforge.explore.effects import effects, effects_json, render
from jaforge.explore.plots import write_plots
from jaforge.io.atomic import write_json, write_text


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e4:
        return f"{x:.3g}".replace("e+0", "e").replace("e+", "e")
    return f"{x:.4g}"


def table_rows(analysis: Analysis) -> tuple[list[str], list[list[str]]]:
    """Header and cells: labels, seeds, params, tokens, FLOPs, metric mean ± std, per-dataset columns."""
    names = analysis.varied or list(dict.fromkeys(k for g in analysis.groups for k in g.labels))
    extras = sorted({k for g in analysis.groups for k in g.extra if "/" in k})
    if len({k.split(" ")[0] for k in extras}) < 2:  # one dataset: its column repeats the metric
        extras = []
    sized = any(g.shape["params"] for g in analysis.groups)  # sft studies train one fixed model
    shape_header = ["non-emb params", "params", "d_model/n_layer", "tokens", "train FLOPs"] if sized else []
    header = names + ["seeds", *shape_header, f"{analysis.metric} (mean ± std)"] + extras
    rows = []
    for g in analysis.ranked:
        rows.append([str(g.labels.get(n, "–")) for n in names] + [str(len(g.values))] +
                    (_shape_cells(g.shape) if sized else []) +
                    [f"{g.mean:.4f} ± {g.std:.4f}" if len(g.values) > 1 else f"{g.mean:.4f}"] +
                    [f"{g.extra[k]:.4f}" if k in g.extra else "–" for k in extras])
    return header, rows


def _shape_cells(s: dict[str, float]) -> list[str]:
    return [f"{s['non_embedding_params']:,.0f}", f"{s['params']:,.0f}",
            f"{s['d_model']:.0f}/{s['n_layer']:.0f}={s['aspect_ratio']:.1f}", _num(s["tokens"]),
            _num(s["train_flops"])]


def _describe(g: Group) -> str:
    return ", ".join(f"{k} = {v}" for k, v in g.labels.items()) or "the base config"


def _margin(best: Group, second: Group) -> str:
    gap = abs(second.mean - best.mean)
    spread = math.sqrt(best.std ** 2 / len(best.values) + second.std ** 2 / len(second.values))
    if spread == 0:
        return (f"ahead of the runner-up ({_describe(second)}, {second.mean:.4f}) by {gap:.4f}; "
                f"one seed each, so the margin's noise is unmeasured — add seeds before trusting it")
    verdict = "a clear margin" if gap > 2 * spread else "within seed noise — treat them as tied"
    return (f"ahead of the runner-up ({_describe(second)}, {second.mean:.4f}) by {gap:.4f}, "
            f"{gap / spread:.1f} standard errors: {verdict}")


def recommendation(analysis: Analysis, cfg: ExploreConfig) -> str:
    ranked = analysis.ranked
    best = ranked[0]
    parts = [f"{'Highest' if analysis.higher_is_better else 'Lowest'} {analysis.metric}: **{_describe(best)}** at {best.mean:.4f} ± {best.std:.4f} "
             f"over {len(best.values)} seed(s)"]
    parts[-1] += f", {_margin(best, ranked[1])}." if len(ranked) > 1 else "."
    for name, choices in analysis.marginals.items():
        if len(choices) > 1 and len(analysis.varied) > 1 and name != "budget.non_embedding_params":
            parts.append(f"Averaged over the other knobs, {name} = {choices[0][0]} is best "
                         f"({choices[0][1]:.4f}; worst {choices[-1][0]} at {choices[-1][1]:.4f}).")
    parts += _forgetting_text(best) + _aspect_text(analysis, cfg) + _power_law_text(analysis, cfg)
    return " ".join(parts)


def _forgetting_text(best: Group) -> list[str]:
    rises = {k.split(" ")[0]: v for k, v in best.extra.items() if k.endswith("forgetting") and "/" in k}
    if len(rises) < 2:  # forgetting is about the other datasets of a mixture
        return []
    text = ", ".join(f"{k} rose {v:.4f} above its best" for k, v in rises.items())
    return [f"Forgetting in the best configuration (final − best validation loss): {text}."]


def _aspect_text(analysis: Analysis, cfg: ExploreConfig) -> list[str]:
    a = analysis.aspect
    if a is None:
        return []
    optima = ", ".join(f"{o:.1f} at N≈{n:,.0f}" + (" (grid edge)" if edge else "")
                       for n, o, edge in zip(a["n"], a["optima"], a["at_edge"]))
    text = [f"Optimal d_model/n_layer per size: {optima}."]
    if any(a["at_edge"]):
        text.append("A best aspect ratio at the edge of the measured ones is a bound, not an optimum: "
                    "extend model.n_layer's range at those sizes (or train longer: short runs favour "
                    "shallow models) before trusting the trend.")
    if len(a["n"]) >= 2:
        band = f" (90% bootstrap band {a['band'][0]:.1f}–{a['band'][1]:.1f})" if a["band"] else ""
        trend = (f"The trend ∝ N^{a['slope']:.3f} extrapolates to {a['at_target']:.1f} at "
                 f"N = {a['target']:.3g}{band}")
        if 2 <= a["at_target"] <= 1000:
            trend += _shape_text(cfg, a["target"], a["at_target"])
        else:
            trend += ", outside any shape built in practice (published models sit between about " \
                     "20 and 300): the trend from these sizes is not usable at that scale."
        text.append(trend)
    return [" ".join(text)]


def _shape_text(cfg: ExploreConfig, target: float, aspect: float) -> str:
    try:
        model = pretrain_of(load_base(cfg)).model
    except Exception:  # the base may name data that is gone; the text is still useful without it
        return "."
    shape = shape_at(model, target, aspect)
    return (f"; at that size this reads as n_layer = {shape.n_layer}, d_model = {shape.d_model} "
            f"(head_dim 128). Extrapolating over orders of magnitude from CPU-sized models is a "
            f"hypothesis to check with a few mid-size runs, not a measurement.")


def _power_law_text(analysis: Analysis, cfg: ExploreConfig) -> list[str]:
    law = analysis.power_law
    if law is None:
        return []
    points = len(analysis.power_law_points)
    band = (f" (α 90% bootstrap band {analysis.alpha_band[0]:.3f}–{analysis.alpha_band[1]:.3f})"
            if analysis.alpha_band else " (3 points pin 3 parameters: no error estimate)"
            if points == 3 else "")
    return [f"Best loss per size follows L = {law.E:.3f} + {law.A:.3g}·N^-{law.alpha:.3f}{band}, "
            f"RMSE {law.rmse:.4f} over {points} sizes; it predicts "
            f"{float(law(cfg.report.extrapolate_to)):.3f} at N = {cfg.report.extrapolate_to:.3g}."]


def markdown(title: str, text: str, header: list[str], rows: list[list[str]], plots: dict[str, Path],
             failed: list[dict], results: list[dict]) -> str:
    lines = [f"# {title}", "", f"{len(results)} finished runs, {len(failed)} failed.", "",
             "## Recommendation", "", text, "", "## Results", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "## Plots", ""] + [f"![{name}](plots/{p.name})" for name, p in plots.items()]
    if failed:
        lines += ["", "## Failed runs", ""] + [f"- {f['run_id']}: {f['error']}" for f in failed]
    return "\n".join(lines) + "\n"


def html_page(title: str, text: str, header: list[str], rows: list[list[str]],
              plots: dict[str, Path], failed: list[dict], results: list[dict]) -> str:
    esc = html.escape
    body = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", esc(text))
    table = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>\n" + "\n".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    images = "\n".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode("ascii")}"><figcaption>{esc(name)}</figcaption></figure>'
        for name, p in plots.items())
    failures = "".join(f"<li>{esc(f['run_id'])}: {esc(f['error'])}</li>" for f in failed)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
            "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}"
            f"</style></head><body><h1>{esc(title)}</h1><p>{len(results)} finished runs, "
            f"{len(failed)} failed.</p><h2>Recommendation</h2><p>{body}</p><h2>Results</h2>"
            f"<table>{table}</table><h2>Plots</h2>{images}"
            + (f"<h2>Failed runs</h2><ul>{failures}</ul>" if failed else "") + "</body></html>\n")


def write_report(cfg: ExploreConfig, results: list[dict], failed: list[dict]) -> Path:
    out = Path(cfg.output_dir)
    analysis = analyse(results, cfg)
    plots = write_plots(analysis, results, out / "plots")
    title = cfg.report.title or f"Study {out.name}"
    text = recommendation(analysis, cfg)
    header, rows = table_rows(analysis)
    args: tuple[Any, ...] = (title, text, header, rows, plots, failed, results)
    table = effects(results, cfg.report)
    extra_md, extra_html = render(table, cfg.report) if table is not None else ("", "")
    if table is not None:
        write_json(out / "effects.json", effects_json(table))
    write_text(out / "report.md", markdown(*args) + extra_md)
    write_text(out / "report.html", html_page(*args).replace("</body>", extra_html + "</body>"))
    return out / "report.md"
