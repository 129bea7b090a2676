"""A save made while another workstation imports waits, saying why, and then stores."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from pytestqt.qtbot import QtBot
from test_typed_patient import open_new_patient
from ui_helpers import closed, save_with_ctrl_enter, tab, type_here

from clinic_app.persistence import jobs
from clinic_app.persistence.uow import Database
from clinic_app.ui.main_window import MainWindow


def test_save_during_another_workstations_import_waits_with_a_note_then_stores(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, tmp_path: Path
) -> None:
    path = sqlite_db.sqlite_file
    assert path is not None
    pd = open_new_patient(window, qtbot)
    type_here(qtbot, "w-1")
    tab(qtbot)
    type_here(qtbot, "Lindqvist")
    tab(qtbot)
    type_here(qtbot, "Maja")
    tab(qtbot)
    type_here(qtbot, "1979-11-02")
    # Another workstation's import: it announces itself and holds the write lock.
    other = sqlite3.connect(str(path), isolation_level=None)
    with jobs.announced(path, "import", "anna", "ws-2"):
        other.execute("BEGIN IMMEDIATE")
        try:
            save_with_ctrl_enter(qtbot)
            note = pd.error_label  # type: ignore[attr-defined]
            qtbot.waitUntil(lambda: pd.waiting_note, timeout=10_000)  # type: ignore[attr-defined]
            assert note.isVisible()
            assert "Waiting for the database: anna is importing" in note.text()
            assert "kept" in note.text()
            assert pd.isVisible() and pd.saving  # type: ignore[attr-defined]
            pd.grab().save(str(tmp_path / "waiting.png"))
        finally:
            other.execute("COMMIT")
            other.close()
    closed(qtbot, pd)
    stored = window.ctx.charting.find_by_mrn("W-1")  # type: ignore[union-attr]
    assert stored is not None
    assert (stored.draft.family_name, stored.draft.date_of_birth) == (
        "Lindqvist", date(1979, 11, 2))
