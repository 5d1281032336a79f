"""Matplotlib set up once for every jaforge figure: no display, and a font that has Japanese glyphs.

    plt = pyplot()                  # Agg backend, a CJK font first in the font list
    fig, ax = plt.subplots(); ax.set_title("検証損失"); png = figure_png(fig)

Matplotlib's default font (DejaVu Sans) has no Japanese glyphs, so Japanese labels come out as
boxes ("tofu") even when a CJK font is installed: matplotlib never picks one by itself. `pyplot()`
finds an installed font with Japanese glyphs — Noto Sans CJK / Noto Sans JP, IPAex / IPA Gothic,
Source Han Sans, Takao, VL Gothic, or else any font whose character map has kana and kanji — and
puts it first, with DejaVu Sans behind it for Latin text. Without one it warns once, with the
line that installs one (Debian/Ubuntu: `apt install fonts-noto-cjk`).
"""

from __future__ import annotations

import functools
import io
import logging
from typing import Any, Optional

from jaforge.extras import require

log = logging.getLogger(__name__)

PREFERRED = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "Source Han Sans JP",
             "Source Han Sans", "TakaoGothic", "TakaoPGothic", "VL Gothic", "Noto Serif CJK JP")
JAPANESE_PROBE = "あア日本語"
INSTALL_HINT = ("no installed font has Japanese glyphs, so Japanese text in figures will show as "
                "boxes; install one, e.g. `apt install fonts-noto-cjk` (Debian/Ubuntu) or "
                "`brew install --cask font-noto-sans-cjk-jp` (macOS)")


def _covers_japanese(path: str) -> bool:
    from matplotlib import ft2font

    try:
        charmap = ft2font.FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(c) in charmap for c in JAPANESE_PROBE + "Aa1")


def _register_new_system_fonts(font_manager: Any) -> None:
    """Add fonts installed after matplotlib cached its font list (it never rescans by itself)."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue


@functools.lru_cache(maxsize=1)
def japanese_font() -> Optional[str]:
    """The family name of an installed font with Japanese (and Latin) glyphs, or None."""
    require("matplotlib", "plot", "figures")
    from matplotlib import font_manager

    _register_new_system_fonts(font_manager)
    fonts = [f for f in font_manager.fontManager.ttflist if "Last Resort" not in f.name]
    by_name: dict[str, list[str]] = {}
    for font in fonts:
        by_name.setdefault(font.name, []).append(font.fname)
    for name in PREFERRED:
        if any(_covers_japanese(path) for path in by_name.get(name, [])):
            return name
    for font in sorted(fonts, key=lambda f: f.name):
        if _covers_japanese(font.fname):
            return font.name
    return None


@functools.lru_cache(maxsize=1)
def pyplot() -> Any:
    """`matplotlib.pyplot`, headless, with a Japanese font first in the sans-serif list."""
    matplotlib = require("matplotlib", "plot", "figures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = japanese_font()
    if font is None:
        log.warning(INSTALL_HINT)
    else:
        plt.rcParams["font.family"] = "sans-serif"
        plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
        plt.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    return plt


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()
