"""Session editor messages a clinician can act on: their unit, every problem, the precision
they typed shown back in the session table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLineEdit
from pytestqt.qtbot import QtBot
from ui_helpers import closed, dialog, typed, wait_ops

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor
from clinic_app.ui.session_model import COLUMNS, SessionTableModel


@pytest.fixture
def patient(window: MainWindow, qtbot: QtBot) -> tuple[MainWindow, object]:
    """A patient with one episode and no sessions, selected in the window."""
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("V-1", "Mensah", "Kofi", date(1975, 4, 9)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                             date.today() - timedelta(days=30)))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None)
    qtbot.waitUntil(window.record.new_session_button.isEnabled)
    return window, ep


def open_new(window: MainWindow, qtbot: QtBot) -> SessionEditor:
    qtbot.mouseClick(window.record.new_session_button, Qt.MouseButton.LeftButton)
    se = dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


def press_enter(qtbot: QtBot, se: SessionEditor) -> None:
    qtbot.keyClick(se.focusWidget() or se, Qt.Key.Key_Return)
    wait_ops(qtbot)


def stored(window: MainWindow, ep: object) -> list[WalkSession]:
    svc = window.ctx.charting  # type: ignore[union-attr]
    chart = svc.chart(ep.patient_id)  # type: ignore[attr-defined]
    return list(chart.episodes[0].sessions)


def test_speed_out_of_range_is_told_in_km_h(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    typed(qtbot, se, "speedEdit", "40")
    press_enter(qtbot, se)
    assert se.isVisible()
    assert se.error_label.text() == "Speed: 40 km/h is out of range (allowed: 0 to 10.8 km/h)"
    assert "11.1" not in se.error_label.text()
    assert se.focusWidget() is se.speed
    assert stored(window, ep) == []


def test_disagreeing_values_are_named_in_the_unit_chosen(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    typed(qtbot, se, "durationEdit", "10")
    typed(qtbot, se, "distanceEdit", "500")
    typed(qtbot, se, "speedEdit", "5")
    press_enter(qtbot, se)
    assert se.error_label.text() == (
        "Speed: Distance 500 m in 10 min implies 3.0 km/h, but speed is 5 km/h "
        "(allowed: 2.4 to 3.6 km/h for this distance and duration, within 20%)")
    # The person switches the unit with the keyboard: the speed is kept, the words follow.
    unit = se.findChild(QComboBox, "speedUnitCombo")
    unit.setFocus()
    qtbot.keyClick(unit, Qt.Key.Key_Down)
    assert unit.currentText() == "m/s" and se.speed.text() == "1.389"
    press_enter(qtbot, se)
    assert se.error_label.text().startswith(
        "Speed: Distance 500 m in 10 min implies 0.83 m/s, but speed is 1.389 m/s")
    assert "allowed: 0.67 to 1.00 m/s" in se.error_label.text()
    assert stored(window, ep) == []
    typed(qtbot, se, "speedEdit", "0.8")
    press_enter(qtbot, se)
    closed(qtbot, se)
    (s,) = stored(window, ep)
    assert s.draft.speed_m_s == 0.8


def test_every_problem_is_listed_and_the_first_field_focused(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    typed(qtbot, se, "heartRateEdit", "20")
    typed(qtbot, se, "painBeforeEdit", "12")
    typed(qtbot, se, "speedEdit", "40")
    typed(qtbot, se, "inclineEdit", "steep")
    press_enter(qtbot, se)
    lines = se.error_label.text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Speed", "Incline", "Pain before",
                                                      "Heart rate"]
    assert "'steep' is not a number" in lines[1]
    assert se.focusWidget() is se.speed
    for name in ("speedEdit", "inclineEdit", "painBeforeEdit", "heartRateEdit"):
        assert se.findChild(QLineEdit, name).styleSheet()  # outlined
    assert stored(window, ep) == []


def test_speed_keeps_the_precision_typed(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    typed(qtbot, se, "durationEdit", "12.5")
    typed(qtbot, se, "distanceEdit", "323")
    typed(qtbot, se, "speedEdit", "1.55")
    press_enter(qtbot, se)
    closed(qtbot, se)
    (s,) = stored(window, ep)
    assert s.draft.speed_m_s is not None and abs(s.draft.speed_m_s * 3.6 - 1.55) < 1e-12
    table = window.record.sessions
    qtbot.waitUntil(lambda: table.rowCount() == 1)
    shown = {COLUMNS[c][0].split("\n")[0] + COLUMNS[c][0].split("\n")[-1]:
             table.index(0, c).data() for c in range(len(COLUMNS))}
    assert shown["Speedkm/h"] == "1.55" and shown["Durationmin"] == "12.5"
    window.record.session_table.selectRow(0)
    qtbot.mouseClick(window.record.edit_session_button, Qt.MouseButton.LeftButton)
    again = dialog(window, qtbot, "sessionEditor")
    assert isinstance(again, SessionEditor)
    assert again.speed.text() == "1.55" and again.duration.text() == "12.5"
    qtbot.keyClick(again.speed, Qt.Key.Key_Escape)
    closed(qtbot, again)


def test_table_precision_survives_the_database(db: Database) -> None:
    """Stored through the service and read back (SQLite and PostgreSQL), then shown."""
    svc = ChartingService(db, as_user(db, "tester"))
    p = svc.register_patient(PatientDraft("V-2", "Ito", "Aiko", date(1990, 1, 2)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                             date.today() - timedelta(days=9)))
    when = datetime.now(UTC) - timedelta(days=1)
    svc.record_session(ep.id, WalkSessionDraft(when, duration_min=12.5, distance_m=323.0,
                                               speed_m_s=1.55 / 3.6, incline_pct=-2.25,
                                               rpe=4.5))
    (stored,) = svc.chart(p.id).episodes[0].sessions
    assert stored.draft.speed_m_s == 1.55 / 3.6  # every bit kept
    model = SessionTableModel()
    model.set_sessions([stored], [])
    row = {COLUMNS[c][0]: model.index(0, c).data() for c in range(len(COLUMNS))}
    assert row["Speed\nkm/h"] == "1.55" and row["Speed\nm/s"] == "0.431"
    assert (row["Duration\nmin"], row["Distance\nm"], row["Incline\n%"], row["RPE\nCR10"]) == (
        "12.5", "323", "-2.25", "4.5")


def test_a_session_typed_before_the_episode_is_refused(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    assert se.focusWidget() is se.when  # the editor opens on the date
    qtbot.keyClick(se.when, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(se.when, "1900-01-01 10:00")
    assert se.when.peek().year == 1900
    press_enter(qtbot, se)
    text = se.error_label.text()
    start = ep.draft.start_date.isoformat()  # type: ignore[attr-defined]
    assert text.startswith("Date/time: 1900-01-01 10:00")
    assert f"is before the episode start {start}" in text
    assert se.focusWidget() is se.when
    assert stored(window, ep) == []


def test_the_speed_unit_chosen_is_kept_for_the_next_session(
    patient: tuple[MainWindow, object], qtbot: QtBot
) -> None:
    window, ep = patient
    se = open_new(window, qtbot)
    unit = se.findChild(QComboBox, "speedUnitCombo")
    assert unit.currentText() == "km/h"
    unit.setFocus()
    qtbot.keyClick(unit, Qt.Key.Key_Down)
    typed(qtbot, se, "durationEdit", "10")
    typed(qtbot, se, "distanceEdit", "480")
    typed(qtbot, se, "speedEdit", "0.8")
    press_enter(qtbot, se)
    closed(qtbot, se)
    (s,) = stored(window, ep)
    assert s.draft.speed_m_s == 0.8
    qtbot.waitUntil(window.record.new_session_button.isEnabled)
    nxt = open_new(window, qtbot)
    assert nxt.findChild(QComboBox, "speedUnitCombo").currentText() == "m/s"
    assert nxt.speed.text() == "0.8"  # prefilled from the last session, in m/s
    qtbot.keyClick(nxt.speed, Qt.Key.Key_Escape)
    closed(qtbot, nxt)
