"""File ▸ Import from CSV…: progress while checking and storing, problems listed, Cancel.

The files come from a real CSV export of a demo clinic in another SQLite database.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from accounts import as_user
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from ui_helpers import dialog, typed, wait_ops

from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services import interop
from clinic_app.services.charting import ChartingService
from clinic_app.services.demo import seed_demo
from clinic_app.services.facade import Clinic
from clinic_app.ui import ops
from clinic_app.ui.import_dialog import ImportDialog
from clinic_app.ui.main_window import MainWindow


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """A Backstep CSV export (folder) of 3 demo patients from another clinic database."""
    other = Database.open(f"sqlite:///{tmp_path / 'other.sqlite3'}", state_dir=tmp_path)
    try:
        seed_demo(other, as_user(other, "admin"), patients=3)
        interop.export_csv(other, as_user(other, "admin"), tmp_path / "export")
    finally:
        other.close()
    return tmp_path / "export"


def open_import(window: MainWindow, qtbot: QtBot, source: Path) -> ImportDialog:
    assert window.import_action.isEnabled()
    window.import_action.trigger()
    dlg = dialog(window, qtbot, "importDialog")
    assert isinstance(dlg, ImportDialog)
    assert not dlg.import_button.isEnabled()  # nothing chosen yet
    typed(qtbot, dlg, "importPath", str(source))
    return dlg


def patients_in(db: Database) -> int:
    return ChartingService(db, as_user(db, "t")).count_patients(include_in_error=True)


def test_import_shows_each_step_then_the_new_patients(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, exported: Path
) -> None:
    dlg = open_import(window, qtbot, exported)
    steps: list[str] = []
    dlg.progress.valueChanged.connect(lambda _v: steps.append(dlg.phase.text()))
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    assert dlg.running and dlg.close_button.text() == "Cancel import"
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
    wait_ops(qtbot)
    assert dlg.summary is not None and dlg.summary.patients == 3
    assert dlg.phase.text().startswith("Imported 3 patients, 3 episodes of care, ")
    assert any(s.startswith("Step 1 of 3: Checking rows") for s in steps)
    assert any(s.startswith("Step 3 of 3: Storing rows") and "rows)" in s for s in steps)
    assert patients_in(sqlite_db) == 3
    assert window.model is not None and window.model.total == 3  # the list was refreshed
    assert dlg.close_button.text() == "Close"


def test_a_bad_row_is_listed_and_nothing_is_imported(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, exported: Path
) -> None:
    sessions = exported / "sessions.csv"
    with sessions.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("duration_min")
    rows[2][column] = "900"  # a 15-hour retro-walking session
    with sessions.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    dlg = open_import(window, qtbot, exported)
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
    assert dlg.phase.text().startswith("Nothing was imported: 1 problem(s) in 1 row(s).")
    assert dlg.problems.isVisible()
    listed = dlg.problems.toPlainText()
    assert listed.startswith("sessions.csv row 3, column duration_min:"), listed
    assert patients_in(sqlite_db) == 0


def test_cancel_while_storing_rolls_everything_back(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, exported: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dlg = open_import(window, qtbot, exported)
    report = ops.Job.progress

    def press_cancel_once_storing(job: ops.Job, *values: object) -> None:
        # Runs in the worker, at the moment the rows start being written (inside the
        # transaction): as if the user pressed Cancel right then.
        if values[0] == "storing":
            dlg._cancel.set()
        report(job, *values)

    monkeypatch.setattr(ops.Job, "progress", press_cancel_once_storing)
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
    assert dlg.phase.text() == "Import cancelled: nothing was imported."
    assert dlg.summary is None
    assert patients_in(sqlite_db) == 0


def test_cancel_button_and_escape_do_not_close_a_running_import(
    window: MainWindow, qtbot: QtBot, exported: Path
) -> None:
    dlg = open_import(window, qtbot, exported)
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)  # "Cancel import"
    assert dlg.isVisible()
    qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
    assert "nothing was imported" in dlg.phase.text() or "Cancel took effect" in dlg.phase.text()
    qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)  # now "Close"
    qtbot.waitUntil(lambda: not dlg.isVisible())


def test_missing_path_is_explained(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    dlg = open_import(window, qtbot, tmp_path / "nowhere")
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    assert not dlg.running
    assert "does not exist" in dlg.phase.text()


def test_front_desk_cannot_import(qtbot: QtBot, sqlite_db: Database) -> None:
    win = MainWindow(actor="desk", offer_demo=False)
    qtbot.addWidget(win)
    win.attach(Clinic(sqlite_db, as_user(sqlite_db, "desk", Role.FRONT_DESK)))
    wait_ops(qtbot)
    assert not win.import_action.isEnabled()
    win.close()
