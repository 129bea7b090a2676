"""Sign-in dialogs, the inactivity lock and the administrator tools, on a real SQLite file."""

from __future__ import annotations

from accounts import as_user
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot
from ui_helpers import wait_ops

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.ui import login
from clinic_app.ui.admin_dialogs import AuditDialog, NewUserDialog, UsersDialog
from clinic_app.ui.login import FirstAdminDialog, InactivityLock, LoginDialog
from clinic_app.ui.main_window import MainWindow

PW = "long enough password"


def test_first_admin_dialog_checks_the_repeat_then_creates_the_account(
    qtbot: QtBot, sqlite_db: Database
) -> None:
    dialog = FirstAdminDialog(None, sqlite_db)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "Boss")
    qtbot.keyClicks(dialog.full_name, "Clinic Boss")
    qtbot.keyClicks(dialog.password, PW)
    qtbot.keyClicks(dialog.repeat, PW + "x")
    dialog.buttons.accepted.emit()
    assert "does not match" in dialog.error_label.text()
    assert security.needs_first_admin(sqlite_db)
    dialog.repeat.setText(PW)
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=5000)
    assert dialog.principal == Principal("boss", Role.ADMIN, "Clinic Boss")
    assert not security.needs_first_admin(sqlite_db)


def test_login_dialog_shows_the_refusal_inline(qtbot: QtBot, sqlite_db: Database) -> None:
    security.create_first_admin(sqlite_db, "boss", "Clinic Boss", PW)
    dialog = LoginDialog(None, sqlite_db, "boss")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.password, "wrong password")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=5000)
    assert "Wrong user name or password" in dialog.error_label.text()
    assert dialog.password.text() == ""  # never left in the field
    qtbot.keyClicks(dialog.password, PW)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=5000)
    assert dialog.principal is not None and dialog.principal.username == "boss"


def test_inactivity_fires_and_input_postpones_it(qtbot: QtBot) -> None:
    lock = InactivityLock(minutes=0.005)  # 300 ms
    with qtbot.waitSignal(lock.timed_out, timeout=3000):
        pass
    lock.set_minutes(0.005)
    assert lock.timer.isActive()


def test_lock_hides_the_record_until_the_password_is_given(
    window: MainWindow, qtbot: QtBot, monkeypatch, fake_messages  # type: ignore[no-untyped-def]
) -> None:
    fake_messages.answers["ask"] = [False]  # after the failed attempt: "Sign in again"
    seen: list[bool] = []

    def fake_unlock(parent, db, principal):  # type: ignore[no-untyped-def]
        seen.append(window.centralWidget().isVisible())
        return len(seen) >= 2  # first attempt fails, second succeeds

    monkeypatch.setattr(login, "unlock", fake_unlock)
    window.lock()
    assert seen == [False, False]  # patient data hidden during both attempts
    assert fake_messages.called("ask")[0][1] == "Backstep is locked"
    assert window.centralWidget().isVisible() and not window.locked


def test_admin_tools_are_only_offered_to_administrators(
    qtbot: QtBot, sqlite_db: Database
) -> None:
    from clinic_app.services.demo import seed_demo

    seed_demo(sqlite_db, as_user(sqlite_db, "setup"), patients=1)
    win = MainWindow(offer_demo=False)
    qtbot.addWidget(win)
    win.attach(sqlite_db, as_user(sqlite_db, "desk", Role.FRONT_DESK))
    wait_ops(qtbot)
    assert not win.users_action.isEnabled() and not win.audit_action.isEnabled()
    # Front desk is read-only: the record opens, the write buttons do not.
    win.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: win.record.chart is not None, timeout=5000)
    wait_ops(qtbot)
    assert not win.new_patient_button.isEnabled()
    assert not win.record.new_session_button.isEnabled()
    assert "may look at records" in win.record.new_session_button.toolTip()
    assert not win.record.edit_patient_button.isEnabled()
    assert not win.record.new_episode_button.isEnabled()
    assert "Signed in: desk (front desk)" in win.identity_label.text()
    win.close()


def test_users_dialog_adds_a_therapist(window: MainWindow, qtbot: QtBot,
                                       sqlite_db: Database) -> None:
    # (The window's fixture signed in "tester", the only account so far.)
    users = UsersDialog(window, window.ctx)  # type: ignore[arg-type]
    qtbot.addWidget(users)
    wait_ops(qtbot)
    assert users.table.rowCount() == 1
    add = NewUserDialog(users, window.ctx)  # type: ignore[arg-type]
    qtbot.addWidget(add)
    add.username.setText("kim")
    add.full_name.setText("Kim Physio")
    add.password.setText("short")
    add.save()
    qtbot.waitUntil(lambda: "Password" in add.error_label.text(), timeout=5000)
    add.password.setText("kims long password")
    add.save()
    qtbot.waitUntil(lambda: add.result() == QDialog.DialogCode.Accepted, timeout=5000)
    users.reload()
    qtbot.waitUntil(lambda: users.table.rowCount() == 2, timeout=5000)
    assert security.authenticate(sqlite_db, "kim", "kims long password").role == Role.THERAPIST


def test_audit_dialog_lists_events_and_verifies_the_chain(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    security.create_user(sqlite_db, window.ctx.principal, "kim", "", Role.THERAPIST,  # type: ignore[union-attr]
                         PW)
    audit = AuditDialog(window, window.ctx)  # type: ignore[arg-type]
    qtbot.addWidget(audit)
    qtbot.waitUntil(lambda: audit.table.rowCount() >= 1, timeout=5000)
    assert audit.table.item(0, 3).text() == "create"
    audit.verify()
    qtbot.waitUntil(lambda: "Chain intact" in audit.verdict.text(), timeout=5000)


def test_plot_png_export_is_audited(window: MainWindow, qtbot: QtBot, sqlite_db: Database,
                                    tmp_path) -> None:  # type: ignore[no-untyped-def]
    from clinic_app.services.demo import seed_demo

    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=1)
    window.ctx.signals.data_reset.emit()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.chart is not None, timeout=5000)
    window.record.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.record.progress.plot is not None, timeout=10000)
    window.record.progress.plot.export_png(tmp_path / "p.png")  # type: ignore[union-attr]
    wait_ops(qtbot)
    with sqlite_db.unit_of_work("t") as uow:
        events = uow.audit.for_patient(window.record.chart.patient.id)  # type: ignore[union-attr]
    assert any(e.action == "export" and "p.png" in e.detail for e in events)


def test_daily_backup_runs_at_sign_in_for_any_role(qtbot: QtBot, sqlite_db: Database) -> None:
    from clinic_app.config import backup_dir

    win = MainWindow(offer_demo=False)
    qtbot.addWidget(win)
    win.attach(sqlite_db, as_user(sqlite_db, "kim", Role.THERAPIST))
    wait_ops(qtbot)
    assert len(list(backup_dir().glob("auto-*.sqlite3"))) == 1
    win.close()
