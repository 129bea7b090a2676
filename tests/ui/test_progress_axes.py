"""Progress plot axes read in the unit their label names; on-plot labels stay readable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side, WalkSessionDraft
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService, EpisodeChart
from clinic_app.services.demo import seed_demo
from clinic_app.ui.progress_plot import ProgressPlot

SPEEDS = (0.32, 0.38, 0.45, 0.5)


@pytest.fixture
def slow_walker(sqlite_db: Database) -> EpisodeChart:
    """An episode whose retro-walking speeds are all well below 1 m/s."""
    svc = ChartingService(sqlite_db, as_user(sqlite_db, "tester"))
    patient = svc.register_patient(PatientDraft("AX-001", "Okafor", "Ada", date(1958, 2, 1)))
    start = date.today() - timedelta(days=40)
    episode = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT, start))
    for i, speed in enumerate(SPEEDS):
        when = datetime.now(UTC) - timedelta(days=30 - 7 * i)
        svc.record_session(episode.id, WalkSessionDraft(
            when, duration_min=12.0, distance_m=round(speed * 720.0), speed_m_s=speed,
            pain_before=4, pain_after=3))
    return svc.chart(patient.id).episodes[0]


def _drawn_ticks(axis) -> list[str]:  # type: ignore[no-untyped-def]
    """The tick strings the axis paints for its current range (as pyqtgraph computes them)."""
    lo, hi = axis.range
    strings: list[str] = []
    for spacing, values in axis.tickValues(lo, hi, axis.geometry().height()):
        strings += axis.tickStrings(values, axis.autoSIPrefixScale * axis.scale, spacing)
    return strings


def test_speed_ticks_are_in_metres_per_second(qtbot: QtBot, slow_walker: EpisodeChart) -> None:
    plot = ProgressPlot()
    qtbot.addWidget(plot)
    plot.resize(1000, 700)
    plot.show()
    qtbot.waitExposed(plot)
    plot.set_episode(slow_walker)
    panel = plot.panel("session_speed")
    assert panel is not None
    left = panel.plot.getAxis("left")
    assert "(x" not in left.labelString()  # no "(x0.001)" factor next to "m/s"
    ticks = [float(t) for t in _drawn_ticks(left) if t]
    assert ticks, "no ticks drawn"
    lo, hi = left.range
    # A tick reading 300 for 0.3 m/s would lie far outside the axis range in m/s.
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks), (ticks, (lo, hi))
    assert any(min(SPEEDS) - 0.2 <= t <= max(SPEEDS) + 0.2 for t in ticks)


def test_no_axis_rescales_itself(qtbot: QtBot, slow_walker: EpisodeChart) -> None:
    plot = ProgressPlot()
    qtbot.addWidget(plot)
    plot.resize(1000, 700)
    plot.show()
    qtbot.waitExposed(plot)
    plot.set_episode(slow_walker)
    plot.select_measures(plot.available_measures())
    assert plot.selected_measures()
    for mid in plot.selected_measures():
        panel = plot.panel(mid)
        assert panel is not None
        for name in ("left", "bottom", "right", "top"):
            axis = panel.plot.getAxis(name)
            assert not axis.autoSIPrefix, (mid, name)
            assert axis.autoSIPrefixScale == 1.0, (mid, name)


def _label_rects(panel) -> list[tuple[str, QRectF]]:  # type: ignore[no-untyped-def]
    """Scene rectangles of the glyphs of a plot's on-plot labels."""
    labels = [panel.baseline_label, panel.mcid_label, *panel.band_labels]
    if panel.surgery_line is not None:
        labels.append(panel.surgery_line.label)
    out = []
    for label in labels:
        if label is None or not label.isVisible():
            continue
        item = label.textItem
        m = item.document().documentMargin()
        out.append((label.toPlainText(), item.mapRectToScene(
            item.boundingRect().adjusted(m, m, -m, -m))))
    return out


def test_labels_inside_plot_and_off_the_data(qtbot: QtBot, sqlite_db: Database) -> None:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=8)
    svc = ChartingService(sqlite_db, as_user(sqlite_db, "tester"))
    plot = ProgressPlot()
    qtbot.addWidget(plot)
    plot.resize(1000, 700)
    plot.show()
    qtbot.waitExposed(plot)
    checked = 0
    for patient in svc.search_patients(""):
        for ep in svc.chart(patient.id).episodes:
            plot.set_episode(ep, patient)
            measures = plot.available_measures()
            modes = ["date", "weeks"] if ep.episode.draft.surgery_date else ["date"]
            for mode in modes:
                plot.set_x_mode(mode)
                for start in range(0, len(measures), 4):
                    plot.select_measures(measures[start:start + 4])
                    QApplication.processEvents()
                    for mid in plot.selected_measures():
                        panel = plot.panel(mid)
                        assert panel is not None
                        vb = panel.plot.getViewBox()
                        area = vb.sceneBoundingRect()
                        points = [vb.mapViewToScene(QPointF(float(x), float(y)))
                                  for s in panel.series
                                  for x, y in zip(s.x(mode), s.y, strict=True)]
                        for text, rect in _label_rects(panel):
                            where = f"{patient.draft.mrn} {mid} {mode}: {text!r}"
                            # Whole label inside the data area (a cut-off label at the top
                            # of a plot was the complaint), and no data point under it.
                            assert area.contains(rect), (where, rect, area)
                            under = [p for p in points if rect.adjusted(1, 1, -1, -1)
                                     .contains(p)]
                            assert not under, (where, under)
                            checked += 1
    assert checked > 50
