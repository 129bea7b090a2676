"""The start paints its sign-in window before the data layers are loaded, and what a user
types there while the database still opens is kept: a form submitted early waits, says so,
and goes on by itself; nothing is accepted without the password check. (How soon the window
paints is measured by bench/bench_startup.py, never asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from test_dialog_typing import PW
from ui_helpers import FakeMessages, use_real_sign_in

from clinic_app.app import run_gui
from clinic_app.config import AppConfig
from clinic_app.persistence.uow import Database
from clinic_app.services import facade, security
from clinic_app.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from clinic_app.app import run_gui
from clinic_app.config import AppConfig
seen = {}
def first_shown(window):
    window.repaint()
    seen["window"] = window.objectName()
    seen["loaded"] = sorted(m for m in ("sqlalchemy", "clinic_app.persistence",
                                        "clinic_app.services", "clinic_app.ui.main_window")
                            if m in sys.modules)
    window.done(0)
seen["exit"] = run_gui(AppConfig(db_url=sys.argv[1]), first_shown=first_shown)
print(json.dumps(seen))
"""


def _first_window(url: str, data_dir: Path) -> dict[str, object]:
    env = dict(os.environ, CLINIC_APP_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, url], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_sign_in_window_paints_before_the_data_layers_load(tmp_path: Path) -> None:
    """In a fresh interpreter, as a user starts it: the first window is painted while
    neither SQLAlchemy nor the services nor the main window have been imported."""
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    db = Database.open(url)
    security.create_first_admin(db, "boss", "Clinic Boss", PW)
    db.close()
    shown = _first_window(url, tmp_path / "data")
    assert shown == {"window": "loginDialog", "loaded": [], "exit": 0}
    new = _first_window(f"sqlite:///{tmp_path / 'new.sqlite3'}", tmp_path / "data2")
    assert new == {"window": "firstAdminDialog", "loaded": [], "exit": 0}


