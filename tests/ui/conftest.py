"""UI test fixtures: a main window on a real SQLite file and a recording message seam."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from accounts import as_user
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, wait_ops

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.facade import Clinic
from clinic_app.ui import login, messages, ops
from clinic_app.ui.main_window import MainWindow

# A test that leaves a modal dialog or the application's event loop waiting (a step that
# failed inside a timer callback, say) would otherwise hang the whole run with no report.
HANG_LIMIT_MS = int(os.environ.get("BACKSTEP_TEST_HANG_LIMIT_MS", "300000"))


@pytest.fixture(autouse=True)
def no_hang(qapp: QApplication) -> Iterator[None]:
    """Fail a UI test still waiting after HANG_LIMIT_MS instead of hanging the suite.

    Once tripped, every second: reject open dialogs, close the windows and leave every
    event loop, until the test returns.
    """
    tripped: list[bool] = []
    timer = QTimer()

    def trip() -> None:
        tripped.append(True)
        timer.setInterval(1_000)
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QDialog) and w.isVisible():
                w.reject()
        QApplication.closeAllWindows()
        QApplication.exit(99)

    timer.timeout.connect(trip)
    timer.start(HANG_LIMIT_MS)
    yield
    timer.stop()
    if tripped:
        pytest.fail(f"still waiting after {HANG_LIMIT_MS // 1000} s: a dialog or event loop "
                    "was left open, so the test was stopped")


@pytest.fixture(autouse=True)
def fake_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMessages]:
    fake = FakeMessages()
    for name in FakeMessages.NAMES:
        monkeypatch.setattr(messages, name, fake.make(name))
    yield fake
    if not fake.expect_warnings:
        assert not fake.called("warn"), f"unexpected warnings: {fake.called('warn')}"


@pytest.fixture(autouse=True)
def signed_in(monkeypatch: pytest.MonkeyPatch) -> Principal:
    """run_gui signs in through one seam; tests act as an administrator named "tester"
    (whose account is created in the database being opened, as sign-in would find it)."""
    who = Principal("tester", Role.ADMIN, "Test Admin")

    def sign_in(_parent: object, clinic: Clinic, *_args: object, **_kw: object) -> Principal:
        try:
            principal = as_user(clinic._db, who.username, who.role, who.full_name)
        except DatabaseDamagedError:
            principal = who  # the damage tests: signed in just before the check found it
        clinic.act_as(principal)
        return principal

    def continue_sign_in(shown: QDialog, parent: object, clinic: Clinic, username: str,
                         done: Callable[[Principal | None], None]) -> None:
        # The start's sign-in window, already on screen: put away, and whatever stands for
        # the sign-in now (this fixture's, or a test's own) is asked instead.
        shown.hide()
        done(login.sign_in(parent, clinic, username))

    monkeypatch.setattr(login, "sign_in", sign_in)
    monkeypatch.setattr(login, "continue_sign_in", continue_sign_in)
    return who


@pytest.fixture
def window(qtbot: QtBot, sqlite_db: Database) -> Iterator[MainWindow]:
    """The main window attached to an empty, migrated SQLite file (no demo offer)."""
    win = MainWindow(actor="tester", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tester", Role.ADMIN, "Test Admin")))
    wait_ops(qtbot)
    yield win
    wait_ops(qtbot)
    win.close()
    ops.wait_all()
