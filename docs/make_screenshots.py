"""Render the README screenshots from demo data.

Under Xvfb (how the committed images were made; Qt's xcb plugin needs libxcb-cursor0):

    Xvfb :97 -screen 0 1440x900x24 &
    DISPLAY=:97 QT_QPA_PLATFORM=xcb python docs/make_screenshots.py

Without a display it falls back to Qt's offscreen platform.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from clinic_app.domain.permissions import Principal  # noqa: E402
from clinic_app.domain.records import Role  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.demo import seed_demo  # noqa: E402
from clinic_app.ui import ops  # noqa: E402
from clinic_app.ui.main_window import MainWindow  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def settle(app: QApplication, ms: int = 400) -> None:
    ops.wait_all()
    loop_done = [False]
    QTimer.singleShot(ms, lambda: loop_done.__setitem__(0, True))
    while not loop_done[0]:
        app.processEvents()
    ops.wait_all()
    app.processEvents()


PASSWORD = "screenshot password"


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


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp())
    os.environ["CLINIC_APP_DATA_DIR"] = str(tmp)
    db = Database.open(f"sqlite:///{tmp / 'demo.sqlite3'}")
    jo = signed_in(db, "jdoe", "Jo Doe", Role.THERAPIST)
    seed_demo(db, jo, patients=40)
    win = MainWindow(offer_demo=False)
    win.resize(1360, 860)
    win.show()
    win.attach(db, jo)
    settle(app)
    win.patient_list.selectRow(3)
    settle(app, 800)
    OUT.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(OUT / "main_window.png"))

    record = win.record
    record.tabs.setCurrentIndex(1)
    settle(app, 1200)
    win.grab().save(str(OUT / "progress_tab.png"))
    record.tabs.setCurrentIndex(0)

    record.new_session()
    settle(app, 600)
    editor = next(w for w in app.topLevelWidgets() if w.objectName() == "sessionEditor")
    editor.grab().save(str(OUT / "session_editor.png"))
    editor.reject()
    settle(app)

    record.export_button.click()
    settle(app, 600)
    dialog = next(w for w in app.topLevelWidgets() if w.objectName() == "reportDialog")
    dialog.grab().save(str(OUT / "report_dialog.png"))
    dialog.reject()
    settle(app)
    win.close()
    db.close()
    import_screenshot(app, tmp)


def import_screenshot(app: QApplication, tmp: Path) -> None:
    """File ▸ Import from CSV… refusing an export with two out-of-range cells."""
    import csv

    from clinic_app import interop

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
    win.attach(db, signed_in(db, "admin", "Clinic Admin", Role.ADMIN))
    settle(app)
    win.import_action.trigger()
    settle(app)
    dialog = next(w for w in app.topLevelWidgets() if w.objectName() == "importDialog")
    dialog.path.setText(str(tmp / "export"))
    dialog.start()
    while dialog.running:
        settle(app, 50)
    settle(app)
    dialog.grab().save(str(OUT / "import_rejected.png"))
    dialog.reject()
    win.close()
    db.close()


if __name__ == "__main__":
    main()
