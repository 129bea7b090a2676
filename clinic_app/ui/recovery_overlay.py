"""The expected-recovery overlay on a progress plot: the clinic's usual curve for the
patient's diagnosis (median line and interquartile band), drawn behind the patient's data.

Each cohort week ``w`` (days ``7w`` to ``7w + 6`` after surgery or the episode's start) is
drawn at its middle, so the patient's results fall inside the week they belong to.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from clinic_app.domain.cohorts import MIN_COHORT_PATIENTS, CohortCurve
from clinic_app.domain.records import DIAGNOSIS_LABELS, Diagnosis

OVERLAY_PEN = (110, 110, 110)
OVERLAY_BRUSH = (150, 150, 150, 55)
SECONDS_PER_DAY = 86400.0


def overlay_x(curve: CohortCurve, mode: str, anchor_x: float | None) -> np.ndarray:
    """x of each cohort week: weeks since surgery (``mode == "weeks"``) or date-mode seconds
    from ``anchor_x``, the date-mode x of the surgery or episode start."""
    mid = np.array([w.week + 0.5 for w in curve.weeks], dtype=np.float64)
    if mode == "weeks":
        return mid
    if anchor_x is None:
        raise ValueError("a date-mode overlay needs the anchor day")
    return anchor_x + mid * 7 * SECONDS_PER_DAY


def draw_overlay(plot: pg.PlotItem, curve: CohortCurve, mode: str,
                 anchor_x: float | None) -> list[pg.GraphicsObject]:
    """Add the band and the median of ``curve`` to ``plot`` behind its data; returns the
    items added (nothing when the cohort is too small)."""
    if not curve.weeks or not curve.large_enough:
        return []
    x = overlay_x(curve, mode, anchor_x)
    q1 = np.array([w.q1 for w in curve.weeks])
    q3 = np.array([w.q3 for w in curve.weeks])
    med = np.array([w.median for w in curve.weeks])
    lower = pg.PlotDataItem(x, q1, pen=pg.mkPen(OVERLAY_PEN, width=0.5))
    upper = pg.PlotDataItem(x, q3, pen=pg.mkPen(OVERLAY_PEN, width=0.5))
    band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*OVERLAY_BRUSH))
    median = pg.PlotDataItem(x, med, pen=pg.mkPen(OVERLAY_PEN, width=2,
                                                  style=pg.QtCore.Qt.PenStyle.DashLine))
    items: list[pg.GraphicsObject] = [lower, upper, band, median]
    for item in items:
        item.setZValue(-5)  # behind the patient's points and lines
        plot.addItem(item, ignoreBounds=True)
    return items


def overlay_note(curve: CohortCurve | None) -> str:
    """What the overlay shows, or why it is not shown, in one sentence."""
    if curve is None:
        return ""
    try:
        diag = DIAGNOSIS_LABELS[Diagnosis(curve.filter.diagnosis)]
    except ValueError:
        diag = curve.filter.diagnosis or "all"
    if not curve.large_enough:
        return (f"Expected recovery hidden: {curve.patients} other {diag} patient(s) with "
                f"this measure; at least {MIN_COHORT_PATIENTS} are needed.")
    return (f"Grey: median (dashed) and middle half of {curve.patients} other {diag} "
            f"patients, by {curve.filter.basis.label}.")
