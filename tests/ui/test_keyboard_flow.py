"""The whole day's work by keyboard alone: register a patient, open an episode, chart a session
with a 3-metre backward walk test, and save the progress report, with no mouse at all."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import active_dialog, closed, press_enter, tab, type_here, wait_ops

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
