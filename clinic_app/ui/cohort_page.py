"""The "Cohorts" page: the clinic's own recovery curves (therapists and administrators).

Filters on the left; on the right the chosen measure's median per week with the
interquartile band (upper plot) and how many episodes were measured each week (lower
plot). The aggregation runs in the database through the clinic facade, off the GUI thread.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.cohorts import (
    AGE_BANDS,
    MIN_COHORT_PATIENTS,
    CohortCurve,
    CohortFilter,
    SurgeryFilter,
    WeekBasis,
)
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.records import DIAGNOSIS_LABELS, SURGERY_TYPE_LABELS, Sex, Side
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext

MEDIAN_COLOUR = "#1f5fa8"
BAND_COLOUR = (31, 95, 168, 60)
COUNT_COLOUR = "#7a8796"


def _combo(name: str, accessible: str, items: list[tuple[str, object]]) -> QComboBox:
    box = QComboBox(objectName=name)
    box.setAccessibleName(accessible)
    for text, data in items:
        box.addItem(text, data)
    return box


def parse_day(text: str, field: str) -> date | None:
    """A typed ``YYYY-MM-DD`` (empty: no limit); a bad one names the field and the format."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date",
                              "a date as YYYY-MM-DD, or empty for no limit") from None


class CohortPage(QWidget):
    """Filters, the median/IQR plot and the weekly counts (objectName ``cohortPage``)."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cohortPage")
        self.ctx = ctx
        self.curve: CohortCurve | None = None
        any_ = [("Any", None)]
        self.measure = _combo("cohortMeasure", "Measure", [
            (m.name, m.id) for m in MEASURES.values()])
        self.measure.setCurrentIndex(self.measure.findData("walk_6min"))
        self.basis = _combo("cohortBasis", "Weeks counted from", [
            ("Surgery", WeekBasis.SURGERY), ("Episode start", WeekBasis.EPISODE_START)])
        self.diagnosis = _combo("cohortDiagnosis", "Diagnosis", any_ + [
            (label, d.value) for d, label in DIAGNOSIS_LABELS.items()])
        # (whether operated / a group of operations, one operation)
        self.surgery = _combo("cohortSurgery", "Surgery type", [
            ("Any", (SurgeryFilter.ANY, None)),
            ("Operated (any type)", (SurgeryFilter.OPERATED, None)),
            ("Not operated", (SurgeryFilter.NOT_OPERATED, None)),
            ("ACL reconstruction (any graft)", (SurgeryFilter.ACL_RECONSTRUCTION, None)),
        ] + [(label, (SurgeryFilter.ANY, kind)) for kind, label in SURGERY_TYPE_LABELS.items()])
        self.side = _combo("cohortSide", "Affected side", any_ + [
            (s.value.capitalize(), s.value) for s in Side])
        self.age = _combo("cohortAge", "Age at episode start", any_ + [
            (b.label, b) for b in AGE_BANDS])
        self.sex = _combo("cohortSex", "Sex", any_ + [
            (s.value.capitalize(), s.value) for s in Sex])
        self.start_from = QLineEdit(objectName="cohortStartFrom")
        self.start_to = QLineEdit(objectName="cohortStartTo")
        for w, name in ((self.start_from, "Episode started from"),
                        (self.start_to, "Episode started until")):
            w.setPlaceholderText("YYYY-MM-DD")
            w.setAccessibleName(name)
            w.returnPressed.connect(self.refresh)
        self.therapist = QLineEdit(objectName="cohortTherapist")
        self.therapist.setPlaceholderText("user name, empty for all")
        self.therapist.setAccessibleName("Treating therapist")
        self.therapist.returnPressed.connect(self.refresh)
        self.show_button = QPushButton("Show curve", objectName="cohortShowButton")
        self.show_button.setDefault(True)
        self.show_button.clicked.connect(self.refresh)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, w in (("&Measure", self.measure), ("&Weeks since", self.basis),
                         ("&Diagnosis", self.diagnosis), ("Sur&gery", self.surgery),
                         ("Si&de", self.side), ("&Age", self.age), ("Se&x", self.sex),
                         ("Started &from", self.start_from), ("Started &until", self.start_to),
                         ("Treating t&herapist", self.therapist)):
            text = QLabel(label)
            text.setBuddy(w)
            form.addRow(text, w)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.show_button)
        note = QLabel(f"Median and interquartile range (middle half of the episodes) per "
                      f"week. Curves of fewer than {MIN_COHORT_PATIENTS} patients are "
                      "marked: a few patients do not make a usual curve.")
        note.setWordWrap(True)
        note.setStyleSheet("color:#555; font-size:9pt;")
        left.addWidget(note)
        left.addStretch(1)
        side = QWidget(objectName="cohortFilters")
        side.setLayout(left)
        side.setFixedWidth(300)

        self.summary = QLabel("Choose the filters and press Show curve.",
                              objectName="cohortSummary")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size:10.5pt; padding:2px 4px;")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("cohortPlot")
        self.graphics.setAccessibleName("Cohort recovery curve")
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.counts = self.graphics.addPlot(row=1, col=0)
        self.counts.setXLink(self.plot)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        for p in (self.plot, self.counts):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.showGrid(x=True, y=True, alpha=0.15)
            p.getViewBox().setMouseEnabled(x=True, y=False)
        self.counts.setLabel("left", "episodes")
        right = QVBoxLayout()
        right.addWidget(self.summary)
        right.addWidget(self.graphics, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(side)
        layout.addLayout(right, 1)

    # --- reading the filters ------------------------------------------------------------
    def current_filter(self) -> CohortFilter:
        """The filter as typed; raises :class:`ValidationError` naming a bad field."""
        surgery, kind = self.surgery.currentData()
        return CohortFilter(
            self.measure.currentData(), self.basis.currentData(),
            diagnosis=self.diagnosis.currentData(), surgery=surgery, surgery_type=kind,
            side=self.side.currentData(), age_band=self.age.currentData(),
            sex=self.sex.currentData(),
            started_from=parse_day(self.start_from.text(), "Episode started from"),
            started_to=parse_day(self.start_to.text(), "Episode started until"),
            therapist=self.therapist.text().strip() or None,
        )

    def refresh(self) -> None:
        """Ask the database for the curve (off the GUI thread) and draw it."""
        try:
            f = self.current_filter()
        except ValidationError as exc:
            self.summary.setText(str(exc))
            self.summary.setStyleSheet("color:#a00; font-size:10.5pt; padding:2px 4px;")
            return
        self.show_button.setEnabled(False)
        self.summary.setText("Computing…")

        def failed(_exc: BaseException) -> bool:
            self.show_button.setEnabled(True)
            self.summary.setText("The curve could not be computed.")
            return False  # the standard message says why

        ops.run_op(self, lambda: self.ctx.clinic.cohort_curve(f), self.show_curve, failed,
                   title="Cohort curve")

    # --- drawing ------------------------------------------------------------------------
    def show_curve(self, curve: CohortCurve) -> None:
        """Draw ``curve``: median line, IQR band, weekly counts, and a summary sentence."""
        self.show_button.setEnabled(True)
        self.curve = curve
        self.plot.clear()
        self.counts.clear()
        m = MEASURES[curve.filter.measure_id]
        unit = f" ({m.unit})" if m.unit else ""
        self.plot.setLabel("left", f"{m.short_name}{unit}")
        self.counts.setLabel("bottom", curve.filter.basis.label)
        self.summary.setStyleSheet("font-size:10.5pt; padding:2px 4px;")
        if not curve.weeks:
            self.summary.setText(f"No {m.name} results match these filters.")
            return
        # Week w holds days 7w to 7w + 6: plotted at w, as "week 3" is read on the axis.
        x = np.array([float(w.week) for w in curve.weeks])
        q1 = np.array([w.q1 for w in curve.weeks])
        med = np.array([w.median for w in curve.weeks])
        q3 = np.array([w.q3 for w in curve.weeks])
        # No line or band across weeks nobody was measured in: a line bridging them would
        # draw values no episode had (point i joins i + 1 only when they are a week apart).
        joined = np.append(np.diff(x) == 1.0, False).astype(np.int32)
        lower = self.plot.plot(x, q1, pen=pg.mkPen(BAND_COLOUR[:3], width=1), connect=joined)
        upper = self.plot.plot(x, q3, pen=pg.mkPen(BAND_COLOUR[:3], width=1), connect=joined)
        self.plot.addItem(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*BAND_COLOUR)))
        self.plot.plot(x, med, pen=pg.mkPen(MEDIAN_COLOUR, width=2.5), symbol="o",
                       symbolSize=5, symbolBrush=MEDIAN_COLOUR, symbolPen=None, connect=joined)
        counts = np.array([w.count for w in curve.weeks], dtype=float)
        self.counts.addItem(pg.BarGraphItem(x=x, height=counts, width=0.8,
                                            brush=COUNT_COLOUR, pen=None))
        self.counts.setYRange(0, max(counts.max(), 1.0) * 1.1, padding=0)
        self.plot.setXRange(-0.5, x.max() + 0.5, padding=0.02)
        better = "higher" if m.higher_is_better else "lower"
        text = (f"<b>{m.name}</b>, {curve.filter.basis.label}: {curve.patients} patient(s), "
                f"weeks {curve.weeks[0].week}-{curve.weeks[-1].week}. Line: median; band: "
                f"interquartile range; {better} is better.")
        if not curve.large_enough:
            text += (f" <span style='color:#a00'>Fewer than {MIN_COHORT_PATIENTS} patients: "
                     "not a usual curve.</span>")
        self.summary.setText(text)
