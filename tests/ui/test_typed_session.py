"""The session editor driven from the keyboard: date/time typed in ISO and the locale's short
format, every walking and response field, SOAP notes, a 3MBWT and KOOS / LEFS answers typed
item by item; saved with Ctrl+Enter and read back through the service."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import (
    FakeMessages,
    active_dialog,
    choose,
    closed,
    focus_on,
    key_type,
    press_enter,
    save_with_ctrl_enter,
    system_locale,
    tab,
    tab_order,
    type_here,
    wait_ops,
)

from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    Surface,
    WalkMode,
)
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor, local_naive

WALK_ORDER = ["sessionDateTime", "modeCombo", "surfaceCombo", "durationEdit", "distanceEdit",
              "speedEdit", "speedUnitCombo", "inclineEdit", "assistanceCombo"]
RESPONSE_ORDER = ["painBeforeEdit", "painAfterEdit", "rpeEdit", "heartRateEdit",
                  "adverseEventsEdit"]
SOAP_ORDER = ["subjectiveEdit", "objectiveEdit", "assessmentEdit", "planEdit"]
PLAN_ORDER = ["pathClearCheck", "surfaceCheckedCheck", "spotterPresentCheck",
              "homeSessionCheck", "overrideReasonEdit"]
TESTS_ORDER = ["testMeasureCombo", "testValueEdit", "addTestButton"]


@pytest.fixture
def episode_shown(window: MainWindow, qtbot: QtBot) -> MainWindow:
    """A patient with one open episode (no sessions yet), shown in the record view."""
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("S-1", "Kowalski", "Jan", date(1958, 2, 11)))
    svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                        date.today() - timedelta(days=60)))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None, timeout=10_000)
    qtbot.waitUntil(window.record.new_session_button.isEnabled, timeout=10_000)
    return window


def open_new_session(window: MainWindow, qtbot: QtBot) -> SessionEditor:
    """Ctrl+Shift+N, the Record menu's shortcut."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, Qt.Key.Key_N, mods)
    se = active_dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


def stored_sessions(window: MainWindow) -> list:  # type: ignore[type-arg]
    svc = window.ctx.charting  # type: ignore[union-attr]
    return svc.chart(window.record.chart.patient.id).episodes[0].sessions  # type: ignore[union-attr]


