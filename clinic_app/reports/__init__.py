"""PDF reports built with reportlab from domain dataclasses. No Qt here.

reportlab is imported only when a report is built, so importing this package (as the GUI and
CLI do at start-up) stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from clinic_app.domain.charts import ReportData

__all__ = ["build_progress_report"]


def build_progress_report(data: ReportData, out: Path | BinaryIO) -> int:
    """Write the rehabilitation progress report PDF for ``data`` to ``out``; returns pages.

    ``out`` is a file path or a writable binary stream. Fonts come from
    :func:`clinic_app.reports.fonts.fonts_dir`.
    """
    from clinic_app.reports.progress_report import build

    return build(data, Path(out) if isinstance(out, str) else out)
