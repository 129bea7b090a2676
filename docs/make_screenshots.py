"""Render screenshots of every screen and dialog from demo data, into docs/screenshots/.

Under Xvfb (how the committed images were made; Qt's xcb plugin needs libxcb-cursor0):

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python docs/make_screenshots.py

It signs in for real, seeds demo patients, and drives the window as a user would: fields
are typed with key events; dialogs are opened through the slot their menu action or button
calls. The main window is shot at 1280x800, a common laptop screen; dialogs at their
natural size. ``--progress-sizes 1280x720 1366x768`` also writes the progress tab at
those window sizes (``progress_tab_WxH.png``, not committed) to check that nothing is cut
off there. Without a display it falls back to Qt's offscreen platform (the locked-window
shot then shows no dialog).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

# A real X server (Xvfb) when there is one: the locked-window shot grabs the screen.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shiboken6  # noqa: E402
from PySide6.QtCore import QLocale, QSize, Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget  # noqa: E402

from clinic_app.domain.permissions import Principal  # noqa: E402
from clinic_app.domain.records import Diagnosis, Role  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.demo import seed_demo  # noqa: E402
from clinic_app.services.facade import Clinic  # noqa: E402
from clinic_app.ui import ops  # noqa: E402
from clinic_app.ui.main_window import MainWindow  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WINDOW = QSize(1280, 800)


def settle(app: QApplication, ms: int = 400) -> None:
    ops.wait_all()
    loop_done = [False]
    QTimer.singleShot(ms, lambda: loop_done.__setitem__(0, True))
    while not loop_done[0]:
        app.processEvents()
    ops.wait_all()
    app.processEvents()


def _size(text: str) -> QSize:
    width, height = text.lower().split("x")
    return QSize(int(width), int(height))


def _acl_row(win: MainWindow) -> int:
    """A patient after ACL reconstruction: the fullest progress plots of the demo data."""
    assert win.model is not None and win.ctx is not None
    for row in range(win.model.rowCount()):
        patient = win.model.patient_at(row)
        chart = win.ctx.charting.chart(patient.id) if patient is not None else None
        if chart and chart.episodes and \
                chart.episodes[0].episode.draft.diagnosis == Diagnosis.ACL_RECONSTRUCTION:
            return row
    return 3


def _row_of(win: MainWindow, mrn: str) -> int:
    """The patient list row of the patient with this MRN."""
    assert win.model is not None
    for row in range(win.model.rowCount()):
        patient = win.model.patient_at(row)
        if patient is not None and patient.draft.mrn == mrn:
            return row
    raise LookupError(mrn)


PASSWORD = "screenshot password"
RTS_PATIENT = "DEMO-00004"


def signed_in(db: Database, username: str, full_name: str, role: Role) -> Principal:
    """Sign in through the sign-in service (the administrator is created on a new file)."""
    from clinic_app.services import security

    if security.needs_first_admin(db):
        admin = security.create_first_admin(db, "admin", "Clinic Admin", PASSWORD)
    else:
        admin = security.authenticate(db, "admin", PASSWORD)
    if username != admin.username:
        security.create_user(db, admin, username, full_name, role, PASSWORD)
    return security.authenticate(db, username, PASSWORD)


def shoot(widget: QWidget, name: str) -> None:
    """Save what ``widget`` shows (a window or dialog, without its frame) as NAME.png."""
    widget.grab().save(str(OUT / f"{name}.png"))


def find(app: QApplication, name: str) -> QWidget:
    """The visible top-level window or dialog with this objectName."""
    return next(w for w in app.topLevelWidgets() if w.objectName() == name and w.isVisible())


def type_into(widget: QWidget, text: str, leave: bool = True) -> None:
    """Type like a person: focus, select what is there, type, Tab out (which normalises dates)."""
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    if leave:
        QTest.keyClick(widget, Qt.Key.Key_Tab)


def on_modal(app: QApplication, act, tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    """Run ``act(dialog)`` once a modal dialog (entered with exec()) is on screen."""
    def poll(left: int) -> None:
        modal = app.activeModalWidget()
        if modal is not None and modal.isVisible():
            settle_quick(app)
            act(modal)
        elif left:
            QTimer.singleShot(50, lambda: poll(left - 1))
    QTimer.singleShot(50, lambda: poll(tries))


def settle_quick(app: QApplication) -> None:
    for _ in range(5):
        app.processEvents()


def sign_in_screens(app: QApplication, tmp: Path) -> None:
    """The first-run administrator dialog on a new database, then the sign-in dialog."""
    from clinic_app.ui.login import FirstAdminDialog, LoginDialog

    db = Database.open(f"sqlite:///{tmp / 'first.sqlite3'}")
    first = FirstAdminDialog(None, Clinic(db))
    first.show()
    settle(app)
    type_into(first.username, "anna", leave=False)
    type_into(first.full_name, "Anna Lindqvist", leave=False)
    type_into(first.password, "a long passphrase", leave=False)
    type_into(first.repeat, "a long passphrase", leave=False)
    settle(app)
    shoot(first, "first_admin_dialog")
    first.done(0)  # not reject(): that asks whether to quit Backstep
    login = LoginDialog(None, Clinic(db))
    login.show()
    settle(app)
    type_into(login.username, "jdoe", leave=False)
    type_into(login.password, "secret", leave=False)
    settle(app)
    shoot(login, "sign_in_dialog")
    login.reject()
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--progress-sizes", nargs="*", type=_size, default=[],
                    metavar="WxH", help="also shoot the progress tab at these window sizes")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    # A British clinic's short date format (dd/mm/yyyy), whatever the build machine's locale.
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedKingdom))
    tmp = Path(tempfile.mkdtemp())
    os.environ["CLINIC_APP_DATA_DIR"] = str(tmp)
    OUT.mkdir(parents=True, exist_ok=True)
    sign_in_screens(app, tmp)
    db = Database.open(f"sqlite:///{tmp / 'demo.sqlite3'}")
    jo = signed_in(db, "jdoe", "Jo Doe", Role.THERAPIST)
    # 48 patients, as the demo offer seeds: 12 after ACL reconstruction, enough for the
    # expected-recovery overlay (a cohort of at least 10) and a full Cohorts page.
    seed_demo(db, jo, patients=48)
    win = MainWindow(offer_demo=False)
    win.resize(WINDOW)
    win.show()
    win.attach(Clinic(db, jo))
    settle(app)
    win.patient_list.selectRow(_acl_row(win))
    settle(app, 800)
    shoot(win, "main_window")

    record = win.record
    record.tabs.setCurrentIndex(1)
    settle(app, 1200)
    shoot(win, "progress_tab")
    for size in args.progress_sizes:
        win.resize(size)
        settle(app, 800)
        shoot(win, f"progress_tab_{size.width()}x{size.height()}")
    win.resize(WINDOW)
    settle(app)
    expected_recovery(app, win)
    record.tabs.setCurrentIndex(0)

    patient_dialog(app, win)
    episode_dialog(app, win)
    session_editor(app, win)
    knee_entry(app, win)
    report_dialogs(app, win, tmp)
    blank_forms_dialog(app, win)
    conflict_dialog(app, win, db)
    # The demo's ACL patient near return to sport: every criterion of the battery measured.
    win.patient_list.selectRow(_row_of(win, RTS_PATIENT))
    settle(app, 800)
    record.tabs.setCurrentWidget(record.readiness)
    settle(app, 600)
    shoot(win, "return_to_sport_tab")
    record.tabs.setCurrentIndex(0)
    plan_of_care_dialog(app, win)
    cohorts_page(app, win)
    locked_window(app, win)
    win.close()
    settle(app)

    admin = signed_in(db, "admin", "Clinic Admin", Role.ADMIN)
    win = MainWindow(offer_demo=False)
    win.resize(WINDOW)
    win.show()
    win.attach(Clinic(db, admin))
    settle(app)
    admin_dialogs(app, win)
    win.close()
    db.close()
    import_screenshot(app, tmp)


def expected_recovery(app: QApplication, win: MainWindow) -> None:
    """Progress tab of the ACL patient with Expected recovery ticked: the clinic's median and
    interquartile range of the other ACL patients behind the patient's own values."""
    check = win.record.progress.findChild(QWidget, "progressOverlayCheck")
    QTest.mouseClick(check, Qt.MouseButton.LeftButton)
    settle(app, 1200)
    shoot(win, "progress_expected_recovery")
    QTest.mouseClick(check, Qt.MouseButton.LeftButton)  # off again for the later shots
    settle(app)