def test_new_session_every_field_and_three_tests_typed(
    episode_shown: MainWindow, qtbot: QtBot
) -> None:
    window = episode_shown
    se = open_new_session(window, qtbot)
    when = datetime.combine(date.today() - timedelta(days=1), datetime.min.time()).replace(
        hour=9, minute=15)
    assert QApplication.focusWidget() is se.when and se.when.accessibleName() == "Date/time"
    qtbot.keyClick(se.when, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    type_here(qtbot, when.strftime("%Y-%m-%d %H:%M"))
    tab(qtbot)
    type_here(qtbot, "O")  # Overground
    tab(qtbot)
    type_here(qtbot, "G")  # Grass
    for text in ("20", "400", "1,2"):  # duration, distance, speed in km/h
        tab(qtbot)
        type_here(qtbot, text)
    assert se.speed_ms.text() == "= 0.33 m/s"
    assert tab(qtbot) is se.speed_unit  # the unit stays km/h
    tab(qtbot)
    type_here(qtbot, "2")  # incline
    tab(qtbot)
    type_here(qtbot, "Sup")  # Supervised
    for text in ("4", "2", "5.5", "96", "Mild calf cramp, settled",
                 "Knee feels steadier", "Walks 400 m backwards, no hand hold",
                 "Progressing as expected", "Add 2 % incline next visit"):
        tab(qtbot)
        type_here(qtbot, text)
    # The safety checklist: path clear and spotter present ticked with Space.
    assert tab(qtbot) is se.path_clear
    qtbot.keyClick(se.path_clear, Qt.Key.Key_Space)
    tab(qtbot)
    assert tab(qtbot) is se.spotter_present
    qtbot.keyClick(se.spotter_present, Qt.Key.Key_Space)
    tab(qtbot)
    tab(qtbot)

    # A 3-metre backward walk test: pick it by typing, Enter in the value adds it.
    assert tab(qtbot) is se.measure
    type_here(qtbot, "3MBWT")
    assert tab(qtbot) is se.value  # 3MBWT is not per side: Tab skips the side
    type_here(qtbot, "4.8")
    press_enter(qtbot)
    assert len(se.pending_tests()) == 1 and se.isVisible()
    assert QApplication.focusWidget() is se.measure

    # KOOS Pain, nine answers typed one after another (each moves on to the next item).
    choose(qtbot, se, "testMeasureCombo", "KOOS Pain")
    assert tab(qtbot) is se.item_edits[0]
    for answer in "210121012":
        type_here(qtbot, answer)
    assert "9/9 answered" in se.score_label.text() and "72.2" in se.score_label.text()
    press_enter(qtbot)
    assert len(se.pending_tests()) == 2

    # LEFS, all twenty items.
    choose(qtbot, se, "testMeasureCombo", "LEFS")
    tab(qtbot)
    for answer in "43210" * 4:
        type_here(qtbot, answer)
    assert "20/20 answered" in se.score_label.text()
    save_with_ctrl_enter(qtbot)  # the typed LEFS is added, then everything is saved
    closed(qtbot, se)

    (session,) = stored_sessions(window)
    d = session.draft
    assert local_naive(d.performed_at) == when
    assert (d.mode, d.surface, d.assistance) == (WalkMode.OVERGROUND, Surface.GRASS,
                                                 Assistance.SUPERVISED)
    assert (d.duration_min, d.distance_m, d.incline_pct) == (20, 400, 2)
    assert abs(d.speed_m_s - 1.2 / 3.6) < 1e-3  # type: ignore[operator]
    assert (d.pain_before, d.pain_after, d.rpe, d.heart_rate) == (4, 2, 5.5, 96)
    assert d.adverse_events == "Mild calf cramp, settled"
    assert (d.subjective, d.objective, d.assessment, d.plan) == (
        "Knee feels steadier", "Walks 400 m backwards, no hand hold",
        "Progressing as expected", "Add 2 % incline next visit")
    svc = window.ctx.charting  # type: ignore[union-attr]
    tests = {t.draft.measure_id: t for t in svc.session_tests(session.id)}
    assert set(tests) == {"bwt_3m", "koos_pain", "lefs"}
    assert tests["bwt_3m"].value == 4.8
    assert tests["koos_pain"].draft.items == (2, 1, 0, 1, 2, 1, 0, 1, 2)
    assert abs(tests["koos_pain"].value - (100 - 10 / 9 * 25)) < 1e-9
    assert tests["lefs"].draft.items == tuple(int(c) for c in "43210" * 4)
    assert tests["lefs"].value == 40
    assert all(t.draft.performed_on == when.date() for t in tests.values())


@pytest.mark.parametrize(
    ("locale", "fmt"),
    [("en_GB", "%d/%m/%Y %H:%M"), ("de_DE", "%d.%m.%y %H:%M"), ("de_DE", "%d.%m.%Y %H:%M"),
     ("en_GB", "%Y-%m-%dT%H:%M")],
)
def test_date_time_typed_in_the_locale_short_format(
    episode_shown: MainWindow, qtbot: QtBot, locale: str, fmt: str
) -> None:
    window = episode_shown
    when = datetime.combine(date.today() - timedelta(days=2), datetime.min.time()).replace(
        hour=16, minute=5)
    with system_locale(locale):
        se = open_new_session(window, qtbot)
        key_type(qtbot, se, "sessionDateTime", when.strftime(fmt))
        tab(qtbot)
        assert se.when.text() == when.strftime("%Y-%m-%d %H:%M")  # understood, shown as ISO
        key_type(qtbot, se, "painBeforeEdit", "3")
        press_enter(qtbot)
        closed(qtbot, se)
    (session,) = stored_sessions(window)
    assert local_naive(session.draft.performed_at) == when
    assert session.draft.pain_before == 3


@pytest.mark.parametrize(
    ("typed", "message"),
    [("2026-02-30 10:00", "Date/time: '2026-02-30 10:00' is not a date and time"),
     ("30/11/2026", "Date/time: '30/11/2026' has no time of day"),
     ("", "Date/time: is required"),
     ("3099-01-01 10:00", "Date/time: 3099-01-01 10:00 is more than a day in the future")],
)
def test_bad_date_time_names_the_field_and_stores_nothing(
    episode_shown: MainWindow, qtbot: QtBot, fake_messages: FakeMessages, typed: str,
    message: str,
) -> None:
    window = episode_shown
    with system_locale("en_GB"):
        se = open_new_session(window, qtbot)
        key_type(qtbot, se, "sessionDateTime", typed)
        key_type(qtbot, se, "painBeforeEdit", "3")
        press_enter(qtbot)
        wait_ops(qtbot)
        assert se.isVisible() and se.error_label.isVisible()
        assert se.error_label.text().startswith(message), se.error_label.text()
        assert "allowed:" in se.error_label.text()
        assert QApplication.focusWidget() is se.when
        assert list(stored_sessions(window)) == []
        fake_messages.answers["ask_discard"] = [True]
        qtbot.keyClick(se.when, Qt.Key.Key_Escape)
        closed(qtbot, se)
    assert list(stored_sessions(window)) == []


def test_calendar_keeps_the_typed_time(episode_shown: MainWindow, qtbot: QtBot) -> None:
    se = open_new_session(episode_shown, qtbot)
    key_type(qtbot, se, "sessionDateTime", f"{date.today():%Y-%m-%d} 07:40")
    qtbot.keyClick(se.when, Qt.Key.Key_F4)
    cal = se.when.calendar_popup().calendar
    qtbot.waitUntil(cal.isVisible, timeout=5_000)
    assert (cal.yearShown(), cal.monthShown()) == (date.today().year, date.today().month)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Left)  # the day before
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not cal.isVisible(), timeout=5_000)
    assert se.when.text() == f"{date.today() - timedelta(days=1):%Y-%m-%d} 07:40"


