"""Record › Blank questionnaire forms: choose with the keyboard, type the file name, Enter
writes the PDF; read back with pypdf."""

from __future__ import annotations

import re
from pathlib import Path

from pypdf import PdfReader
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from ui_helpers import dialog, focus_on, key_type, wait_ops

from clinic_app.ui.main_window import MainWindow


def test_blank_forms_are_written_from_the_menu(window: MainWindow, qtbot: QtBot,
                                               tmp_path: Path) -> None:
    window.blank_forms_action.trigger()  # Record › Blank questionnaire forms…
    dlg = dialog(window, qtbot, "blankFormsDialog")
    forms = focus_on(qtbot, dlg, "blankFormsList")
    forms.setCurrentRow(0)
    qtbot.keyClick(forms, Qt.Key.Key_Down)  # KOOS -> LEFS
    qtbot.keyClick(forms, Qt.Key.Key_Space)  # untick LEFS
    assert "lefs" not in dlg.chosen() and "ikdc" in dlg.chosen()  # type: ignore[attr-defined]
    target = tmp_path / "sheets.pdf"
    field = key_type(qtbot, dlg, "blankFormsPath", str(target))
    qtbot.keyClick(field, Qt.Key.Key_Return)
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: dlg.written is not None)  # type: ignore[attr-defined]
    assert "Written" in dlg.status.text()  # type: ignore[attr-defined]
    reader = PdfReader(target)
    # KOOS (two pages), IKDC, KOS-ADLS, Lysholm, Kujala, Tegner, ACL-RSI
    assert len(reader.pages) == 8
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "Lower Extremity Functional Scale" not in text
    assert "IKDC Subjective Knee Evaluation Form" in text and "9b daily activity" in text
    assert "0 1 2 3 4 5 6 7 8 9 10" in text  # the 0-10 answer scale of IKDC item 2
    assert "Kujala Anterior Knee Pain Scale" in text and "4 stairs 0 5 8 10" in text
    dlg.reject()