def plan_of_care_dialog(app: QApplication, win: MainWindow) -> None:
    """Plan of care… of DEMO-00001 (the demo gives every twelfth patient a plan)."""
    win.patient_list.selectRow(_row_of(win, "DEMO-00001"))
    settle(app, 800)
    win.record.plan_button.click()
    settle(app, 800)
    dialog = find(app, "planOfCareDialog")
    shoot(dialog, "plan_of_care_dialog")
    dialog.reject()
    settle(app)


def cohorts_page(app: QApplication, win: MainWindow) -> None:
    """The Cohorts page (its tab clicked): 3MBWT after ACL reconstruction, weeks since
    surgery."""
    bar = win.pages.tabBar()
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    settle(app, 600)
    page = win.cohort_page
    assert page is not None and win.pages.currentIndex() == 1
    def choose(name: str, data: object) -> None:  # arrow keys, as a keyboard user picks
        combo = page.findChild(QWidget, name)
        combo.setFocus()
        step = combo.findData(data) - combo.currentIndex()
        for _ in range(abs(step)):
            QTest.keyClick(combo, Qt.Key.Key_Down if step > 0 else Qt.Key.Key_Up)

    # The 3MBWT: the demo's ACL patients do it at every test visit (not the 6-minute walk).
    choose("cohortMeasure", "bwt_3m")
    choose("cohortDiagnosis", Diagnosis.ACL_RECONSTRUCTION.value)
    QTest.mouseClick(page.findChild(QWidget, "cohortShowButton"), Qt.MouseButton.LeftButton)
    settle(app, 1200)
    shoot(win, "cohorts_page")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())
    settle(app)


