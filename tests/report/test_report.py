"""The run report: built from stage results only, Japanese in plots without tofu, and a page that
a real browser (headless Chromium) renders with its plots."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("matplotlib", reason="the plot extra is not installed")
pytest.importorskip("markdown_it", reason="the report extra is not installed")

from jaforge.plotting import japanese_font, pyplot, figure_png  # noqa: E402
from jaforge.report import build_report, write_report  # noqa: E402
from jaforge.stage_result import StageResult  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PLOT_BLUE = (0x1F, 0x77, 0xB4)  # matplotlib's first line colour


def stage_results(tmp_path: Path) -> dict[str, StageResult]:
    run = tmp_path / "pretrain"
    run.mkdir()
    rows = [{"step": s, "loss": 8.0 / (1 + s / 10), **({"val_loss": 8.2 / (1 + s / 10)} if s % 10 == 0 else {})}
            for s in range(1, 61)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    gens = tmp_path / "gen.jsonl"
    gens.write_text(json.dumps({"prompt": "日本の首都は", "output": "東京です。"}, ensure_ascii=False) + "\n")
    return {
        "corpus": StageResult("corpus", str(tmp_path / "corpus"), {}, {"docs_out": 812, "seconds": 3.5},
                              "| step | 文書 |\n|---|---|\n| read | 1000 |\n| quality | 812 |\n"),
        "pretrain": StageResult("pretrain", str(run), {"metrics": str(run / "metrics.jsonl")},
                                {"loss": 0.9, "tokens": 1_000_000}, "学習が終わりました。"),
        "samples": StageResult("generate", str(tmp_path), {"generations": str(gens)}, {"prompts": 1}, ""),
    }


def test_report_sections_come_from_the_results(tmp_path):
    report = build_report("demo", "r.yaml", stage_results(tmp_path), {"corpus": "skip"})
    assert [s.name for s in report.sections] == ["corpus", "pretrain", "samples"]
    assert report.overview[0]["status"] == "skip" and "docs_out 812" in report.overview[0]["headline"]
    assert len(report.sections[1].figures) == 1 and report.sections[2].generations[0]["output"] == "東京です。"
    md = report.markdown()
    assert "| quality | 812 |" in md and "| 日本の首都は | 東京です。 |" in md


def test_japanese_labels_render_without_missing_glyphs():
    if japanese_font() is None:
        pytest.skip("no font with Japanese glyphs is installed (apt install fonts-noto-cjk)")
    plt = pyplot()
    assert plt.rcParams["font.sans-serif"][0] == japanese_font()
    assert "Last Resort" not in japanese_font()  # a font of tofu boxes covers every character
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        fig, ax = plt.subplots()
        ax.set_title("検証損失と学習トークン数")
        ax.set_xlabel("ステップ")
        png = figure_png(fig)
    assert png[:4] == b"\x89PNG"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium)")
def test_report_renders_in_headless_chromium_with_its_plots(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    plan = SimpleNamespace(recipe=tmp_path / "demo.yaml", output_dir=tmp_path / "out",
                           stages=[SimpleNamespace(name="corpus", status="run")])
    paths = write_report(plan, stage_results(tmp_path))
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
           "--hide-scrollbars", paths["html"].resolve().as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), result.stderr[-2000:]
    pixels = (image.imread(shot)[..., :3] * 255).round().astype(int)
    assert pixels.std() > 10  # not a blank page
    blue = ((abs(pixels - PLOT_BLUE) <= 12).all(axis=-1)).sum()
    assert blue > 500, f"the loss curve is not on the page ({blue} plot-coloured pixels)"
