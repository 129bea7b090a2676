"""The progress report as a user makes it: open from the record (button or Ctrl+P), type the
period, Preview (also with no PDF viewer) and Save as… with a typed file name; what the user
is told, what lands on disk, and that preview files do not outlive the application."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from accounts import as_user
from pypdf import PdfReader
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, dialog, wait_ops

from clinic_app.app import run_gui
from clinic_app.config import AppConfig
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.ui import desktop, messages
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.report_dialog import ReportDialog


@pytest.fixture(autouse=True)
def private_places(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A home folder with Documents, a temp folder, and a recording file opener."""
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    state: dict[str, Any] = {"opened": [], "viewer": True, "home": home, "temp": temp}

    def open_path(path: Path) -> bool:
        state["opened"].append(Path(path))
        return bool(state["viewer"])

    monkeypatch.setattr(desktop, "open_path", open_path)
    return state


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """What ``messages.file_written`` showed (title, text, offers "Open report")."""
    shown: list[tuple[str, str, bool]] = []

    def file_written(parent: Any, title: str, text: str, open_file: bool = True) -> str:
        shown.append((title, text, open_file))
        return ""

    monkeypatch.setattr(messages, "file_written", file_written)
    return shown


def _patient(db: Database) -> None:
    from clinic_app.services.charting import ChartingService

    svc = ChartingService(db, as_user(db, "tester"))
    p = svc.register_patient(PatientDraft("REP-1", "Yılmaz", "Ayşe", date(1985, 5, 5)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                             date(2026, 1, 2)))
    for day, bwt in ((date(2026, 1, 5), 6.0), (date(2026, 2, 2), 5.1)):
        svc.record_session(ep.id, WalkSessionDraft(
            datetime.combine(day, time(10), UTC), WalkMode.TREADMILL, Surface.TREADMILL_BELT,
            duration_min=10.0, distance_m=300.0, speed_m_s=0.5,
        ), [TestResultDraft("bwt_3m", day, bwt)])


def _open_record(window: MainWindow, qtbot: QtBot, db: Database) -> None:
    """Find the patient by MRN and click their row, as a user does."""
    _patient(db)
    window.model.refresh()  # type: ignore[union-attr]  # another workstation added them
    wait_ops(qtbot)
    qtbot.keyClicks(window.search, "REP-1")
    qtbot.waitUntil(lambda: window.model.search_text == "REP-1")  # type: ignore[union-attr]
    wait_ops(qtbot)
    view = window.patient_list
    rect = view.visualRect(window.model.index(0, 0))  # type: ignore[union-attr]
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.record.name_label.text() == "Yılmaz, Ayşe")
    qtbot.waitUntil(window.record.export_button.isEnabled)


def _report_dialog(window: MainWindow, qtbot: QtBot) -> ReportDialog:
    dlg = dialog(window, qtbot, "reportDialog")
    assert isinstance(dlg, ReportDialog)
    qtbot.waitUntil(dlg.save_button.isEnabled, timeout=10_000)
    return dlg


def _type_date(qtbot: QtBot, dlg: QDialog, name: str, text: str) -> None:
    """Click into a date field, select what it holds and type the date over it."""
    edit = dlg.findChild(QWidget, name)
    assert edit is not None, name
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, text)


def _type_in_file_dialog(qtbot: QtBot, name: str, seen: dict[str, str]) -> None:
    """When the save dialog opens, note its folder, type ``name`` and press Enter."""

    def act() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QFileDialog):
            QTimer.singleShot(20, act)  # not open yet: look again
            return
        seen["folder"] = box.directory().absolutePath()
        edit = box.findChild(QLineEdit, "fileNameEdit")
        seen["suggested"] = edit.text()
        edit.selectAll()
        qtbot.keyClicks(edit, name)
        qtbot.keyClick(edit, Qt.Key.Key_Return)

    QTimer.singleShot(0, act)


def test_save_as_with_a_typed_name_says_where_the_file_is(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, private_places: dict[str, Any],
    told: list[tuple[str, str, bool]],
) -> None:
    _open_record(window, qtbot, sqlite_db)
    qtbot.mouseClick(window.record.export_button, Qt.MouseButton.LeftButton)
    dlg = _report_dialog(window, qtbot)
    _type_date(qtbot, dlg, "reportFrom", "2026-01-01")
    _type_date(qtbot, dlg, "reportTo", "2026-02-01")  # leaves out the 2 Feb session and test
    dlg.therapist.setFocus()
    qtbot.keyClicks(dlg.therapist, "Chloe Dubois")  # QTest types ASCII only
    seen: dict[str, str] = {}
    _type_in_file_dialog(qtbot, "knee report", seen)
    qtbot.keyClick(dlg.therapist, Qt.Key.Key_Return)  # Enter generates: Save as… is default
    qtbot.waitUntil(lambda: bool(told), timeout=20_000)
    wait_ops(qtbot)

    documents = private_places["home"] / "Documents"
    assert Path(seen["folder"]) == documents  # not the current working directory
    assert seen["suggested"] == f"REP-1_progress_{date.today()}.pdf"
    out = documents / "knee report.pdf"
    ((title, text, offers_file),) = told
    assert title == "Report saved" and str(out) in text and "1 page" in text and offers_file
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # patient data: owner-only
    reader = PdfReader(out)
    pdf = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    assert "Chloe Dubois" in pdf and "1 Jan 2026 to 1 Feb 2026" in pdf
    assert "6.0 s" in pdf and "5.1 s" not in pdf
    assert not shiboken6.isValid(dlg) or not dlg.isVisible()  # closed after saving
    patient = window.ctx.charting.find_by_mrn("REP-1")  # type: ignore[union-attr]
    with sqlite_db.unit_of_work("tester") as uow:
        exports = [e for e in uow.audit.for_patient(patient.id) if e.action == "export"]  # type: ignore[union-attr]
    assert len(exports) == 1 and "knee report.pdf" in exports[0].detail


