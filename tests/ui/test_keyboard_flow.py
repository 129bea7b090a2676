"""The whole day's work by keyboard alone: register a patient, open an episode, chart a session
with a 3-metre backward walk test, and save the progress report, with no mouse at all."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from a11y_check import focus_problem
from pypdf import PdfReader
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import (
    FakeMessages,
    active_dialog,
    closed,
    press_enter,
    save_with_ctrl_enter,
    tab,
    type_here,
    use_real_sign_in,
    wait_ops,
)

from clinic_app.app import run_gui
from clinic_app.config import AppConfig
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo
from clinic_app.ui import messages
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor


def _keys(qtbot: QtBot, key: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
          ) -> None:
    w = QApplication.focusWidget() or QApplication.activeWindow()
    assert w is not None, "nothing has the keyboard focus"
    qtbot.keyClick(w, key, mods)


def _back_to(window: MainWindow, qtbot: QtBot) -> None:
    """A closed dialog hands the keyboard back to the main window (the window manager does
    this on a desktop; the offscreen test platform has none)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


CTRL = Qt.KeyboardModifier.ControlModifier
PASSWORD = "long enough password"


def test_register_chart_and_report_by_keyboard_alone(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    told: list[str] = []

    def file_written(_parent: Any, _title: str, text: str, open_file: bool = True) -> str:
        told.append(text)
        return ""

    monkeypatch.setattr(messages, "file_written", file_written)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)

    # Ctrl+N: a new patient, every field reached with Tab, saved with Ctrl+Enter.
    _keys(qtbot, Qt.Key.Key_N, CTRL)
    pd = active_dialog(window, qtbot, "patientDialog")
    type_here(qtbot, "KB-1")
    tab(qtbot)
    type_here(qtbot, "Keys")
    tab(qtbot)
    type_here(qtbot, "Kim")
    tab(qtbot)
    type_here(qtbot, "1988-03-14")
    _keys(qtbot, Qt.Key.Key_Return, CTRL)
    closed(qtbot, pd)
    wait_ops(qtbot)
    _back_to(window, qtbot)
    # The saved patient is shown and selected: the record is open without a click.
    qtbot.waitUntil(lambda: window.record.chart is not None
                    and window.record.chart.patient.draft.mrn == "KB-1", timeout=10_000)

    # Ctrl+E: the episode (ACL reconstruction, right knee, started 30 days ago).
    start = date.today() - timedelta(days=30)
    _keys(qtbot, Qt.Key.Key_E, CTRL)
    ed = active_dialog(window, qtbot, "episodeDialog")
    type_here(qtbot, "ACL")
    tab(qtbot)
    type_here(qtbot, "R")
    tab(qtbot)  # the start date, selected as Tab enters it
    type_here(qtbot, start.isoformat())
    _keys(qtbot, Qt.Key.Key_Return, CTRL)
    closed(qtbot, ed)
    wait_ops(qtbot)
    _back_to(window, qtbot)
    qtbot.waitUntil(window.record.new_session_button.isEnabled, timeout=10_000)

    # Ctrl+Shift+N: a session with a 3MBWT; Enter in the value adds the test, Ctrl+Enter saves.
    _keys(qtbot, Qt.Key.Key_N, CTRL | Qt.KeyboardModifier.ShiftModifier)
    se = active_dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    when = f"{date.today() - timedelta(days=1)} 09:30"
    _keys(qtbot, Qt.Key.Key_A, CTRL)
    type_here(qtbot, when)
    for text in ("O", "G", "20", "400", "1.2"):  # mode, surface, minutes, metres, km/h
        tab(qtbot)
        type_here(qtbot, text)
    for _ in range(30):  # on through the other fields to the test picker
        if tab(qtbot) is se.measure:
            break
    assert QApplication.focusWidget() is se.measure
    type_here(qtbot, "3MBWT")
    assert tab(qtbot) is se.value
    type_here(qtbot, "4.8")
    press_enter(qtbot)
    qtbot.waitUntil(lambda: len(se._pending) == 1, timeout=5_000)
    _keys(qtbot, Qt.Key.Key_Return, CTRL)
    closed(qtbot, se)
    wait_ops(qtbot)
    _back_to(window, qtbot)
    qtbot.waitUntil(window.record.export_button.isEnabled, timeout=10_000)

    # Ctrl+P: the report; Enter saves it (Save as… is the default), the name is typed.
    def type_file_name() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QFileDialog):
            QTimer.singleShot(20, type_file_name)
            return
        edit = box.findChild(QLineEdit, "fileNameEdit")
        _keys(qtbot, Qt.Key.Key_A, CTRL)
        qtbot.keyClicks(edit, "kim keys")
        qtbot.keyClick(edit, Qt.Key.Key_Return)

    _keys(qtbot, Qt.Key.Key_P, CTRL)
    rd = active_dialog(window, qtbot, "reportDialog")
    qtbot.waitUntil(rd.save_button.isEnabled, timeout=10_000)  # type: ignore[attr-defined]
    QTimer.singleShot(0, type_file_name)
    focused = QApplication.focusWidget()
    assert isinstance(focused, QWidget) and focused.window() is rd
    press_enter(qtbot)
    qtbot.waitUntil(lambda: bool(told), timeout=20_000)
    wait_ops(qtbot)

    out = home / "Documents" / "kim keys.pdf"
    assert str(out) in told[0]
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(out).pages)
    assert "Keys, Kim" in text or "Kim Keys" in text
    assert "4.8 s" in text
    chart = window.ctx.charting.chart(window.record.chart.patient.id)  # type: ignore[union-attr]
    (episode,) = chart.episodes
    (session,) = episode.sessions
    assert session.draft.duration_min == 20 and session.draft.distance_m == 400
    assert episode.episode.draft.start_date == start


