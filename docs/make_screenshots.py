"""Render the README screenshots from demo data.

Under Xvfb (how the committed images were made; Qt's xcb plugin needs libxcb-cursor0):

    Xvfb :97 -screen 0 1280x800x24 &
    DISPLAY=:97 QT_QPA_PLATFORM=xcb python docs/make_screenshots.py

The main window is shot at 1280x800, a common laptop screen. ``--progress-sizes 1280x720
1366x768`` also writes the progress tab at those window sizes (``progress_tab_WxH.png``)
to check that nothing is cut off there. Without a display it falls back to Qt's
offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSize, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from clinic_app.domain.permissions import Principal  # noqa: E402
from clinic_app.domain.records import Diagnosis, Role  # noqa: E402
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.demo import seed_demo  # noqa: E402
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--progress-sizes", nargs="*", type=_size, default=[],
                    metavar="WxH", help="also shoot the progress tab at these window sizes")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp())
    os.environ["CLINIC_APP_DATA_DIR"] = str(tmp)
    db = Database.open(f"sqlite:///{tmp / 'demo.sqlite3'}")
    jo = signed_in(db, "jdoe", "Jo Doe", Role.THERAPIST)
    seed_demo(db, jo, patients=40)
    win = MainWindow(offer_demo=False)
    win.resize(WINDOW)
    win.show()
    win.attach(db, jo)
    settle(app)
    win.patient_list.selectRow(_acl_row(win))
    settle(app, 800)
    OUT.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(OUT / "main_window.png"))

    record = win.record
    record.tabs.setCurrentIndex(1)
    settle(app, 1200)
    win.grab().save(str(OUT / "progress_tab.png"))
    for size in args.progress_sizes:
        win.resize(size)
        settle(app, 800)
        win.grab().save(str(OUT / f"progress_tab_{size.width()}x{size.height()}.png"))
    win.resize(WINDOW)
    settle(app)
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
