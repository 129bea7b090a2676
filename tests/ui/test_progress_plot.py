"""Progress dashboard (issue 5): what is plotted equals what is stored, on a real SQLite file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from accounts import as_user
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.progress import format_date, weeks_since
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    TestResult,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService, EpisodeChart, PatientChart
from clinic_app.services.demo import seed_demo
from clinic_app.ui.plot_panel import band_text
from clinic_app.ui.progress_plot import (
    MIN_PLOT_WIDTH,
    NO_DATA_TEXT,
    NO_SURGERY_TIP,
    SESSIONS_ONLY_TEXT,
    ProgressPlot,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0


def _x_of(d: date) -> float:
    """Independent date -> x: seconds of 00:00 on ``d`` since 1970-01-01."""
    return (d - date(1970, 1, 1)).days * DAY


@pytest.fixture
def service(sqlite_db: Database) -> ChartingService:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=8)
    return ChartingService(sqlite_db, as_user(sqlite_db, "tester"))


def _chart_for(svc: ChartingService, diagnosis: Diagnosis) -> PatientChart:
    for p in svc.search_patients(""):
        chart = svc.chart(p.id)
        if chart.episodes and chart.episodes[0].episode.draft.diagnosis == diagnosis:
            return chart
    raise AssertionError(f"no demo patient with {diagnosis}")


@pytest.fixture
def plot(qtbot: QtBot) -> ProgressPlot:
    w = ProgressPlot()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def _show(plot: ProgressPlot, chart: PatientChart) -> EpisodeChart:
    ep = chart.episodes[0]
    plot.set_episode(ep, chart.patient)
    return ep


def _stored(ep: EpisodeChart, measure_id: str, side: Side | None = None) -> list[TestResult]:
    rows = [t for t in ep.tests if t.draft.measure_id == measure_id and t.draft.side == side
            and not t.stamp.entered_in_error]
    return sorted(rows, key=lambda t: t.draft.performed_on)


def test_plotted_values_equal_stored_values(plot: ProgressPlot, service: ChartingService) -> None:
    ep = _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    assert plot.objectName() == "progressPlot"
    assert plot.selected_measures() == ["bwt_3m", "knee_flexion_rom", "quad_lsi", "koos_pain"]

    stored = _stored(ep, "bwt_3m")
    assert len(stored) >= 3
    (x, y), = plot.plotted_series("bwt_3m").values()
    assert x.dtype == np.float64
    np.testing.assert_array_equal(y, [t.value for t in stored])
    np.testing.assert_array_equal(x, [_x_of(t.draft.performed_on) for t in stored])

    sides = plot.plotted_series("knee_flexion_rom")
    assert set(sides) == {Side.LEFT, Side.RIGHT}
    for side in (Side.LEFT, Side.RIGHT):
        stored_side = [t.value for t in _stored(ep, "knee_flexion_rom", side)]
        np.testing.assert_array_equal(sides[side][1], stored_side)
    affected = ep.episode.draft.affected_side
    panel = plot.panel("knee_flexion_rom")
    assert panel is not None
    labels = {s.key: s.label for s in panel.series}
    assert "(affected)" in labels[affected]
    assert "(unaffected)" in labels[Side.LEFT if affected == Side.RIGHT else Side.RIGHT]
    # Baseline marker sits on the affected side's first value.
    bx, by = panel.baseline_item.getData()
    assert by[0] == _stored(ep, "knee_flexion_rom", affected)[0].value


def test_entered_in_error_results_are_not_plotted(
    plot: ProgressPlot, service: ChartingService
) -> None:
    chart = _chart_for(service, Diagnosis.ACL_RECONSTRUCTION)
    ep = chart.episodes[0]
    victim = _stored(ep, "bwt_3m")[1]
    session = ep.sessions[2]
    service.mark_test_in_error(victim.id, victim.stamp.version, "wrong patient")
    service.mark_session_in_error(session.id, session.stamp.version, "duplicate entry")
    # Even when the chart is loaded with in-error rows, the plot leaves them out.
    chart = service.chart(chart.patient.id, include_in_error=True)
    ep = chart.episodes[0]
    assert any(t.id == victim.id and t.stamp.entered_in_error for t in ep.tests)
    plot.set_episode(ep, chart.patient)
    plot.select_measures(["bwt_3m", "session_speed"])

    (x, y), = plot.plotted_series("bwt_3m").values()
    expected = [t for t in _stored(ep, "bwt_3m") if t.id != victim.id]
    np.testing.assert_array_equal(y, [t.value for t in expected])
    assert _x_of(victim.draft.performed_on) not in x
    (_, speeds), = plot.plotted_series("session_speed").values()
    valid = [s for s in ep.sessions if not s.stamp.entered_in_error]
    assert len(speeds) == len(valid) == len(ep.sessions) - 1
    assert sorted(speeds) == sorted(s.draft.speed_m_s for s in valid)


def test_weeks_since_surgery_mode(plot: ProgressPlot, service: ChartingService) -> None:
    ep = _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    surgery = ep.episode.draft.surgery_date
    assert surgery is not None
    plot.set_x_mode("weeks")
    assert plot.x_mode() == "weeks"
    stored = _stored(ep, "quad_lsi")
    (x, y), = plot.plotted_series("quad_lsi").values()
    t = stored[2]
    days = (t.draft.performed_on - surgery).days
    assert x[2] == pytest.approx(days / 7.0, abs=1e-9)
    assert x[2] == pytest.approx(weeks_since(surgery, t.draft.performed_on), abs=1e-9)
    assert y[2] == t.value
    panel = plot.panel("quad_lsi")
    assert panel is not None and panel.surgery_line is not None
    assert panel.surgery_line.value() == 0.0
    plot.set_x_mode("date")
    assert plot.plotted_series("quad_lsi")[None][0][2] == _x_of(t.draft.performed_on)


def test_weeks_mode_refused_without_surgery_date(
    plot: ProgressPlot, service: ChartingService
) -> None:
    _show(plot, _chart_for(service, Diagnosis.KNEE_OSTEOARTHRITIS))
    weeks_btn = plot.findChild(object, "progressXWeeks")
    assert not weeks_btn.isEnabled()
    assert weeks_btn.toolTip() == NO_SURGERY_TIP
    with pytest.raises(ValueError, match="no surgery date"):
        plot.set_x_mode("weeks")
    assert plot.x_mode() == "date"  # no silent switch to weeks since episode start
    panel = plot.panel("bwt_3m")
    assert panel is not None and panel.surgery_line is None


def test_goal_cutoff_and_mcid_bands(plot: ProgressPlot, service: ChartingService) -> None:
    ep = _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    lsi = plot.panel("quad_lsi")
    bwt = plot.panel("bwt_3m")
    koos = plot.panel("koos_pain")
    assert lsi is not None and bwt is not None and koos is not None
    (goal, region, line), = lsi.band_items
    assert goal.kind == "goal" and line.value() == 90.0
    assert region.getRegion() == (90.0, MEASURES["quad_lsi"].max_value)
    assert region in lsi.plot.items and "90 %" in lsi.band_labels[0].toPlainText()
    (cut, region, line), (low, _low_region, low_line) = bwt.band_items
    assert cut.kind == "cutoff" and line.value() == 4.5
    assert "4.5 s" in bwt.band_labels[0].toPlainText()
    # the bound and its unit never break across lines when a label wraps
    assert band_text(MEASURES["bwt_3m"], cut).endswith(">\u00a04.5\u00a0s")
    assert "older adults" in bwt.band_labels[0].toPlainText()  # the population it came from
    assert region in bwt.plot.items
    assert low.kind == "normative" and low_line.value() == 3.0  # low-risk band, same source
    # MCID band: from the baseline up by 8 points (KOOS improves upwards).
    baseline = _stored(ep, "koos_pain")[0].value
    assert koos.mcid_item is not None
    lo, hi = koos.mcid_item.getRegion()
    assert lo == pytest.approx(baseline) and hi == pytest.approx(baseline + 8.0)
    assert bwt.mcid_item is None  # no published MCID for the 3MBWT: no band
    # The y range shows the goal line even though the data stay below it.
    ymin, ymax = lsi.plot.getViewBox().viewRange()[1]
    assert ymin < min(t.value for t in _stored(ep, "quad_lsi")) and ymax > 90.0


def test_export_png(plot: ProgressPlot, service: ChartingService, tmp_path: Path) -> None:
    _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    exported: list[Path] = []
    plot.exported.connect(exported.append)
    # The whole grid with its header and key, also what is scrolled out of sight.
    vp = plot.findChild(object, "progressPlotContent")
    out = plot.export_png(tmp_path / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(out))
    assert (image.width(), image.height()) == (vp.width(), vp.height())
    assert vp.width() > 800 and vp.height() > 600
    # Not blank: the plot lines put many non-white pixels on the image.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 20
    big = plot.export_png(tmp_path / "big", scale=2.0)
    assert big.suffix == ".png"
    assert QImage(str(big)).width() == 2 * vp.width()
    assert exported == [out, big]


def test_hover_readout_shows_exact_value(
    qtbot: QtBot, plot: ProgressPlot, service: ChartingService
) -> None:
    ep = _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    panel = plot.panel("knee_flexion_rom")
    assert panel is not None
    affected = ep.episode.draft.affected_side
    target = _stored(ep, "knee_flexion_rom", affected)[3]
    vb = panel.plot.getViewBox()
    scene_pos = vb.mapViewToScene(QPointF(_x_of(target.draft.performed_on), target.value))
    view = plot.findChild(object, "progressGraphics")
    qtbot.mouseMove(view.viewport(), view.mapFromScene(scene_pos))
    qtbot.waitUntil(lambda: "Knee flexion" in plot.readout_text(), timeout=3000)
    text = plot.readout_text()
    assert MEASURES["knee_flexion_rom"].format_value(target.value) in text
    assert format_date(target.draft.performed_on) in text
    assert affected.value.capitalize() in text and "(affected)" in text
    assert panel.highlight.isVisible()
    # Leaving the plots resets the read-out.
    plot._view.scene().sigMouseMoved.emit(QPointF(-500, -500))  # noqa: SLF001
    assert "Knee flexion" not in plot.readout_text()


def _bare_episode(svc: ChartingService, surgery: bool) -> EpisodeChart:
    today = date.today()
    patient = svc.register_patient(
        PatientDraft("T-0001", "Ngata", "Aroha", date(1990, 5, 4))
    )
    svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, today - timedelta(days=20),
        surgery_date=today - timedelta(days=30) if surgery else None,
    ))
    return svc.chart(patient.id).episodes[0]


def test_episode_without_tests_shows_clear_message(
    plot: ProgressPlot, sqlite_db: Database, tmp_path: Path
) -> None:
    svc = ChartingService(sqlite_db, as_user(sqlite_db, "tester"))
    ep = _bare_episode(svc, surgery=True)
    plot.set_episode(ep)
    assert plot.message_text() == NO_DATA_TEXT
    assert not plot.findChild(object, "progressGraphics").isVisible()
    assert plot.available_measures() == []
    assert plot.plotted_series("bwt_3m") == {}
    assert not plot.findChild(object, "progressExportButton").isEnabled()
    with pytest.raises(ValueError):
        plot.export_png(tmp_path / "none.png")

    # Sessions but no tests yet: session parameters are plotted, with a banner saying why.
    when = datetime.now(UTC) - timedelta(days=2)
    svc.record_session(ep.episode.id, WalkSessionDraft(
        when, duration_min=10.0, distance_m=300.0, speed_m_s=0.5, pain_before=4, pain_after=3))
    plot.set_episode(svc.chart(ep.episode.patient_id).episodes[0])
    assert plot.message_text() is None
    assert plot.findChild(object, "progressPlotBanner").text() == SESSIONS_ONLY_TEXT
    assert plot.selected_measures() == ["session_speed", "session_pain"]
    (_, speed), = plot.plotted_series("session_speed").values()
    assert list(speed) == [0.5]
    pain = plot.plotted_series("session_pain")
    assert list(pain["before"][1]) == [4.0] and list(pain["after"][1]) == [3.0]


def test_selection_and_set_chart(plot: ProgressPlot, service: ChartingService) -> None:
    chart = _chart_for(service, Diagnosis.ACL_RECONSTRUCTION)
    plot.set_chart(chart, chart.episodes[0].episode.id)
    plot.select_measures(["tug", "no_such_measure", "koos_qol"])
    assert plot.selected_measures() == ["tug", "koos_qol"]
    assert plot.panel("bwt_3m") is None and plot.plotted_series("bwt_3m") == {}
    assert set(plot.plotted_series("tug")) == {None}
    plot.select_measures([])
    assert plot.message_text() is not None
    plot.clear()
    assert plot.message_text() == "No episode selected."


def test_app_start_does_not_import_pyqtgraph() -> None:
    code = (
        "import sys\n"
        "import clinic_app.ui, clinic_app.ui.plot_data, clinic_app.ui.progress_tab\n"
        "assert 'pyqtgraph' not in sys.modules, 'pyqtgraph imported eagerly'\n"
        "import clinic_app.ui.progress_plot\n"
        "assert 'pyqtgraph' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_header_never_breaks_a_date_across_lines(
    plot: ProgressPlot, service: ChartingService
) -> None:
    """A narrow plot wraps its header; "surgery 27 / Aug 2026" split over two lines misreads."""
    from PySide6.QtWidgets import QLabel

    from clinic_app.domain.progress import format_date

    ep = _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    html = plot.findChild(QLabel, "progressPlotHeader").text()
    for d in (ep.episode.draft.surgery_date, ep.episode.draft.start_date):
        assert d is not None
        assert format_date(d) not in html  # plain spaces would let it break
        assert format_date(d).replace(" ", "&nbsp;") in html


def test_the_clinic_can_switch_off_the_3mbwt_bands(plot: ProgressPlot,
                                                   service: ChartingService) -> None:
    _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    bwt = plot.panel("bwt_3m")
    assert bwt is not None and len(bwt.band_items) == 2
    plot.set_bwt_fall_flag(False)
    bwt = plot.panel("bwt_3m")
    assert bwt is not None and bwt.band_items == [] and bwt.band_labels == []
    quad = plot.panel("quad_lsi")
    assert quad is not None and len(quad.band_items) == 1  # other measures keep theirs


def test_band_labels_stay_inside_a_narrow_plot(plot: ProgressPlot, service: ChartingService,
                                               qtbot: QtBot) -> None:
    """At the narrowest plot the grid allows, a band label longer than the plot is wide
    wraps inside it instead of being pushed over the axis and the data."""
    _show(plot, _chart_for(service, Diagnosis.ACL_RECONSTRUCTION))
    plot.select_measures(["bwt_3m", "knee_flexion", "quad_lsi", "koos_pain"])
    plot.resize(2 * MIN_PLOT_WIDTH + 60, 700)
    bwt = plot.panel("bwt_3m")
    assert bwt is not None and len(bwt.band_labels) == 2
    vb = bwt.plot.getViewBox()

    def inside() -> list[str]:
        box = vb.sceneBoundingRect()
        return [label.toPlainText() for label in bwt.band_labels
                if not box.contains(label.mapRectToScene(label.boundingRect()))]

    qtbot.waitUntil(lambda: vb.width() < 2 * MIN_PLOT_WIDTH)
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not inside(), timeout=1500)
    assert inside() == []
