"""File ▸ Settings ▸ Database ▸ Move this clinic…: the move as an administrator does it."""

from __future__ import annotations

from typing import Any

from accounts import as_user
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QTabWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select
from ui_helpers import FakeMessages, closed, dialog, key_type, wait_ops

from clinic_app.domain.records import Role
from clinic_app.persistence.models import AuditRow, PatientRow
from clinic_app.persistence.uow import Database
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import local_settings
from clinic_app.ui.main_window import MainWindow


def _database_tab(window: MainWindow, qtbot: QtBot) -> Any:
    window.settings_action.trigger()
    settings = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)  # the letterhead has loaded
    tabs = settings.findChild(QTabWidget)
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    assert tabs.currentIndex() == 1
    return settings


def test_administrator_moves_the_clinic_to_a_server(
        window: MainWindow, qtbot: QtBot, sqlite_db: Database, pg_server: Any,
        fake_messages: FakeMessages) -> None:
    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=2)
    pg_url = pg_server.create()
    settings = _database_tab(window, qtbot)
    button = settings.findChild(QPushButton, "moveClinicButton")
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    mover = dialog(window, qtbot, "moveDialog")
    key_type(qtbot, mover, "moveTarget", pg_url)
    fake_messages.answers["ask"] = [True]
    qtbot.mouseClick(mover.findChild(QPushButton, "moveButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: mover.result is not None, timeout=60_000)
    wait_ops(qtbot)
    assert "every table compared equal" in mover.phase.text()
    assert "walk_session" in mover.report.toPlainText()
    assert "DIFFERENT" not in mover.report.toPlainText()
    assert local_settings.saved_db_url() == pg_url

    target = Database.open(pg_url, audit_key=sqlite_db.audit_key)
    try:
        with target.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(PatientRow)).scalar() == 2
            last = conn.execute(select(AuditRow.detail).order_by(AuditRow.seq.desc())).first()
        assert last is not None and last[0].startswith("moved from sqlite:///")
        assert target.verify_audit().ok
    finally:
        target.close()
    qtbot.mouseClick(mover.findChild(QPushButton, "moveClose"), Qt.MouseButton.LeftButton)
    closed(qtbot, mover)
    settings.reject()
    closed(qtbot, settings)


def test_a_therapist_cannot_start_a_move(qtbot: QtBot, sqlite_db: Database) -> None:
    win = MainWindow(actor="tess", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "tess", Role.THERAPIST)))
    wait_ops(qtbot)
    settings = _database_tab(win, qtbot)
    assert not settings.findChild(QPushButton, "moveClinicButton").isEnabled()
    settings.reject()
    closed(qtbot, settings)
    win.close()


def test_database_tab_keeps_the_note_under_its_field(
        window: MainWindow, qtbot: QtBot) -> None:
    """The Database tab is as tall as the letterhead tab; the spare height goes below the
    form, not into blank bands that cut the URL field off from its explanation."""
    from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

    settings = _database_tab(window, qtbot)
    qtbot.waitExposed(settings)
    url = settings.findChild(QLineEdit, "dbUrlEdit")
    lock = settings.findChild(QWidget, "autoLockMinutes")
    note = next(w for w in settings.findChildren(QLabel) if "To share records" in w.text())
    def top(w: QWidget) -> int:
        return w.mapTo(settings, w.rect().topLeft()).y()
    gap_above = top(note) - (top(url) + url.height())
    gap_below = top(lock) - (top(note) + note.height())
    assert gap_above <= 12 and gap_below <= 12, (gap_above, gap_below)
    assert note.height() <= note.heightForWidth(note.width()) + 4
    settings.reject()


def test_logo_preview_sits_beside_its_buttons(window: MainWindow, qtbot: QtBot) -> None:
    """The letterhead's logo row must not take the tab's spare height: the preview then
    floated half a box below its Choose/Remove buttons."""
    from PySide6.QtWidgets import QWidget

    window.settings_action.trigger()
    settings = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)
    qtbot.waitExposed(settings)
    preview = settings.findChild(QWidget, "logoPreview")
    choose = settings.findChild(QWidget, "chooseLogoButton")
    def top(w: QWidget) -> int:
        return w.mapTo(settings, w.rect().topLeft()).y()
    assert abs(top(preview) - top(choose)) <= 4, (top(preview), top(choose))
    settings.reject()
