"""The small dialogs, used as a person uses them: opened from the app, typed into, saved
with the keyboard; each test then reads what was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from accounts import as_user
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, closed, dialog, typed, use_real_sign_in, wait_ops

from clinic_app.app import run_gui
from clinic_app.config import AppConfig
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services import interop, security
from clinic_app.services.charting import ChartingService
from clinic_app.services.clinic import get_clinic
from clinic_app.services.demo import seed_demo
from clinic_app.ui import local_settings
from clinic_app.ui.main_window import MainWindow

PW = "long enough password"


def modal(qtbot: QtBot, name: str) -> QDialog:
    """The application-modal dialog called ``name`` once it is on screen."""
    found: list[QDialog] = []

    def shown() -> bool:
        w = QApplication.activeModalWidget()
        if isinstance(w, QDialog) and w.objectName() == name and w.isVisible():
            found[:] = [w]
        return bool(found)

    qtbot.waitUntil(shown, timeout=10_000)
    return found[0]


def field(dlg: QWidget, name: str) -> QWidget:
    w = dlg.findChild(QWidget, name)
    assert w is not None, name
    return w


def when_shown(qtbot: QtBot, name: str, act: Callable[[QDialog], None]) -> list[BaseException]:
    """Act on the modal dialog ``name`` once an ``exec()`` about to start has shown it.

    A failure inside ``act`` closes the dialog (so the test cannot hang in its ``exec``)
    and is kept in the returned list for the test to raise.
    """
    failures: list[BaseException] = []

    def step() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, QDialog) and w.objectName() == name and w.isVisible():
            try:
                act(w)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the test
                failures.append(exc)
                w.reject()
        else:
            QTimer.singleShot(20, step)

    QTimer.singleShot(0, step)
    return failures


def run_app_signing_in(qtbot: QtBot, url: str, fill: Callable[[QDialog], None],
                       name: str, fake_messages: FakeMessages,
                       monkeypatch: pytest.MonkeyPatch) -> MainWindow:
    """Start the app as ``clinic-app`` does; ``fill`` types into the first dialog."""
    use_real_sign_in(monkeypatch)
    fake_messages.answers["ask"] = [False]  # decline the demo data on an empty database
    windows: list[MainWindow] = []

    def when_signed_in() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if wins and wins[0].ctx is not None and fake_messages.called("ask"):
            windows.append(wins[0])
            wait_ops(qtbot)
            wins[0].close()
        else:
            QTimer.singleShot(20, when_signed_in)

    failures = when_shown(qtbot, name, fill)
    QTimer.singleShot(0, when_signed_in)
    code = run_gui(AppConfig(db_url=url))
    if failures:
        raise failures[0]
    assert code == 0
    assert windows, "the main window was never signed in"
    return windows[0]


def test_first_run_administrator_is_typed_in(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"

    def fill(dlg: QDialog) -> None:
        typed(qtbot, dlg, "adminUsername", "Boss")
        typed(qtbot, dlg, "adminFullName", "Clinic Boss")
        typed(qtbot, dlg, "adminPassword", PW)
        typed(qtbot, dlg, "adminRepeat", PW + "x")
        qtbot.keyClick(field(dlg, "adminRepeat"), Qt.Key.Key_Return)
        error = field(dlg, "signInError")
        assert error.isVisible() and "does not match" in error.text()  # type: ignore[attr-defined]
        typed(qtbot, dlg, "adminRepeat", PW)
        qtbot.keyClick(field(dlg, "adminRepeat"), Qt.Key.Key_Return)

    win = run_app_signing_in(qtbot, url, fill, "firstAdminDialog", fake_messages, monkeypatch)
    assert win.ctx is not None and win.ctx.principal.username == "boss"
    db = Database.open(url)
    try:
        (user,) = security.list_users(db, win.ctx.principal)
        assert (user.username, user.full_name, user.role) == ("boss", "Clinic Boss", Role.ADMIN)
        assert security.authenticate(db, "boss", PW).role == Role.ADMIN
    finally:
        db.close()


def test_sign_in_is_typed_and_a_wrong_password_is_counted(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    db = Database.open(url)
    security.create_first_admin(db, "boss", "Clinic Boss", PW)
    db.close()

    def fill(dlg: QDialog) -> None:
        typed(qtbot, dlg, "loginUsername", "boss")
        qtbot.keyClick(field(dlg, "loginUsername"), Qt.Key.Key_Tab)
        password = field(dlg, "loginPassword")
        assert dlg.focusWidget() is password
        qtbot.keyClicks(password, "not the password")
        qtbot.keyClick(password, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: field(dlg, "signInError").isVisible(), timeout=10_000)
        assert "Wrong user name or password" in field(dlg, "signInError").text()  # type: ignore[attr-defined]
        qtbot.keyClicks(password, PW)
        qtbot.keyClick(password, Qt.Key.Key_Return)

    win = run_app_signing_in(qtbot, url, fill, "loginDialog", fake_messages, monkeypatch)
    assert win.ctx is not None and win.ctx.principal.username == "boss"
    db = Database.open(url)
    try:
        with db.unit_of_work("t", read_only=True) as uow:
            actions = [(e.action, e.detail) for e in uow.audit.latest(10)]
            row = uow.users.row("boss")
            assert row is not None and row.failed_logins == 0  # reset by the good password
        assert ("login", "") in actions and ("login_failed", "wrong password") in actions
    finally:
        db.close()


def test_admin_adds_a_front_desk_user_by_typing(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    # "tester", the signed-in administrator, already has an account (the window fixture).
    window.users_action.trigger()  # Admin ▸ Users…
    users = dialog(window, qtbot, "usersDialog")
    wait_ops(qtbot)

    def fill(add: QDialog) -> None:
        typed(qtbot, add, "newUsername", "kim")
        qtbot.keyClick(field(add, "newUsername"), Qt.Key.Key_Tab)
        qtbot.keyClicks(add.focusWidget(), "Kim Desk")
        qtbot.keyClick(add.focusWidget(), Qt.Key.Key_Tab)
        role = field(add, "newRole")
        assert add.focusWidget() is role
        qtbot.keyClick(role, Qt.Key.Key_Down)  # Therapist -> Front desk (read-only)
        qtbot.keyClick(role, Qt.Key.Key_Tab)
        qtbot.keyClicks(add.focusWidget(), "short")
        qtbot.keyClick(add.focusWidget(), Qt.Key.Key_Return)
        error = field(add, "newUserError")
        qtbot.waitUntil(lambda: "Password" in error.text(), timeout=10_000)  # type: ignore[attr-defined]
        typed(qtbot, add, "newPassword", "kims long password")
        qtbot.keyClick(field(add, "newPassword"), Qt.Key.Key_Return)

    failures = when_shown(qtbot, "newUserDialog", fill)
    qtbot.mouseClick(field(users, "addUserButton"), Qt.MouseButton.LeftButton)
    if failures:
        raise failures[0]
    wait_ops(qtbot)
    table = users.table  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=10_000)
    kim = security.authenticate(sqlite_db, "kim", "kims long password")
    assert (kim.username, kim.role, kim.full_name) == ("kim", Role.FRONT_DESK, "Kim Desk")


def test_settings_are_typed_and_saved_with_enter(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    window.settings_action.trigger()  # File ▸ Settings…
    dlg = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)  # the letterhead is loaded
    typed(qtbot, dlg, "clinicNameEdit", "Backwards Physio")
    qtbot.keyClick(field(dlg, "clinicNameEdit"), Qt.Key.Key_Tab)
    address = field(dlg, "clinicAddressEdit")
    assert dlg.focusWidget() is address
    qtbot.keyClicks(address, "Main Street 1")
    qtbot.keyClick(address, Qt.Key.Key_Return)  # a new line, not Save, in the address
    qtbot.keyClicks(address, "8000 Zurich")
    qtbot.keyClick(address, Qt.Key.Key_Tab)
    qtbot.keyClicks(dlg.focusWidget(), "+41 44 000 00 00")
    assert dlg.focusWidget() is field(dlg, "clinicPhoneEdit")
    # Ctrl+Tab: the Database page.
    qtbot.keyClick(dlg.focusWidget(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    url = field(dlg, "dbUrlEdit")
    qtbot.waitUntil(url.isVisible)
    typed(qtbot, dlg, "dbUrlEdit", "postgresql://backstep@server.local/clinic")
    minutes = field(dlg, "autoLockMinutes")
    minutes.setFocus()
    qtbot.keyClick(minutes, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(minutes, "20")
    qtbot.keyClick(minutes, Qt.Key.Key_Return)
    closed(qtbot, dlg)
    info = get_clinic(sqlite_db, as_user(sqlite_db, "t"))
    assert (info.name, info.address, info.phone) == (
        "Backwards Physio", "Main Street 1\n8000 Zurich", "+41 44 000 00 00")
    assert local_settings.saved_db_url() == "postgresql://backstep@server.local/clinic"
    assert local_settings.auto_lock_minutes() == 20


def test_csv_import_path_is_typed(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, tmp_path: Path
) -> None:
    other = Database.open(f"sqlite:///{tmp_path / 'other.sqlite3'}", state_dir=tmp_path)
    try:
        seed_demo(other, as_user(other, "system"), patients=2)
        interop.export_csv(other, as_user(other, "system"), tmp_path / "export")
    finally:
        other.close()
    window.import_action.trigger()  # File ▸ Import from CSV…
    dlg = dialog(window, qtbot, "importDialog")
    typed(qtbot, dlg, "importPath", str(tmp_path / "export"))
    qtbot.keyClick(field(dlg, "importPath"), Qt.Key.Key_Return)  # the default: Import
    qtbot.waitUntil(lambda: dlg.summary is not None, timeout=30_000)  # type: ignore[attr-defined]
    wait_ops(qtbot)
    svc = ChartingService(sqlite_db, as_user(sqlite_db, "t"))
    assert svc.count_patients() == 2
    assert window.model is not None and window.model.total == 2
