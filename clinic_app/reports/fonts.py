"""Embedded TrueType fonts so every name (Nguyễn, Øyvind, Wójcik, Yılmaz) renders in PDFs.

The fonts (DejaVu Sans, see ``resources/fonts/LICENSE``) are looked up in this order:

1. the folder set with :func:`set_fonts_dir` (the frozen app calls this at start-up);
2. the ``CLINIC_APP_FONTS_DIR`` environment variable;
3. ``<sys._MEIPASS>/resources/fonts`` when running from a PyInstaller bundle;
4. ``resources/fonts`` at the repository root, beside the ``clinic_app`` package.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import clinic_app

FONTS_ENV = "CLINIC_APP_FONTS_DIR"
REGULAR = "BackstepSans"
BOLD = "BackstepSans-Bold"
_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}

_override: Path | None = None
_registered_from: Path | None = None
_lock = threading.Lock()


def set_fonts_dir(path: Path | str | None) -> None:
    """Use fonts from ``path`` (``None`` restores the default search)."""
    global _override
    _override = Path(path) if path is not None else None


def fonts_dir() -> Path:
    """The folder the report fonts are read from (see the module docstring for the order)."""
    if _override is not None:
        return _override
    env = os.environ.get(FONTS_ENV)
    if env:
        return Path(env)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources" / "fonts"
    return Path(clinic_app.__file__).resolve().parent.parent / "resources" / "fonts"


def register_fonts() -> tuple[str, str]:
    """Register the regular and bold report fonts with reportlab once; return their names.

    Raises ``FileNotFoundError`` naming the folder searched when a font file is missing
    (there is deliberately no fallback to a Latin-1-only built-in font).
    """
    global _registered_from
    folder = fonts_dir()
    with _lock:
        if _registered_from == folder:
            return REGULAR, BOLD
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        for name, file in _FILES.items():
            path = folder / file
            if not path.is_file():
                raise FileNotFoundError(
                    f"Report font {file} not found in {folder}; set {FONTS_ENV} to the folder "
                    "holding DejaVuSans.ttf and DejaVuSans-Bold.ttf."
                )
            pdfmetrics.registerFont(TTFont(name, str(path)))
        addMapping(REGULAR, 0, 0, REGULAR)
        addMapping(REGULAR, 1, 0, BOLD)
        addMapping(REGULAR, 0, 1, REGULAR)
        addMapping(REGULAR, 1, 1, BOLD)
        _registered_from = folder
    return REGULAR, BOLD