def test_preview_without_a_pdf_viewer_shows_the_path_and_is_deleted_on_close(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, private_places: dict[str, Any],
    told: list[tuple[str, str, bool]],
) -> None:
    _open_record(window, qtbot, sqlite_db)
    private_places["viewer"] = False  # e.g. a workstation with no PDF viewer installed
    window.record.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    dlg = _report_dialog(window, qtbot)
    qtbot.mouseClick(dlg.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(told), timeout=20_000)
    wait_ops(qtbot)

    (shown,) = private_places["opened"]
    ((title, text, offers_file),) = told
    assert title == "Preview not shown" and not offers_file
    assert "No PDF viewer could be started" in text and str(shown) in text
    assert "No PDF viewer could be started" in dlg.status.text()
    folder = private_places["temp"] / f"backstep-previews-{os.getuid()}"
    assert shown.parent == folder and shown.exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # owner-only: it holds patient data
    assert "Yılmaz, Ayşe" in (PdfReader(shown).pages[0].extract_text() or "")
    assert dlg.isVisible() and dlg.save_button.isEnabled()

    dlg.reject()
    window.close()  # quitting Backstep
    assert not shown.exists() and list(folder.iterdir()) == []


def test_preview_with_a_viewer_says_so_in_the_dialog(
    window: MainWindow, qtbot: QtBot, sqlite_db: Database, private_places: dict[str, Any],
    told: list[tuple[str, str, bool]],
) -> None:
    _open_record(window, qtbot, sqlite_db)
    qtbot.mouseClick(window.record.export_button, Qt.MouseButton.LeftButton)
    dlg = _report_dialog(window, qtbot)
    qtbot.mouseClick(dlg.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(private_places["opened"]), timeout=20_000)
    wait_ops(qtbot)
    assert told == []  # the viewer shows it: no extra box to dismiss
    assert "opened in your PDF viewer" in dlg.status.text()
    assert "deleted when Backstep closes" in dlg.status.text()


def test_previews_left_by_a_crash_are_deleted_at_the_next_start(
    qtbot: QtBot, tmp_path: Path, fake_messages: FakeMessages, private_places: dict[str, Any]
) -> None:
    folder = desktop.preview_dir()
    left = folder / "REP-1_progress_2026-02-02.pdf"
    left.write_bytes(b"%PDF-1.4 left behind")
    url = f"sqlite:///{tmp_path / 'ok.sqlite3'}"
    fake_messages.answers["ask"] = [False]  # decline the demo data

    still_there: list[bool] = []

    def close_when_ready() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if wins and wins[0].ctx is not None and fake_messages.called("ask"):
            still_there.append(left.exists())
            wins[0].close()
        else:
            QTimer.singleShot(20, close_when_ready)

    QTimer.singleShot(0, close_when_ready)
    assert run_gui(AppConfig(db_url=url, user="tester")) == 0
    assert still_there == [False]  # gone before the user could open anything
    assert list(folder.iterdir()) == []


_REAL_OPEN = desktop.open_path  # kept before the autouse fixture replaces it


@pytest.mark.parametrize(("script", "expected"), [
    ("exit 3", False),  # xdg-open: no application registered for PDF
    ("exit 0", True),
    ("{sleep} 3", True),  # still showing the file after the grace period
    (None, False),  # no xdg-open at all
])
def test_open_path_reports_when_nothing_could_show_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    script: str | None, expected: bool,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if script is not None:
        opener = bin_dir / "xdg-open"
        body = script.format(sleep=shutil.which("sleep"))
        opener.write_text(f"#!/bin/sh\necho \"xdg-open: cannot open $1\" >&2\n{body}\n")
        opener.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    report = tmp_path / "PAT-9_progress.pdf"
    report.write_bytes(b"%PDF-1.4")
    assert _REAL_OPEN(report) is expected
    assert "PAT-9" not in capfd.readouterr().err  # the file name never reaches the terminal


def test_file_written_offers_open_folder(qtbot: QtBot) -> None:
    clicked: list[str] = []

    def press_open_folder() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, press_open_folder)
            return
        clicked.append(box.text())
        button = next(b for b in box.buttons() if b.text() == "Open folder")  # type: ignore[attr-defined]
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, press_open_folder)
    choice = messages.file_written(None, "Report saved", "Saved to:\n/some/where.pdf")
    assert choice == messages.OPEN_FOLDER and clicked == ["Saved to:\n/some/where.pdf"]


def test_a_planted_link_is_neither_used_nor_emptied(
    private_places: dict[str, Any], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not Backstep's")
    (private_places["temp"] / f"backstep-previews-{os.getuid()}").symlink_to(elsewhere)
    folder = desktop.preview_dir()
    assert folder.parent == private_places["temp"] and not folder.is_symlink()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder != elsewhere
    assert desktop.clear_previews() == 0 and (elsewhere / "keep.txt").exists()


def test_save_dialog_starts_at_home_when_there_is_no_documents_folder(
    private_places: dict[str, Any], qtbot: QtBot
) -> None:
    home = private_places["home"]
    assert desktop.documents_dir() == home / "Documents"
    (home / "Documents").rmdir()
    assert desktop.documents_dir() == home  # never the current working directory