# --- sign-in to a saved report, counting the keys ------------------------------------------
MAX_KEYS = 30  # the target: at most 30 key presses besides the characters typed into fields


class KeyCount:
    """Presses keys where the focus is and counts them; typed characters are counted apart.
    After every key the focused widget must be visible and not cut away."""

    def __init__(self, qtbot: QtBot) -> None:
        self.qtbot = qtbot
        self.keys: list[str] = []
        self.chars = 0
        self.unseen: list[str] = []

    def press(self, key: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
              why: str = "") -> None:
        w = QApplication.focusWidget() or QApplication.activeWindow()
        assert w is not None, f"nothing has the keyboard focus before {why}"
        self.keys.append(why or key.name)
        self.qtbot.keyClick(w, key, mods)
        self.check_focus(why or key.name)

    def type(self, text: str) -> None:
        w = QApplication.focusWidget()
        assert w is not None, f"nothing has the keyboard focus to type {text!r}"
        self.chars += len(text)
        self.qtbot.keyClicks(w, text)

    def check_focus(self, after: str) -> None:
        w = QApplication.focusWidget()
        if w is None:
            return  # between windows (a dialog closing): checked at the next key
        why = focus_problem(w)
        if why is not None:
            self.unseen.append(f"after {after}: {why}")


def test_sign_in_to_saved_report_by_keyboard_counts_its_keys(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_messages: FakeMessages,
) -> None:
    """Sign in, find the patient, chart a session with a 3MBWT, save it, save the report:
    the keys are counted (the characters typed into fields are not) and printed."""
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    db = Database.open(url)
    try:
        security.create_first_admin(db, "boss", "Clinic Boss", PASSWORD)
        boss = security.authenticate(db, "boss", PASSWORD)
        seed_demo(db, boss, patients=2)
        patient = ChartingService(db, boss).search_patients("")[0]
        with_episode = ChartingService(db, boss).chart(patient.id)
        assert with_episode.episodes
        before = sum(len(e.sessions) for e in with_episode.episodes)
    finally:
        db.close()
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    use_real_sign_in(monkeypatch)
    told: list[str] = []
    monkeypatch.setattr(messages, "file_written",
                        lambda _p, _t, text, open_file=True: told.append(text) or "")
    k = KeyCount(qtbot)
    failures: list[BaseException] = []
    done: list[MainWindow] = []

    def sign_in_dialog() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != "loginDialog" or not dlg.isVisible():
            QTimer.singleShot(20, sign_in_dialog)
            return
        try:
            qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
            k.check_focus("the sign-in dialog opened")
            k.type("boss")
            k.press(Qt.Key.Key_Tab, why="Tab to the password")
            k.type(PASSWORD)
            k.press(Qt.Key.Key_Return, why="Enter: sign in")
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            failures.append(exc)
            dlg.done(0)

    def work() -> None:
        wins = [w for w in QApplication.topLevelWidgets()
                if isinstance(w, MainWindow) and w.ctx is not None]
        if not wins:
            QTimer.singleShot(20, work)
            return
        win = wins[0]
        try:
            _day(win)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            failures.append(exc)
        done.append(win)
        wait_ops(qtbot)
        win.close()

    def _day(win: MainWindow) -> None:
        wait_ops(qtbot)
        _back_to(win, qtbot)
        qtbot.waitUntil(lambda: win.search.hasFocus(), timeout=5_000)
        k.type(patient.draft.mrn)
        k.press(Qt.Key.Key_Return, why="Enter: the first patient found")
        qtbot.waitUntil(lambda: win.record.chart is not None
                        and win.record.chart.patient.id == patient.id, timeout=10_000)
        assert win.patient_list.hasFocus()
        assert win.patient_list.selectionModel().selectedRows()  # the focus shows on a row
        assert win.patient_list.currentIndex().row() == 0
        k.check_focus("the patient opened")
        qtbot.waitUntil(win.record.new_session_button.isEnabled, timeout=10_000)

        k.press(Qt.Key.Key_N, CTRL | Qt.KeyboardModifier.ShiftModifier, "Ctrl+Shift+N")
        se = active_dialog(win, qtbot, "sessionEditor")
        assert isinstance(se, SessionEditor)
        k.check_focus("the session editor opened")
        k.press(Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier, "Alt+T: the test picker")
        assert QApplication.focusWidget() is se.measure
        k.type("3MBWT")
        k.press(Qt.Key.Key_Tab, why="Tab to the value")
        assert QApplication.focusWidget() is se.value
        k.type("4.8")
        k.press(Qt.Key.Key_Return, why="Enter: add the test")
        qtbot.waitUntil(lambda: len(se._pending) == 1, timeout=5_000)
        k.press(Qt.Key.Key_Return, CTRL, "Ctrl+Enter: save the session")
        closed(qtbot, se)
        _back_to(win, qtbot)
        qtbot.waitUntil(win.record.export_button.isEnabled, timeout=10_000)

        def type_file_name() -> None:
            box = QApplication.activeModalWidget()
            if not isinstance(box, QFileDialog):
                QTimer.singleShot(20, type_file_name)
                return
            # The system's file dialog opens with the file name focused; the offscreen
            # test platform has no window manager to hand it the keyboard.
            box.activateWindow()
            qtbot.waitUntil(box.isActiveWindow, timeout=5_000)
            edit = box.findChild(QLineEdit, "fileNameEdit")
            assert edit is not None
            edit.setFocus()
            qtbot.waitUntil(edit.hasFocus, timeout=5_000)
            k.check_focus("the file dialog opened")
            k.press(Qt.Key.Key_A, CTRL, "Ctrl+A in the file name")
            k.type("keyboard report")
            k.press(Qt.Key.Key_Return, why="Enter: save the file")

        k.press(Qt.Key.Key_P, CTRL, "Ctrl+P: report")
        rd = active_dialog(win, qtbot, "reportDialog")
        qtbot.waitUntil(rd.save_button.isEnabled, timeout=10_000)  # type: ignore[attr-defined]
        assert rd.save_button.isDefault()  # type: ignore[attr-defined]
        k.check_focus("the report dialog opened")
        QTimer.singleShot(0, type_file_name)
        k.press(Qt.Key.Key_Return, why="Enter: Save as…")
        qtbot.waitUntil(lambda: bool(told), timeout=20_000)

    QTimer.singleShot(0, sign_in_dialog)
    QTimer.singleShot(0, work)
    code = run_gui(AppConfig(db_url=url))
    if failures:
        raise failures[0]
    assert code == 0 and done
    print(f"\nkeyboard-only flow: {len(k.keys)} keys + {k.chars} characters typed: "
          + ", ".join(k.keys))
    assert len(k.keys) <= MAX_KEYS, k.keys
    assert k.unseen == []
    out = home / "Documents" / "keyboard report.pdf"
    assert out.is_file() and str(out) in told[0]
    assert "4.8 s" in " ".join((p.extract_text() or "") for p in PdfReader(out).pages)
    db = Database.open(url)
    try:
        chart = ChartingService(db, security.authenticate(db, "boss", PASSWORD)).chart(patient.id)
        assert sum(len(e.sessions) for e in chart.episodes) == before + 1
    finally:
        db.close()