def patient_dialog(app: QApplication, win: MainWindow) -> None:
    """New patient…, with the birth date typed in the system's short format."""
    win.new_patient_button.click()
    settle(app)
    dialog = find(app, "patientDialog")
    type_into(dialog.mrn, "K-104211")
    type_into(dialog.family, "Okafor")
    type_into(dialog.given, "Ngozi")
    type_into(dialog.dob, "14/03/1981")
    type_into(dialog.phone, "+44 20 7946 0321")
    settle(app)
    shoot(dialog, "patient_dialog")
    dialog.mark_clean()
    dialog.reject()
    settle(app)


def episode_dialog(app: QApplication, win: MainWindow) -> None:
    """New episode… for the selected patient."""
    win.record.new_episode_button.click()
    settle(app)
    dialog = find(app, "episodeDialog")
    type_into(dialog.doctor, "Dr. Meera Shah, orthopaedics")
    settle(app)
    shoot(dialog, "episode_dialog")
    dialog.mark_clean()
    dialog.reject()
    settle(app)


def session_editor(app: QApplication, win: MainWindow) -> None:
    """New session…: a few values typed; then two out of range and Save pressed."""
    win.record.new_session_button.click()
    settle(app, 600)
    editor = find(app, "sessionEditor")
    type_into(editor.duration, "20")
    type_into(editor.distance, "600")
    type_into(editor.speed, "1.8")
    type_into(editor.pain_before, "3")
    type_into(editor.pain_after, "2")
    type_into(editor.rpe, "4")
    settle(app)
    shoot(editor, "session_editor")
    type_into(editor.duration, "900")
    type_into(editor.pain_after, "12")
    editor.save_button.click()
    settle(app)
    shoot(editor, "session_editor_problems")
    editor.mark_clean()
    editor.reject()
    settle(app)