def test_tab_order_follows_the_layout(episode_shown: MainWindow, qtbot: QtBot) -> None:
    se = open_new_session(episode_shown, qtbot)
    first = focus_on(qtbot, se, "sessionDateTime")
    order = tab_order(qtbot, first, se.save_button)
    assert order == [*WALK_ORDER, *RESPONSE_ORDER, *SOAP_ORDER, *PLAN_ORDER, *TESTS_ORDER,
                     "saveButton"]

    def pos(name: str) -> tuple[int, int]:
        w = se.findChild(QWidget, name)
        assert w is not None, name
        p = w.mapTo(se, w.rect().topLeft())
        return p.x(), p.y()

    # Down the left column, down the right one, then the notes left to right, then tests.
    for column in (WALK_ORDER, RESPONSE_ORDER):
        ys = [pos(n)[1] for n in column]
        assert ys == sorted(ys), column
    assert pos(RESPONSE_ORDER[0])[0] > pos(WALK_ORDER[0])[0]
    xs = [pos(n)[0] for n in SOAP_ORDER]
    assert xs == sorted(xs)
    assert pos(SOAP_ORDER[0])[1] > max(pos(n)[1] for n in WALK_ORDER + RESPONSE_ORDER)
    assert pos(TESTS_ORDER[0])[1] > pos(SOAP_ORDER[0])[1]


def test_edit_session_retypes_the_date_time(episode_shown: MainWindow, qtbot: QtBot) -> None:
    window = episode_shown
    se = open_new_session(window, qtbot)
    first = datetime.combine(date.today() - timedelta(days=5), time(8, 0))
    key_type(qtbot, se, "sessionDateTime", first.strftime("%Y-%m-%d %H:%M"))
    key_type(qtbot, se, "painBeforeEdit", "5")
    press_enter(qtbot)
    closed(qtbot, se)
    qtbot.waitUntil(lambda: window.record.sessions.rowCount() == 1, timeout=10_000)

    moved = datetime.combine(date.today() - timedelta(days=4), time(17, 45))
    table = window.record.session_table
    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key.Key_Return)  # Enter on a session opens it for editing
    se = active_dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    assert se.when.text() == first.strftime("%Y-%m-%d %H:%M")
    with system_locale("de_DE"):
        key_type(qtbot, se, "sessionDateTime", moved.strftime("%d.%m.%y %H:%M"))
        press_enter(qtbot)
        closed(qtbot, se)
    (session,) = stored_sessions(window)
    assert local_naive(session.draft.performed_at) == moved
    assert session.draft.pain_before == 5 and session.stamp.version == 2
