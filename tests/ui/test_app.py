"""``run_gui``: database errors at start-up, and the database chosen in Settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from db_damage import damage_table, seeded_file
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import text
from ui_helpers import FakeMessages

from clinic_app.app import run_gui
from clinic_app.config import AppConfig, default_db_url, resolve
from clinic_app.domain.errors import ValidationError
from clinic_app.persistence.uow import Database
from clinic_app.ui import local_settings
from clinic_app.ui.main_window import MainWindow


def test_database_newer_than_app_exits_with_2(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages
) -> None:
    url = f"sqlite:///{tmp_path / 'future.sqlite3'}"
    Database.open(url).close()
    db = Database.open(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    db.close()
    fake_messages.expect_warnings = True
    assert run_gui(AppConfig(db_url=url, user="tester")) == 2
    ((_parent, title, message, *_rest),) = fake_messages.called("warn")
    assert title == "Cannot open the database" and "newer" in message.lower()


def test_run_gui_opens_the_database_and_shows_the_window(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages
) -> None:
    url = f"sqlite:///{tmp_path / 'ok.sqlite3'}"
    fake_messages.answers["ask"] = [False]  # decline the demo data

    def close_when_ready() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if wins and wins[0].ctx is not None and fake_messages.called("ask"):
            wins[0].close()  # quits the application
        else:
            QTimer.singleShot(20, close_when_ready)

    QTimer.singleShot(0, close_when_ready)
    assert run_gui(AppConfig(db_url=url, user="tester")) == 0
    assert Path(tmp_path / "ok.sqlite3").exists()


def test_event_loops_still_work_after_run_gui(qtbot: QtBot, tmp_path: Path,
                                              fake_messages: FakeMessages) -> None:
    """run_gui must not leave a stale quit behind (it would kill every later event loop)."""
    fake_messages.expect_warnings = True
    garbage = tmp_path / "not-a-database.sqlite3"
    garbage.write_bytes(b"this is not SQLite" * 100)
    assert run_gui(AppConfig(db_url=f"sqlite:///{garbage}", user="tester")) == 2
    ((_parent, _title, message, *_rest),) = fake_messages.called("warn")
    assert "damaged" in message and "restore" in message
    fired: list[int] = []
    QTimer.singleShot(10, lambda: fired.append(1))
    qtbot.waitUntil(lambda: fired == [1], timeout=2000)


def test_database_url_from_settings_applies_only_without_db_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert local_settings.saved_db_url() is None
    with pytest.raises(ValidationError) as err:
        local_settings.save_db_url("mysql://x@host/db")
    assert err.value.field == "Database URL"
    local_settings.save_db_url("postgresql://backstep@server.local/clinic")
    assert resolve().db_url == "postgresql://backstep@server.local/clinic"
    assert resolve("sqlite:////tmp/other.sqlite3").db_url == "sqlite:////tmp/other.sqlite3"
    monkeypatch.setenv("CLINIC_APP_DB", "sqlite:////tmp/env.sqlite3")
    assert resolve().db_url == "sqlite:////tmp/env.sqlite3"
    monkeypatch.delenv("CLINIC_APP_DB")
    local_settings.save_db_url(None)
    assert resolve().db_url == default_db_url()


def test_damage_found_after_the_window_opened_shuts_it_and_exits_with_2(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages
) -> None:
    """The quick_check runs in the background at start; damage it finds closes the door."""
    path = seeded_file(tmp_path)
    damage_table(path, "walk_session")
    fake_messages.expect_warnings = True
    seen: list[MainWindow] = []

    def note_window() -> None:
        # The main window is built once the database is open, behind the sign-in window.
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if found:
            seen.extend(found)
        elif not seen:
            QTimer.singleShot(10, note_window)

    QTimer.singleShot(0, note_window)
    assert run_gui(AppConfig(db_url=f"sqlite:///{path}", user="tester")) == 2
    ((_parent, title, message, *_rest),) = fake_messages.called("warn")
    assert title == "Cannot open the database"
    assert "damaged" in message and "restore" in message.lower()
    assert seen and not seen[0].patient_list.isEnabled()


def test_damage_found_while_signing_in_closes_the_sign_in_and_shows_no_data(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QDialog

    from clinic_app.ui import login

    path = seeded_file(tmp_path)
    damage_table(path, "walk_session")
    fake_messages.expect_warnings = True
    outcome: list[object] = []
    windows: list[MainWindow] = []

    def waiting_sign_in(parent: MainWindow, *_args: object, **_kw: object) -> None:
        windows.append(parent)
        dialog = QDialog(parent)  # stands for the login dialog, waiting for a password
        outcome.append(dialog.exec())
        return None

    monkeypatch.setattr(login, "sign_in", waiting_sign_in)
    assert run_gui(AppConfig(db_url=f"sqlite:///{path}", user="tester")) == 2
    assert outcome == [QDialog.DialogCode.Rejected]
    assert windows and windows[0].ctx is None  # never attached: no patient shown
    ((_parent, _title, message, *_rest),) = fake_messages.called("warn")
    assert "damaged" in message
