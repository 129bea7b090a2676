"""The report dialog: period, therapist, Save as… (patched), generation off the GUI thread."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from accounts import as_user
from pypdf import PdfReader  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from clinic_app.domain.records import (  # noqa: E402
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database  # noqa: E402
from clinic_app.services.charting import ChartingService  # noqa: E402
from clinic_app.services.facade import Clinic
from clinic_app.ui import desktop, messages, ops, report_dialog  # noqa: E402
from clinic_app.ui.report_dialog import ReportDialog  # noqa: E402

ACTOR = "therapist1"


@pytest.fixture
def patient_id(sqlite_db: Database):  # type: ignore[no-untyped-def]
    svc = ChartingService(sqlite_db, as_user(sqlite_db, ACTOR))
    p = svc.register_patient(PatientDraft("DLG-1", "Yılmaz", "Ayşe", date(1985, 5, 5)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                             date(2026, 1, 2)))
    for day, bwt in ((date(2026, 1, 5), 6.0), (date(2026, 2, 2), 5.1)):
        svc.record_session(ep.id, WalkSessionDraft(
            datetime.combine(day, time(10), UTC), WalkMode.TREADMILL, Surface.TREADMILL_BELT,
            duration_min=10.0, distance_m=300.0, speed_m_s=0.5,
        ), [TestResultDraft("bwt_3m", day, bwt)])
    return p.id


@pytest.fixture
def seams(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, list[Any]]:
    """Patch the file dialog, the system viewer and the message boxes; record their calls."""
    calls: dict[str, list[Any]] = {"save": [], "open": [], "warn": []}

    def save(parent: Any, title: str, suggested: str, filt: str) -> tuple[str, str]:
        calls["save"].append(suggested)
        return str(tmp_path / "chosen report"), filt  # no suffix: the dialog adds .pdf

    def open_path(path: Path) -> bool:
        calls["open"].append(str(path))
        return True

    def file_written(parent: Any, title: str, text: str, open_file: bool = True) -> str:
        return messages.OPEN_FILE  # the user asks to see the saved report

    monkeypatch.setattr(report_dialog.QFileDialog, "getSaveFileName", staticmethod(save))
    monkeypatch.setattr(desktop, "open_path", open_path)
    monkeypatch.setattr(messages, "file_written", file_written)
    monkeypatch.setattr(messages, "warn", lambda *a, **k: calls["warn"].append(a))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return calls


def _type_date(qtbot: QtBot, field: Any, text: str) -> None:
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, text)


def _open(qtbot: QtBot, db: Database, pid: Any) -> ReportDialog:
    dlg = ReportDialog(None, Clinic(db, as_user(db, ACTOR)), pid)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(dlg.save_button.isEnabled, timeout=10_000)
    return dlg


def test_save_generates_audits_and_opens(
    qtbot: QtBot, sqlite_db: Database, patient_id: Any, seams: dict[str, list[Any]],
    tmp_path: Path,
) -> None:
    dlg = _open(qtbot, sqlite_db, patient_id)
    assert dlg.objectName() == "reportDialog"
    assert "Yılmaz, Ayşe" in dlg.heading.text() and "DLG-1" in dlg.heading.text()
    _type_date(qtbot, dlg.date_from, "2026-01-01")
    _type_date(qtbot, dlg.date_to, "2026-01-31")  # excludes the 2 Feb session and test
    dlg.therapist.setText("Chloé Dubois")
    dlg.save_button.click()
    qtbot.waitUntil(lambda: bool(seams["open"]) or bool(seams["warn"]), timeout=20_000)
    ops.wait_all()
    assert seams["warn"] == []
    out = tmp_path / "chosen report.pdf"
    assert seams["open"] == [str(out)] and seams["save"][0].endswith("DLG-1_progress_"
                                                                     f"{date.today()}.pdf")
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(out).pages)
    assert "Yılmaz, Ayşe" in text and "Chloé Dubois" in text
    assert "1 Jan 2026 to 31 Jan 2026" in text
    assert "6.0 s" in text and "5.1 s" not in text
    assert dlg.outcome is not None and dlg.outcome.path == out
    with sqlite_db.unit_of_work(ACTOR) as uow:
        exports = [e for e in uow.audit.for_patient(patient_id) if e.action == "export"]
    assert len(exports) == 1 and "chosen report.pdf" in exports[0].detail


def test_reversed_period_shows_the_validation_message(
    qtbot: QtBot, sqlite_db: Database, patient_id: Any, seams: dict[str, list[Any]],
    tmp_path: Path,
) -> None:
    dlg = _open(qtbot, sqlite_db, patient_id)
    _type_date(qtbot, dlg.date_from, "2026-02-01")
    _type_date(qtbot, dlg.date_to, "2026-01-01")
    dlg.save_button.click()
    qtbot.waitUntil(lambda: bool(seams["warn"]), timeout=20_000)
    ops.wait_all()
    assert "Period" in seams["warn"][0][2]
    assert seams["open"] == [] and not (tmp_path / "chosen report.pdf").exists()
    qtbot.waitUntil(dlg.save_button.isEnabled)  # can try again


def test_all_records_disables_the_dates(
    qtbot: QtBot, sqlite_db: Database, patient_id: Any, seams: dict[str, list[Any]]
) -> None:
    dlg = _open(qtbot, sqlite_db, patient_id)
    dlg.all_records.setChecked(True)
    assert not dlg.date_from.isEnabled() and dlg.period() == (None, None)
    dlg.all_records.setChecked(False)
    assert dlg.date_to.isEnabled() and dlg.period()[0] is not None


def test_preview_opens_a_private_copy_and_keeps_the_dialog_open(
    qtbot: QtBot, sqlite_db: Database, patient_id: Any, seams: dict[str, list[Any]],
) -> None:
    dlg = _open(qtbot, sqlite_db, patient_id)
    dlg.preview_button.click()
    qtbot.waitUntil(lambda: bool(seams["open"]) or bool(seams["warn"]), timeout=20_000)
    ops.wait_all()
    assert seams["warn"] == [] and seams["save"] == []  # no file dialog for a preview
    shown = Path(seams["open"][0])
    assert shown.parent.name.startswith("backstep-previews-")
    assert "Yılmaz, Ayşe" in PdfReader(shown).pages[0].extract_text()
    assert dlg.isVisible() and dlg.save_button.isEnabled()
    assert dlg.preview_outcome is not None and dlg.preview_outcome.pages >= 1
    with sqlite_db.unit_of_work(ACTOR) as uow:
        exports = [e for e in uow.audit.for_patient(patient_id) if e.action == "export"]
    assert len(exports) == 1 and shown.name in exports[0].detail