@pytest.fixture
def held_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Opening the database waits for the returned event: the test decides when it is open."""
    gate = threading.Event()
    real_open = facade.Clinic.open

    def slow_open(*args: object, **kwargs: object) -> facade.Clinic:
        assert gate.wait(30), "the test never let the database open"
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(facade.Clinic, "open", slow_open)
    yield gate
    gate.set()


def _start(qtbot: QtBot, url: str, act: Callable[[QDialog], None],
           fake_messages: FakeMessages) -> tuple[int, list[MainWindow], list[BaseException]]:
    """Run the app; ``act`` gets the first window; the main window is closed once signed in."""
    fake_messages.answers["ask"] = [False]  # no demo data on the empty clinic
    failures: list[BaseException] = []
    signed_in: list[MainWindow] = []

    def first(dialog: QWidget) -> None:
        assert isinstance(dialog, QDialog)
        try:
            act(dialog)
        except BaseException as exc:  # noqa: BLE001 - raised by the test
            failures.append(exc)
            QApplication.exit(3)  # whichever window is up: leave, the test raises
            return
        close_when_signed_in()

    def close_when_signed_in() -> None:
        wins = [w for w in QApplication.topLevelWidgets()
                if isinstance(w, MainWindow) and w.ctx is not None and w.isVisible()]
        if wins and wins[0].model is not None and not wins[0].model.busy:
            signed_in.append(wins[0])
            wins[0].close()
        else:
            QTimer.singleShot(20, close_when_signed_in)

    code = run_gui(AppConfig(db_url=url), first_shown=first)
    return code, signed_in, failures


def _field(dialog: QWidget, name: str) -> QLineEdit:
    edit = dialog.findChild(QLineEdit, name)
    assert edit is not None, name
    return edit


def test_enter_before_the_database_is_open_waits_then_signs_in(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages,
    monkeypatch: pytest.MonkeyPatch, held_open: threading.Event,
) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    db = Database.open(url)
    security.create_first_admin(db, "boss", "Clinic Boss", PW)
    db.close()
    use_real_sign_in(monkeypatch)
    seen: dict[str, object] = {}

    def act(dialog: QDialog) -> None:
        qtbot.keyClicks(_field(dialog, "loginUsername"), "boss")
        qtbot.keyClick(_field(dialog, "loginUsername"), Qt.Key.Key_Tab)
        qtbot.keyClicks(_field(dialog, "loginPassword"), "not the password")
        qtbot.keyClick(_field(dialog, "loginPassword"), Qt.Key.Key_Return)
        waiting = dialog.findChild(QWidget, "signInWaiting")
        assert waiting is not None and waiting.isVisible()
        assert "Opening the database" in waiting.text()  # type: ignore[attr-defined]
        password = _field(dialog, "loginPassword")
        seen["kept"] = (password.text(), password.isReadOnly())
        assert dialog.isVisible()
        held_open.set()  # the database opens now: the waiting form goes on by itself
        error = dialog.findChild(QWidget, "signInError")
        assert error is not None
        qtbot.waitUntil(error.isVisible, timeout=20_000)
        seen["refused"] = error.text()  # type: ignore[attr-defined]
        seen["after"] = (password.text(), password.isReadOnly(), waiting.isVisible())
        qtbot.keyClicks(password, PW)
        qtbot.keyClick(password, Qt.Key.Key_Return)

    code, windows, failures = _start(qtbot, url, act, fake_messages)
    if failures:
        raise failures[0]
    assert code == 0
    assert seen["kept"] == ("not the password", True)  # typed text kept while it waited
    assert "Wrong user name or password" in str(seen["refused"])  # checked, not waved through
    assert seen["after"] == ("", False, False)
    assert windows and windows[0].ctx is not None
    assert windows[0].ctx.principal.username == "boss"
    db = Database.open(url)
    try:
        with db.unit_of_work("t", read_only=True) as uow:
            actions = [(e.action, e.actor) for e in uow.audit.latest(10)]
        assert ("login", "boss") in actions  # and the wrong password before it, counted:
        assert ("login_failed", security.NOT_SIGNED_IN) in actions
    finally:
        db.close()


def test_a_database_without_accounts_turns_the_sign_in_into_the_first_run_form(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages,
    monkeypatch: pytest.MonkeyPatch, held_open: threading.Event,
) -> None:
    """The file exists, so the sign-in form shows first; the open database has no account:
    the first-run form takes its place with what was typed, and needs its own OK."""
    url = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    Database.open(url).close()
    use_real_sign_in(monkeypatch)
    seen: dict[str, object] = {}

    def act(dialog: QDialog) -> None:
        assert dialog.objectName() == "loginDialog"
        qtbot.keyClicks(_field(dialog, "loginUsername"), "boss")
        qtbot.keyClick(_field(dialog, "loginUsername"), Qt.Key.Key_Tab)
        qtbot.keyClicks(_field(dialog, "loginPassword"), PW)
        qtbot.keyClick(_field(dialog, "loginPassword"), Qt.Key.Key_Return)
        held_open.set()

        def admin_form() -> bool:
            w = QApplication.activeModalWidget()
            return w is not None and w.objectName() == "firstAdminDialog" and w.isVisible()

        qtbot.waitUntil(admin_form, timeout=20_000)
        admin = QApplication.activeModalWidget()
        assert admin is not None
        seen["carried"] = (_field(admin, "adminUsername").text(),
                           _field(admin, "adminPassword").text() == PW)
        seen["focus"] = QApplication.focusWidget().objectName()  # type: ignore[union-attr]
        qtbot.keyClicks(QApplication.focusWidget(), "Clinic Boss")
        qtbot.keyClicks(_field(admin, "adminRepeat"), PW)
        qtbot.keyClick(_field(admin, "adminRepeat"), Qt.Key.Key_Return)

    code, windows, failures = _start(qtbot, url, act, fake_messages)
    if failures:
        raise failures[0]
    assert code == 0
    assert seen["carried"] == ("boss", True)
    assert seen["focus"] == "adminFullName"  # the first field still empty
    assert windows and windows[0].ctx is not None
    assert windows[0].ctx.principal.username == "boss"
    db = Database.open(url)
    try:
        assert security.authenticate(db, "boss", PW).full_name == "Clinic Boss"
    finally:
        db.close()


def test_enter_pressed_then_the_database_fails_to_open_says_why(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages,
    monkeypatch: pytest.MonkeyPatch, held_open: threading.Event,
) -> None:
    """A PostgreSQL server that does not answer: the same message as before the window came
    first, the app leaves, and the typed password is never used nor shown."""
    url = "postgresql://postgres@127.0.0.1:9/backstep_nowhere"
    use_real_sign_in(monkeypatch)
    fake_messages.expect_warnings = True

    def act(dialog: QDialog) -> None:
        qtbot.keyClicks(_field(dialog, "loginUsername"), "boss")
        qtbot.keyClick(_field(dialog, "loginUsername"), Qt.Key.Key_Tab)
        qtbot.keyClicks(_field(dialog, "loginPassword"), PW)
        qtbot.keyClick(_field(dialog, "loginPassword"), Qt.Key.Key_Return)
        assert dialog.findChild(QWidget, "signInWaiting").isVisible()  # type: ignore[union-attr]
        held_open.set()

    code, windows, failures = _start(qtbot, url, act, fake_messages)
    if failures:
        raise failures[0]
    assert code == 1 and windows == []  # unexpected failure: exit code 1, as before
    ((_parent, title, message, *rest),) = fake_messages.called("warn")
    assert title == "Cannot open the database"
    assert "could not be opened" in message and "log" in message
    assert PW not in message and PW not in str(rest)