def test_date_fields_are_left_with_one_tab(window: MainWindow, qtbot: QtBot,
                                           sqlite_db: Database) -> None:
    """The session's date/time and the report's period dates: one Tab moves on (the calendar
    button inside the field is not a Tab stop; F4 or Alt+Down opens it)."""
    from accounts import as_user

    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=1)
    assert window.ctx is not None
    window.ctx.signals.data_reset.emit()
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() == 1)
    _back_to(window, qtbot)
    window.search.setFocus()
    _keys(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None, timeout=10_000)
    _keys(qtbot, Qt.Key.Key_N, CTRL | Qt.KeyboardModifier.ShiftModifier)
    se = active_dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    assert QApplication.focusWidget() is se.when
    assert tab(qtbot) is se.mode
    se.reject()
    closed(qtbot, se)
    _back_to(window, qtbot)
    qtbot.waitUntil(window.record.export_button.isEnabled, timeout=10_000)
    _keys(qtbot, Qt.Key.Key_P, CTRL)
    rd = active_dialog(window, qtbot, "reportDialog")
    date_from = rd.findChild(QWidget, "reportFrom")
    date_to = rd.findChild(QWidget, "reportTo")
    date_from.setFocus()
    qtbot.waitUntil(date_from.hasFocus)
    assert tab(qtbot) is date_to
    assert tab(qtbot) is rd.findChild(QWidget, "reportTherapist")
    # Enter in a field saves: the action is the default button, not Cancel.
    qtbot.waitUntil(rd.save_button.isEnabled, timeout=10_000)  # type: ignore[attr-defined]
    assert rd.save_button.isDefault()  # type: ignore[attr-defined]
    rd.reject()
    closed(qtbot, rd)


