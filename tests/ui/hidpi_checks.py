"""Layout checks run by ``test_hidpi.py`` in a child process at a display scale.

``QT_SCALE_FACTOR`` must be set before the ``QApplication`` exists, so these checks run in a
fresh interpreter with the offscreen platform and a screen of a given size in device pixels
(``QT_QPA_PLATFORM=offscreen:configfile=...``). Every window opened as a user opens it must
lie inside the screen's available area and pass :func:`layout_check.problems`. With
``HIDPI_SHOTS`` set, each screen is also saved there as a PNG to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import test_layout
from layout_check import problems
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QWidget
from pytestqt.qtbot import QtBot
from test_layout import _acl_row, _click_tab, _open_patient, _settled
from ui_helpers import closed, dialog

from clinic_app.ui.main_window import MainWindow

demo_window = test_layout.demo_window  # the layout tests' window with six demo patients


def _outside(w: QWidget) -> str | None:
    area = w.screen().availableGeometry()
    frame = w.frameGeometry()
    if area.contains(frame):
        return None
    return f"{w.objectName()} at {frame.getRect()} is not inside the screen {area.getRect()}"


def _shot(w: QWidget, name: str) -> None:
    folder = os.environ.get("HIDPI_SHOTS")
    if folder:
        scale = os.environ.get("QT_SCALE_FACTOR", "1")
        w.grab().save(str(Path(folder) / f"{name}-x{scale}.png"))


def test_every_window_fits_the_scaled_screen(qtbot: QtBot, demo_window: MainWindow) -> None:
    win = demo_window
    found: dict[str, list[str]] = {}
    why = _outside(win)
    found["main window"] = ([why] if why else []) + _settled(qtbot, win)
    _open_patient(qtbot, win, _acl_row(win))
    found["record"] = _settled(qtbot, win)
    _shot(win, "record")

    for button, name in ((win.record.new_session_button, "sessionEditor"),
                         (win.record.edit_patient_button, "patientDialog"),
                         (win.record.new_episode_button, "episodeDialog"),
                         (win.record.export_button, "reportDialog")):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        dlg: QDialog = dialog(win, qtbot, name)
        why = _outside(dlg)
        found[name] = ([why] if why else []) + _settled(qtbot, dlg)
        _shot(dlg, name)
        dlg.reject()
        closed(qtbot, dlg)

    _click_tab(qtbot, win, 1)
    qtbot.waitUntil(lambda: win.record.progress.plot is not None)
    plot = win.record.progress.plot
    qtbot.waitUntil(lambda: plot.message_text() is None)  # type: ignore[union-attr]
    found["progress"] = _settled(qtbot, win)
    _shot(win, "progress")
    assert {k: v for k, v in found.items() if v} == {}
    assert not problems(win)