def _pick_test(app: QApplication, editor: QWidget, letters: str) -> None:
    """Pick a test in the test picker by typing its first letters, as Alt+T then typing does."""
    editor.measure.setFocus()
    QTest.keyClicks(editor.measure, letters)
    settle(app, 200)


def knee_entry(app: QApplication, win: MainWindow) -> None:
    """New session…: an IKDC form typed with one item left blank; then a hop test, both legs."""
    win.record.new_session_button.click()
    settle(app, 600)
    editor = find(app, "sessionEditor")
    _pick_test(app, editor, "IKDC")
    # Each answer moves on to the next item by itself; Tab past item 7 leaves it unanswered.
    editor.item_edits[0].setFocus()
    for keys in ("3", "2", "3", "3", "3", "1", None, "3", *"443433322", "7"):
        if keys is None:
            QTest.keyClick(app.focusWidget(), Qt.Key.Key_Tab)
        else:
            QTest.keyClicks(app.focusWidget(), keys)
    settle(app)
    editor._reveal(editor._tests_box)  # noqa: SLF001 (scroll the tests section into view)
    settle(app)
    shoot(editor, "session_editor_questionnaire")
    _pick_test(app, editor, "Single")
    type_into(editor.value, "142", leave=False)
    type_into(editor.other_value, "168", leave=False)
    settle(app)
    shoot(editor, "session_editor_hop_typed")
    QTest.keyClick(editor.other_value, Qt.Key.Key_Return)  # adds both legs
    settle(app)
    editor._reveal(editor._tests_box)  # noqa: SLF001
    settle(app)
    shoot(editor, "session_editor_hop")
    editor.done(0)  # not reject(): the tests added would be "discard?"; nothing is saved
    settle(app)


def blank_forms_dialog(app: QApplication, win: MainWindow) -> None:
    """Record ▸ Blank questionnaire forms…, two forms ticked."""
    win.blank_forms_action.trigger()
    settle(app, 600)
    dialog = find(app, "blankFormsDialog")
    settle(app)
    shoot(dialog, "blank_forms_dialog")
    dialog.reject()
    settle(app)


def conflict_dialog(app: QApplication, win: MainWindow, db: Database) -> None:
    """Edit patient… while another workstation saves the same patient, then Save: the
    conflict dialog that opens."""
    from clinic_app.services.charting import ChartingService

    assert win.record.chart is not None
    patient = win.record.chart.patient
    win.edit_patient_action.trigger()
    settle(app)
    dialog = find(app, "patientDialog")
    type_into(dialog.phone, "+44 20 7946 0999")
    bea = signed_in(db, "bea", "Bea Martin", Role.THERAPIST)
    ChartingService(db, bea).update_patient(
        patient.id, patient.stamp.version, replace(patient.draft, phone="+44 20 7946 0222"))
    settle(app)

    def poll(left: int) -> None:
        box = app.activeModalWidget()
        if box is not None and box.objectName() == "conflictDialog" and box.isVisible():
            settle_quick(app)
            shoot(box, "conflict_dialog")
            box.reject()  # keep editing
        elif left:
            QTimer.singleShot(50, lambda: poll(left - 1))

    QTimer.singleShot(50, lambda: poll(200))
    QTest.keyClick(dialog.phone, Qt.Key.Key_Return)
    settle(app, 800)
    dialog.mark_clean()
    dialog.reject()
    settle(app)


def report_dialogs(app: QApplication, win: MainWindow, tmp: Path) -> None:
    """Export report…, and the message once the report is saved."""
    win.record.export_button.click()
    settle(app, 600)
    dialog = find(app, "reportDialog")
    type_into(dialog.therapist, "Jo Doe, PT", leave=False)
    settle(app)
    shoot(dialog, "report_dialog")

    def saved(box: QWidget) -> None:
        shoot(box, "report_saved")
        assert isinstance(box, QMessageBox)
        box.button(QMessageBox.StandardButton.Ok).click()

    on_modal(app, saved)
    # Save as… would ask for a file name in the system's file dialog; the script names one.
    dialog._generate(tmp / "progress-report.pdf", dialog._done)  # noqa: SLF001
    for _ in range(100):
        settle(app, 100)
        if not shiboken6.isValid(dialog) or not dialog.isVisible():
            break
    settle(app)


