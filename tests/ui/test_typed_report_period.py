"""The report period typed from the keyboard in the locale's short format; a date that is not one
is named before any file is asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, active_dialog, key_type, system_locale, wait_ops

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.ui import messages, report_dialog
from clinic_app.ui.main_window import MainWindow


@pytest.fixture
def opened(window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> tuple[QDialog, list[str], list[str]]:
    """A charted patient's report dialog opened with "Export report…"; file seams recorded."""
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("R-1", "Novak", "Eva", date(1970, 1, 9)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                             date(2026, 1, 2)))
    for day, bwt in ((date(2026, 1, 5), 6.0), (date(2026, 2, 2), 5.1)):
        svc.record_session(ep.id, WalkSessionDraft(datetime.combine(day, time(10), UTC)),
                           [TestResultDraft("bwt_3m", day, bwt)])
    saved: list[str] = []
    shown: list[str] = []

    def save(parent: Any, title: str, suggested: str, filt: str) -> tuple[str, str]:
        saved.append(suggested)
        return str(tmp_path / "report.pdf"), filt

    monkeypatch.setattr(report_dialog.QFileDialog, "getSaveFileName", staticmethod(save))
    def told(parent: Any, title: str, text: str, open_file: bool = True) -> str:
        shown.append(str(tmp_path / "report.pdf") if str(tmp_path) in text else text)
        return ""

    monkeypatch.setattr(messages, "file_written", told)
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    button = window.record.export_button
    qtbot.waitUntil(lambda: window.record.chart is not None and button.isEnabled(),
                    timeout=10_000)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dlg = active_dialog(window, qtbot, "reportDialog")
    qtbot.waitUntil(dlg.save_button.isEnabled, timeout=10_000)  # type: ignore[attr-defined]
    return dlg, saved, shown


def test_period_typed_in_the_locale_format_limits_the_report(
    opened: tuple[QDialog, list[str], list[str]], qtbot: QtBot, tmp_path: Path
) -> None:
    dlg, saved, shown = opened
    with system_locale("en_GB"):
        key_type(qtbot, dlg, "reportFrom", "01/01/2026")
        key_type(qtbot, dlg, "reportTo", "31/01/2026")
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # "Save as…" is default
        qtbot.waitUntil(lambda: bool(shown), timeout=20_000)
        wait_ops(qtbot)
    assert shown == [str(tmp_path / "report.pdf")]
    text = " ".join(" ".join((p.extract_text() or "").split())
                    for p in PdfReader(shown[0]).pages)
    assert "1 Jan 2026 to 31 Jan 2026" in text
    assert "6.0 s" in text and "5.1 s" not in text


def test_a_period_date_that_is_not_one_is_named_before_any_file_is_asked(
    opened: tuple[QDialog, list[str], list[str]], qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    dlg, saved, shown = opened
    fake_messages.expect_warnings = True
    with system_locale("de_DE"):
        field = key_type(qtbot, dlg, "reportFrom", "31.02.2026")
        qtbot.keyClick(field, Qt.Key.Key_Return)
    ((_parent, title, text),) = fake_messages.called("warn")
    assert text.startswith("Period from: '31.02.2026' is not a date")
    assert saved == [] and shown == []
    assert QApplication.focusWidget() is field and dlg.isVisible()
