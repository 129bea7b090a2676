"""The automatic backup runs off the GUI thread and shows its progress in the status bar."""

from __future__ import annotations

from accounts import as_user
from pytestqt.qtbot import QtBot
from ui_helpers import wait_ops

from clinic_app.config import backup_dir
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services.facade import Clinic
from clinic_app.ui.main_window import MainWindow


def test_automatic_backup_progress_then_its_file_in_the_status_bar(
    qtbot: QtBot, sqlite_db: Database
) -> None:
    win = MainWindow(offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    notes: list[str] = []
    show = win.status_note.show_note
    win.status_note.show_note = lambda text, ms=0: (notes.append(text), show(text, ms))  # type: ignore[method-assign]
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "kim", Role.THERAPIST)))
    wait_ops(qtbot)
    written = list(backup_dir().glob("auto-*.sqlite3"))
    assert len(written) == 1
    progress = [n for n in notes if n.startswith("Today's automatic backup is being written")]
    assert progress and progress[-1].endswith("100 %")
    assert notes[-1] == f"Today's automatic backup was written to {written[0]}"
    win.close()
