"""The one place where pyqtgraph is configured and the progress-plot palette is defined.

Colours are the Okabe-Ito palette (Okabe M, Ito K. Color Universal Design, 2008), which stays
distinguishable with the common colour-vision deficiencies; series also differ by symbol so
colour is never the only cue. Background is white for printing and screenshots.
"""

from __future__ import annotations

import pyqtgraph as pg

BLACK = "#000000"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#6E6E6E"
TEXT = "#222222"

BIG_SERIES = 5_000
"""Above this many points a curve loses symbols and antialiasing (both cost per point)."""

SERIES_STYLE: dict[str, tuple[str, str]] = {
    # role -> (colour, symbol)
    "single": (BLUE, "o"),
    "affected": (VERMILLION, "t1"),  # triangle pointing up
    "unaffected": (BLUE, "o"),
    "other": (PURPLE, "s"),
    "before": (VERMILLION, "t1"),
    "after": (BLUE, "o"),
}

BAND_FILL: dict[str, tuple[str, int]] = {
    # band kind -> (colour, alpha 0-255)
    "goal": (GREEN, 38),
    "cutoff": (VERMILLION, 30),
    "normative": (GREY, 30),
}
MCID_FILL = (ORANGE, 60)

_configured = False


def configure_pyqtgraph() -> None:
    """Set global pyqtgraph options once: white background, dark text, no global antialias.

    Antialiasing is switched on per curve for small series only (see :data:`BIG_SERIES`);
    globally it stays off so large series and band fills draw fast.
    """
    global _configured
    if _configured:
        return
    pg.setConfigOptions(
        background="w",
        foreground=TEXT,
        antialias=False,
        useOpenGL=False,
        mouseRateLimit=60,
        segmentedLineMode="auto",
    )
    _configured = True


def color(hex_color: str, alpha: int = 255) -> pg.QtGui.QColor:
    """QColor of ``hex_color`` with ``alpha``."""
    c = pg.mkColor(hex_color)
    c.setAlpha(alpha)
    return c