def locked_window(app: QApplication, win: MainWindow) -> None:
    """Lock now (Ctrl+L): the whole screen, window hidden behind the unlock prompt."""
    def unlock(dialog: QWidget) -> None:
        settle(app, 300)
        app.primaryScreen().grabWindow(0).save(str(OUT / "locked_window.png"))
        password = dialog.findChild(QWidget, "loginPassword")
        type_into(password, PASSWORD, leave=False)
        QTest.keyClick(password, Qt.Key.Key_Return)

    win.activateWindow()
    on_modal(app, unlock)
    win.lock_action.trigger()
    settle(app)


def admin_dialogs(app: QApplication, win: MainWindow) -> None:
    """Settings (each tab), Move this clinic…, Users…, Audit trail… with an event selected."""
    win.settings_action.trigger()
    settle(app, 600)
    settings = find(app, "settingsDialog")
    type_into(settings.name, "Riverside Physiotherapy")
    type_into(settings.address, "12 Mill Lane", leave=False)
    QTest.keyClick(settings.address, Qt.Key.Key_Return)
    QTest.keyClicks(settings.address, "Riverside RS1 4AB")
    type_into(settings.phone, "+44 20 7946 0000")
    for i in range(settings.tabs.count()):
        settings.tabs.setCurrentIndex(i)
        settle(app)
        label = settings.tabs.tabText(i).lower().replace(" ", "_")
        shoot(settings, f"settings_{label}")
    settings.move_button.click()
    settle(app)
    move = find(app, "moveDialog")
    type_into(move.target, "postgresql://backstep@clinic-server/backstep", leave=False)
    settle(app)
    shoot(move, "move_dialog")
    move.reject()
    settle(app)
    settings.mark_clean()  # nothing is saved: closing asks nothing
    settings.reject()
    settle(app)

    win.users_action.trigger()
    settle(app, 600)
    users = find(app, "usersDialog")
    shoot(users, "users_dialog")
    users.reject()
    settle(app)

    win.audit_action.trigger()
    settle(app, 800)
    audit = find(app, "auditDialog")
    audit.verify_button.click()
    settle(app, 1500)
    audit.table.setFocus()
    # Walk down to the report export: its details pane says what left the building.
    for _ in range(audit.table.rowCount()):
        QTest.keyClick(audit.table, Qt.Key.Key_Down)
        row = audit.table.currentRow()
        if row >= 0 and audit.table.item(row, 3).text() == "export":
            break
    settle(app)
    shoot(audit, "audit_trail")
    audit.reject()
    settle(app)


def import_screenshot(app: QApplication, tmp: Path) -> None:
    """File ▸ Import from CSV… refusing an export with two out-of-range cells."""
    import csv

    from clinic_app.services import interop

    source = Database.open(f"sqlite:///{tmp / 'other.sqlite3'}")
    admin = signed_in(source, "admin", "Clinic Admin", Role.ADMIN)
    seed_demo(source, admin, patients=6)
    interop.export_csv(source, admin, tmp / "export")
    source.close()
    sessions = tmp / "export" / "sessions.csv"
    with sessions.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[2][rows[0].index("duration_min")] = "900"
    rows[5][rows[0].index("pain_before")] = "12"
    with sessions.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    db = Database.open(f"sqlite:///{tmp / 'import.sqlite3'}")
    win = MainWindow(offer_demo=False)
    win.show()
    win.attach(Clinic(db, signed_in(db, "admin", "Clinic Admin", Role.ADMIN)))
    settle(app)
    win.import_action.trigger()
    settle(app)
    dialog = find(app, "importDialog")
    type_into(dialog.path, str(tmp / "export"), leave=False)
    dialog.start()
    while dialog.running:
        settle(app, 50)
    settle(app)
    shoot(dialog, "import_rejected")
    dialog.reject()
    win.close()
    db.close()


if __name__ == "__main__":
    main()
