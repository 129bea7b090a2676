"""Sign-in refuses an account forged in the database, and says so without clipping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from clinic_app.persistence.models import UserRow
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.facade import Clinic
from clinic_app.ui.login import LoginDialog

PW = "correct horse battery"


def test_forged_administrator_is_refused_in_the_sign_in_dialog(qtbot: QtBot,
                                                               sqlite_db: Database) -> None:
    security.create_first_admin(sqlite_db, "boss", "Clinic Boss", PW)
    with sqlite_db.engine.begin() as conn:  # what an attacker adds with the sqlite3 tool
        conn.execute(UserRow.__table__.insert(), [{
            "id": uuid.uuid4(), "username": "mallory", "full_name": "M", "role": "admin",
            "password_hash": security.HASHER.hash(PW), "active": True,
            "created_at": datetime.now(UTC), "failed_logins": 0, "version": 1}])
    dialog = LoginDialog(None, Clinic(sqlite_db), "")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "mallory")
    qtbot.keyClicks(dialog.password, PW)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=5000)
    assert "Wrong user name or password" in dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.principal is None
    # The whole (wrapped) message shows: the label got the height its text needs.
    label = dialog.error_label
    assert label.height() >= label.heightForWidth(label.width())

