"""Sign-in and first-run dialogs by keyboard: typing starts in the first field, Tab follows
what is seen, a space typed in a name never presses a button, and cancelling the first run
asks before Backstep quits."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot
from test_dialog_typing import PW
from ui_helpers import FakeMessages, tab, type_here, use_real_sign_in

from clinic_app.app import run_gui
from clinic_app.config import AppConfig
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.facade import Clinic
from clinic_app.ui import login


def _focused() -> str:
    w = QApplication.focusWidget()
    if isinstance(w, QPushButton):
        return w.text().replace("&", "")
    return w.objectName() if w is not None else "<nothing>"


def when_shown(qtbot: QtBot, name: str, act) -> list[BaseException]:  # type: ignore[no-untyped-def]
    """Act on the modal dialog ``name`` once shown; a failure closes it without asking."""
    failures: list[BaseException] = []

    def step() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, QDialog) and w.objectName() == name and w.isVisible():
            try:
                act(w)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the test
                failures.append(exc)
                w.done(QDialog.DialogCode.Rejected)
        else:
            QTimer.singleShot(20, step)

    QTimer.singleShot(0, step)
    return failures


def _run(qtbot: QtBot, url: str, act, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
         name: str = "firstAdminDialog") -> int:
    use_real_sign_in(monkeypatch)
    failures = when_shown(qtbot, name, act)
    code = run_gui(AppConfig(db_url=url))
    if failures:
        raise failures[0]
    return code


def test_first_run_types_a_full_name_with_a_space_and_cancel_asks(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported quit: user name, Tab, "Clinic Boss" pressed Cancel and the app left with
    exit code 0 and no message. Now the typing lands in the fields, and Cancel asks."""
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    seen: list[object] = []
    fake_messages.answers["ask"] = [False, True]  # "Quit?" No, then (Escape) Yes

    def act(dlg: QDialog) -> None:
        qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
        seen.append(_focused())  # where typing starts
        type_here(qtbot, "boss")
        tab(qtbot)
        type_here(qtbot, "Clinic Boss")  # the space must not press a button
        seen.append(dlg.isVisible())
        seen.append(dlg.findChild(QLineEdit, "adminFullName").text())  # type: ignore[union-attr]
        order = [_focused()]
        for _ in range(5):
            tab(qtbot)
            order.append(_focused())
        seen.append(order)
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab)
        seen.append(_focused())
        # Shift+Tab back to Cancel: Enter presses it; the dialog asks and stays when told No.
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: len(fake_messages.called("ask")) == 1, timeout=5_000)
        seen.append(dlg.isVisible())
        seen.append(dlg.findChild(QLineEdit, "adminUsername").text())  # type: ignore[union-attr]
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)  # asks again: Yes

    code = _run(qtbot, url, act, monkeypatch)
    assert seen[0] == "adminUsername"
    assert seen[1] is True and seen[2] == "Clinic Boss"
    assert seen[3] == ["adminFullName", "adminPassword", "adminRepeat", "OK", "Cancel",
                       "adminUsername"]
    assert seen[4] == "Cancel"
    assert seen[5] is True and seen[6] == "boss"  # "No": still open, nothing lost
    asked = fake_messages.called("ask")
    assert len(asked) == 2 and "Quit" in asked[0][1]
    assert code == 0  # the user chose to quit
    db = Database.open(url)
    try:
        assert security.needs_first_admin(db)  # nothing was created
    finally:
        db.close()


def test_first_run_by_keyboard_alone_creates_the_administrator(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    fake_messages.answers["ask"] = [False]  # no demo data

    def act(_dlg: QDialog) -> None:
        qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
        for text in ("boss", "Clinic Boss", PW, PW):
            type_here(qtbot, text)
            if text is not PW or _focused() == "adminPassword":
                tab(qtbot)
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # OK is the default

    def close_when_signed_in() -> None:
        from ui_helpers import wait_ops

        from clinic_app.ui.main_window import MainWindow

        qtbot.waitUntil(lambda: any(isinstance(w, MainWindow) and w.ctx is not None
                                    for w in QApplication.topLevelWidgets()), timeout=20_000)
        wait_ops(qtbot)
        for w in QApplication.topLevelWidgets():
            if isinstance(w, MainWindow):
                w.close()

    QTimer.singleShot(0, close_when_signed_in)
    assert _run(qtbot, url, act, monkeypatch) == 0
    db = Database.open(url)
    try:
        assert security.authenticate(db, "boss", PW).role == Role.ADMIN
        assert security.authenticate(db, "boss", PW).full_name == "Clinic Boss"
    finally:
        db.close()


def test_sign_in_starts_in_the_first_empty_field_and_tabs_in_visual_order(
    qtbot: QtBot, sqlite_db: Database
) -> None:
    security.create_first_admin(sqlite_db, "boss", "Clinic Boss", PW)
    for given, first in (("", "loginUsername"), ("boss", "loginPassword")):
        dlg = login.LoginDialog(None, Clinic(sqlite_db), given)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.activateWindow()
        qtbot.waitUntil(lambda d=dlg: d.isActiveWindow(), timeout=5_000)  # type: ignore[misc]
        qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
        assert _focused() == first
        order = [_focused()]
        for _ in range(4):
            tab(qtbot)
            order.append(_focused())
        cycle = ["loginUsername", "loginPassword", "OK", "Cancel"]
        start = cycle.index(first)
        assert order == (cycle[start:] + cycle)[:5]
        dlg.done(0)
