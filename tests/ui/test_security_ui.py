"""Sign-in dialogs, the inactivity lock and the administrator tools, on a real SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

from accounts import as_user
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import typed, wait_ops

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.facade import Clinic
from clinic_app.ui import login
from clinic_app.ui.admin_dialogs import AuditDialog, NewUserDialog, UsersDialog
from clinic_app.ui.login import FirstAdminDialog, InactivityLock, LoginDialog
from clinic_app.ui.main_window import MainWindow

PW = "long enough password"


def test_first_admin_dialog_checks_the_repeat_then_creates_the_account(
    qtbot: QtBot, sqlite_db: Database
) -> None:
    dialog = FirstAdminDialog(None, Clinic(sqlite_db))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.username, "Boss")
    qtbot.keyClicks(dialog.full_name, "Clinic Boss")
    qtbot.keyClicks(dialog.password, PW)
    qtbot.keyClicks(dialog.repeat, PW + "x")
    qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    assert "does not match" in dialog.error_label.text()
    assert security.needs_first_admin(sqlite_db)
    typed(qtbot, dialog, "adminRepeat", PW)
    qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=5000)
    assert dialog.principal == Principal("boss", Role.ADMIN, "Clinic Boss")
    assert not security.needs_first_admin(sqlite_db)


def test_login_dialog_shows_the_refusal_inline(qtbot: QtBot, sqlite_db: Database) -> None:
    security.create_first_admin(sqlite_db, "boss", "Clinic Boss", PW)
    dialog = LoginDialog(None, Clinic(sqlite_db), "boss")
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

    def fake_unlock(parent, clinic):  # type: ignore[no-untyped-def]
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
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "desk", Role.FRONT_DESK)))
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
    add.show()
    qtbot.keyClicks(add.username, "kim")
    qtbot.keyClicks(add.full_name, "Kim Physio")
    qtbot.keyClicks(add.password, "short")
    qtbot.keyClick(add.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Password" in add.error_label.text(), timeout=5000)
    typed(qtbot, add, "newPassword", "kims long password")
    qtbot.keyClick(add.password, Qt.Key.Key_Return)
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
    bar = window.record.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
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
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "kim", Role.THERAPIST)))
    wait_ops(qtbot)
    assert len(list(backup_dir().glob("auto-*.sqlite3"))) == 1
    win.close()


def test_locked_window_shows_nothing_about_patients(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """Auto-lock: no name in the title, the status bar, the list, the record or a dialog."""
    from PySide6.QtWidgets import QApplication, QWidget

    from clinic_app.services.demo import seed_demo

    seed_demo(sqlite_db, as_user(sqlite_db, "tester"), patients=1)
    window.ctx.signals.data_reset.emit()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.chart is not None, timeout=5000)
    patient = window.record.chart.patient  # type: ignore[union-attr]
    name, mrn = patient.draft.family_name, patient.draft.mrn
    window.setWindowTitle(f"Backstep — {patient.display_name}")
    window.status_note.show_note(f"Report for {name} ({mrn}) written.")
    qtbot.mouseClick(window.record.edit_patient_button, Qt.MouseButton.LeftButton)
    from ui_helpers import dialog

    edit = dialog(window, qtbot, "patientDialog")
    seen: list[list[str]] = []

    def visible_texts() -> list[str]:
        texts = [window.windowTitle(), window.statusBar().currentMessage(),
                 window.status_note.text()]
        for top in QApplication.topLevelWidgets():
            if not top.isVisible():
                continue
            texts.append(top.windowTitle())
            for w in top.findChildren(QWidget):
                if w.isVisible():
                    for attr in ("text", "toolTip", "windowTitle"):
                        value = getattr(w, attr, None)
                        if callable(value):
                            v = value()
                            if isinstance(v, str):
                                texts.append(v)
        return texts

    def fake_unlock(parent, clinic):  # type: ignore[no-untyped-def]
        seen.append(visible_texts())
        return True

    monkeypatch.setattr(login, "unlock", fake_unlock)
    window._auto_lock.timed_out.emit()  # type: ignore[union-attr]  # the inactivity timer
    (during,) = seen
    assert not [t for t in during if name in t or mrn in t], during
    assert window.isVisible()
    # Unlocked: everything is back, the dialog with it (nothing typed was lost).
    assert window.windowTitle() == f"Backstep — {patient.display_name}"
    assert edit.isVisible() and edit.findChild(QWidget, "mrnEdit").isVisible()
    assert window.record.isVisible()


def test_a_long_backup_note_is_elided_with_the_full_text_as_tooltip(
    window: MainWindow, qtbot: QtBot
) -> None:
    from clinic_app.persistence.backup import BackupResult

    path = "/home/therapist/.local/share/Backstep/backups/" + "very-long-folder/" * 8 + (
        "auto-2026-03-02-101500.sqlite3")
    window.resize(1280, 720)
    window._backup_done(BackupResult(path=Path(path), size_bytes=1, kind="sqlite"))
    note = window.status_note
    full = f"Today's automatic backup was written to {path}"
    assert note.full_text == full and note.toolTip() == full
    qtbot.waitUntil(lambda: note.width() > 0)
    assert note.is_elided()
    assert note.geometry().right() <= window.identity_label.geometry().left()


def test_audit_viewer_names_patients_and_records_and_shows_details(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database
) -> None:
    from datetime import UTC, date, datetime

    from ui_helpers import dialog

    from clinic_app.domain.records import (
        Diagnosis,
        EpisodeDraft,
        PatientDraft,
        Sex,
        Side,
        TestResultDraft,
        WalkSessionDraft,
    )

    # "tester", the signed-in administrator, already has an account (the window fixture).
    svc = window.ctx.charting  # type: ignore[union-attr]
    patient = svc.register_patient(PatientDraft(
        mrn="K-1001", family_name="Lindqvist", given_name="Astrid",
        date_of_birth=date(1961, 4, 23), sex=Sex.FEMALE))
    episode = svc.open_episode(patient.id, EpisodeDraft(
        diagnosis=Diagnosis.ACL_RECONSTRUCTION, affected_side=Side.LEFT,
        start_date=date(2026, 2, 1)))
    svc.record_session(episode.id, WalkSessionDraft(
        performed_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), duration_min=10),
        [TestResultDraft(measure_id="bwt_3m", performed_on=date(2026, 3, 2), value=4.2)])
    wait_ops(qtbot)  # the day's automatic backup and its audit event are written first
    window.audit_action.trigger()  # Admin ▸ Audit trail…
    audit = dialog(window, qtbot, "auditDialog")
    table = audit.table  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: table.rowCount() >= 5, timeout=5000)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[4:] == ["Patient", "Record", "Details"]
    cells = [[table.item(r, c).text() for c in range(table.columnCount())]
             for r in range(table.rowCount())]
    uuid_like = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
    assert not [row for row in cells if uuid_like.search(" ".join(row[4:6]))]
    sessions = [row for row in cells if row[5].startswith("Session ")]
    assert sessions and re.fullmatch(r"Session \d{4}-\d\d-\d\d \d\d:\d\d", sessions[0][5])
    assert sessions[0][4] == "Lindqvist, Astrid (MRN K-1001)"
    assert any(row[5] == "Test 3MBWT 2026-03-02" for row in cells)
    # The details are readable in the table, and in full below it for the selected event.
    audit.resize(1240, 660)
    qtbot.waitUntil(lambda: table.columnWidth(6) >= 300)
    row = next(r for r, cells_ in enumerate(cells) if cells_[3] == "create" and cells_[6])
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    for _ in range(row):
        qtbot.keyClick(table, Qt.Key.Key_Down)
    assert table.currentRow() == row
    details = audit.findChild(QWidget, "auditDetails")
    qtbot.waitUntil(lambda: bool(details.toPlainText()), timeout=5000)  # type: ignore[attr-defined]
    text = details.toPlainText()  # type: ignore[attr-defined]
    assert f"Record: {cells[row][5]}" in text and "Changes:" in text


def test_lock_now_does_not_claim_inactivity(window: MainWindow, qtbot: QtBot) -> None:
    """Ctrl+L locks at once: the unlock prompt must not say it was locked after inactivity."""
    from accounts import PASSWORD
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    seen: list[str] = []

    def answer() -> None:
        prompt = QApplication.activeModalWidget()
        if prompt is None or prompt.objectName() != "loginDialog":
            QTimer.singleShot(20, answer)
            return
        seen.extend(label.text() for label in prompt.findChildren(QLabel) if label.text())
        password = prompt.findChild(QWidget, "loginPassword")
        qtbot.keyClicks(password, PASSWORD)
        qtbot.keyClick(password, Qt.Key.Key_Return)

    QTimer.singleShot(0, answer)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not window.locked and seen
    intro = " ".join(seen)
    assert "locked" in intro and "inactivity" not in intro, intro
