"""Screen readers: every input of the main window and of every dialog has a name.

Each dialog is opened the way a person opens it (shortcut, menu item or button) and every
input in it is asked for the name a screen reader would announce (see ``a11y_check``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from a11y_check import accessible_name, unnamed_inputs
from accounts import as_user
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, closed, dialog, typed, wait_ops

from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import login, messages, ops
from clinic_app.ui.conflict_dialog import ConflictDialog
from clinic_app.ui.main_window import MainWindow

# The real message dialogs, kept before the autouse fixture replaces them with recorders.
REAL_ASK_REASON = messages.ask_reason
REAL_ASK_PASSWORD = messages.ask_password
REAL_RESOLVE_CONFLICT = messages.resolve_conflict
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def demo_window(qtbot: QtBot, sqlite_db: Database) -> Iterator[MainWindow]:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=3)
    win = MainWindow(actor="tester", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester")))
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: win.model is not None and win.model.rowCount() == 3)
    yield win
    wait_ops(qtbot)
    win.close()
    ops.wait_all()


def _key(qtbot: QtBot, win: QWidget, key: Qt.Key, mods: Qt.KeyboardModifier) -> None:
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
    qtbot.keyClick(QApplication.focusWidget() or win, key, mods)


def _walk(qtbot: QtBot, parent: QWidget, name: str, found: dict[str, list[str]],
          then: Callable[[QDialog], None] | None = None) -> None:
    """Record the unnamed inputs of the dialog ``name`` once open, then close it."""
    dlg = dialog(parent, qtbot, name)
    wait_ops(qtbot)
    found[name] = unnamed_inputs(dlg)
    if then is not None:
        then(dlg)
    dlg.reject()
    closed(qtbot, dlg)


def test_every_input_of_every_screen_has_a_name(qtbot: QtBot, demo_window: MainWindow,
                                                sqlite_db: Database) -> None:
    win = demo_window
    found: dict[str, list[str]] = {"main window": unnamed_inputs(win)}
    # Named where the issue found them silent.
    assert accessible_name(win.search) and accessible_name(win.patient_list)

    # Enter in the search opens the first patient: the record, both tabs.
    win.search.setFocus()
    qtbot.keyClick(win.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.record.chart is not None, timeout=10_000)
    wait_ops(qtbot)
    found["record, sessions"] = unnamed_inputs(win)
    _key(qtbot, win, Qt.Key.Key_2, CTRL)
    qtbot.waitUntil(lambda: win.record.tabs.currentIndex() == 1)
    wait_ops(qtbot)
    found["record, progress"] = unnamed_inputs(win)
    assert accessible_name(win.record.session_table)
    _key(qtbot, win, Qt.Key.Key_1, CTRL)

    _key(qtbot, win, Qt.Key.Key_N, CTRL)
    _walk(qtbot, win, "patientDialog", found)
    _key(qtbot, win, Qt.Key.Key_E, CTRL | SHIFT)
    _walk(qtbot, win, "patientDialog", found)
    _key(qtbot, win, Qt.Key.Key_E, CTRL)
    _walk(qtbot, win, "episodeDialog", found)
    _key(qtbot, win, Qt.Key.Key_N, CTRL | SHIFT)
    _walk(qtbot, win, "sessionEditor", found)
    _key(qtbot, win, Qt.Key.Key_P, CTRL)
    _walk(qtbot, win, "reportDialog", found)
    qtbot.waitUntil(win.record.plan_button.isEnabled, timeout=10_000)
    win.record.plan_button.click()
    _walk(qtbot, win, "planOfCareDialog", found)

    def move(settings: QDialog) -> None:
        qtbot.mouseClick(settings.findChild(QWidget, "moveClinicButton"),
                         Qt.MouseButton.LeftButton)
        _walk(qtbot, settings, "moveDialog", found)

    win.settings_action.trigger()
    _walk(qtbot, win, "settingsDialog", found, move)
    win.import_action.trigger()
    _walk(qtbot, win, "importDialog", found)
    win.audit_action.trigger()
    _walk(qtbot, win, "auditDialog", found)

    def new_user(users: QDialog) -> None:
        def walk_new_user() -> None:
            box = QApplication.activeModalWidget()
            if box is None or box.objectName() != "newUserDialog":
                QTimer.singleShot(20, walk_new_user)
                return
            found["newUserDialog"] = unnamed_inputs(box)
            box.reject()

        QTimer.singleShot(0, walk_new_user)
        qtbot.mouseClick(users.findChild(QWidget, "addUserButton"), Qt.MouseButton.LeftButton)

    win.users_action.trigger()
    _walk(qtbot, win, "usersDialog", found, new_user)
    assert "newUserDialog" in found

    # Dialogs opened by the application itself rather than a menu.
    for name, make in (
        ("loginDialog", lambda: login.LoginDialog(win, Clinic(sqlite_db))),
        ("firstAdminDialog", lambda: login.FirstAdminDialog(win, Clinic(sqlite_db))),
        ("conflictDialog", lambda: ConflictDialog(win, "Patient", [("Phone", "1", "2")])),
    ):
        dlg = make()
        dlg.show()
        found[name] = unnamed_inputs(dlg)
        if name == "conflictDialog":
            assert accessible_name(dlg.findChild(QWidget, "conflictTable"))
        dlg.done(0)

    def walk_modal(name: str) -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, lambda: walk_modal(name))
            return
        found[name] = unnamed_inputs(box)
        box.reject()

    QTimer.singleShot(0, lambda: walk_modal("reason"))
    REAL_ASK_REASON(win, "Mark entered in error", "Reason:")
    QTimer.singleShot(0, lambda: walk_modal("password"))
    REAL_ASK_PASSWORD(win, "Reset password")

    assert {k: v for k, v in found.items() if v} == {}, {k: v for k, v in found.items() if v}
    assert len(found) >= 17, sorted(found)


def test_the_issue_s_silent_fields_are_announced_by_their_labels(
    qtbot: QtBot, demo_window: MainWindow
) -> None:
    """Session editor: each field is announced by its own label, not its group box."""
    win = demo_window
    win.search.setFocus()
    qtbot.keyClick(win.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.record.chart is not None, timeout=10_000)
    wait_ops(qtbot)
    _key(qtbot, win, Qt.Key.Key_N, CTRL | SHIFT)
    se = dialog(win, qtbot, "sessionEditor")
    names = {w.objectName(): accessible_name(w).rstrip(":") for w in se.findChildren(QWidget)}
    expected = {
        "durationEdit": "Duration", "distanceEdit": "Distance", "speedEdit": "Speed",
        "inclineEdit": "Incline", "painBeforeEdit": "Pain before", "painAfterEdit": "Pain after",
        "rpeEdit": "RPE", "heartRateEdit": "Heart rate", "testMeasureCombo": "Test",
        "testValueEdit": "Value",
    }
    assert {k: names[k] for k in expected} == expected
    soap = [w for w in se.findChildren(QWidget) if w.objectName().endswith("Edit")
            and w.objectName()[:-4] in se.soap]  # type: ignore[attr-defined]
    assert len(soap) == 4
    assert len({accessible_name(w) for w in soap}) == 4  # four different labels
    assert all(accessible_name(w) != "SOAP notes" for w in soap)
    se.reject()
    closed(qtbot, se)
    for date_field in ("reportFrom", "reportTo"):
        _key(qtbot, win, Qt.Key.Key_P, CTRL)
        rd = dialog(win, qtbot, "reportDialog")
        edit = rd.findChild(QLineEdit, date_field)
        assert edit is not None and accessible_name(edit).startswith("Period")
        rd.reject()
        closed(qtbot, rd)


def test_the_conflict_dialog_met_in_a_real_conflict_names_its_table(
    qtbot: QtBot, demo_window: MainWindow, sqlite_db: Database, fake_messages: FakeMessages
) -> None:
    """Edit a patient while another workstation saves the same patient, press Enter: the
    conflict dialog that opens names its inputs."""
    from clinic_app.services.charting import ChartingService

    win = demo_window
    win.search.setFocus()
    qtbot.keyClick(win.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.record.chart is not None, timeout=10_000)
    patient = win.record.chart.patient  # type: ignore[union-attr]
    _key(qtbot, win, Qt.Key.Key_E, CTRL | SHIFT)
    pd = dialog(win, qtbot, "patientDialog")
    typed(qtbot, pd, "phoneEdit", "0301 999")
    elsewhere = ChartingService(sqlite_db, as_user(sqlite_db, "bea"))
    elsewhere.update_patient(patient.id, patient.stamp.version,
                             replace(patient.draft, phone="0301 222"))
    seen: dict[str, list[str]] = {}

    def real_dialog(*args: object) -> str | None:
        def walk() -> None:
            box = QApplication.activeModalWidget()
            if box is None or box.objectName() != "conflictDialog":
                QTimer.singleShot(20, walk)
                return
            seen["conflictDialog"] = unnamed_inputs(box)
            box.reject()

        QTimer.singleShot(0, walk)
        return REAL_RESOLVE_CONFLICT(*args)  # type: ignore[arg-type]

    fake_messages.answers["resolve_conflict"] = real_dialog
    qtbot.keyClick(pd.findChild(QWidget, "phoneEdit"), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "conflictDialog" in seen, timeout=10_000)
    assert seen == {"conflictDialog": []}
    wait_ops(qtbot)
    pd.done(0)
    closed(qtbot, pd)