def test_enter_presses_the_focused_button_not_the_default(
    window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    """Tab to a button and press Enter: that button acts (Qt alone pressed the dialog's
    default, Save, instead); Ctrl+Enter still saves from anywhere."""
    assert window.ctx is not None
    _back_to(window, qtbot)
    window.settings_action.trigger()
    dlg = active_dialog(window, qtbot, "settingsDialog")
    qtbot.waitUntil(dlg.save_button.isEnabled, timeout=10_000)  # type: ignore[attr-defined]
    name = dlg.findChild(QWidget, "clinicNameEdit")
    name.setFocus()
    qtbot.waitUntil(name.hasFocus)
    type_here(qtbot, "Backward Steps Clinic")
    choose = dlg.findChild(QWidget, "chooseLogoButton")
    for _ in range(10):
        if tab(qtbot) is choose:
            break
    assert QApplication.focusWidget() is choose
    press_enter(qtbot)
    qtbot.waitUntil(lambda: bool(fake_messages.called("choose_image")), timeout=5_000)
    assert dlg.isVisible()  # not saved and closed by the default button
    wait_ops(qtbot)
    assert window.ctx.clinic.clinic_info().name != "Backward Steps Clinic"
    save_with_ctrl_enter(qtbot)
    closed(qtbot, dlg)
    assert window.ctx.clinic.clinic_info().name == "Backward Steps Clinic"
