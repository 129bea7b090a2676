"""The episode-of-care dialog driven from the keyboard: dates typed from empty in ISO and the
locale's short format, saved with the keyboard, the stored row read back."""

from __future__ import annotations

import contextlib
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from layout_check import fits_screen, open_size, problems
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication, QDialog, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import (
    FakeMessages,
    active_dialog,
    closed,
    focus_on,
    key_type,
    press_enter,
    save_with_ctrl_enter,
    system_locale,
    tab,
    tab_order,
    type_here,
    wait_ops,
)

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    SurgeryType,
)
from clinic_app.ui.main_window import MainWindow

EPISODE_TAB_ORDER = [
    "diagnosisCombo", "sideCombo", "startDateEdit", "surgeryDateEdit", "surgeryTypeCombo",
    "referringDoctorEdit", "therapistCombo", "endDateEdit", "episodeNotesEdit", "saveButton",
]


@pytest.fixture
def patient_shown(window: MainWindow, qtbot: QtBot) -> MainWindow:
    """One registered patient, selected in the list and shown in the record view."""
    svc = window.ctx.charting  # type: ignore[union-attr]
    svc.register_patient(PatientDraft("P-1", "Silva", "Ana", date(1975, 9, 30)))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.chart is not None, timeout=10_000)
    return window


def open_new_episode(window: MainWindow, qtbot: QtBot) -> QDialog:
    qtbot.waitUntil(window.record.new_episode_button.isEnabled, timeout=10_000)
    qtbot.mouseClick(window.record.new_episode_button, Qt.MouseButton.LeftButton)
    return active_dialog(window, qtbot, "episodeDialog")


def open_edit_episode(window: MainWindow, qtbot: QtBot) -> QDialog:
    qtbot.waitUntil(window.record.edit_episode_button.isEnabled, timeout=10_000)
    qtbot.mouseClick(window.record.edit_episode_button, Qt.MouseButton.LeftButton)
    return active_dialog(window, qtbot, "episodeDialog")


def _short(d: date, locale: str) -> str:
    return {"en_GB": f"{d:%d/%m/%Y}", "de_DE": f"{d:%d.%m.%y}", "iso": d.isoformat()}[locale]


@pytest.mark.parametrize("locale", ["en_GB", "de_DE"])
def test_new_episode_every_field_typed_and_saved_with_ctrl_enter(
    patient_shown: MainWindow, qtbot: QtBot, locale: str
) -> None:
    window = patient_shown
    as_user(window.ctx.clinic._db, "mira", Role.THERAPIST, "Mira Okafor")  # type: ignore[union-attr]
    start = date.today() - timedelta(days=40)
    surgery = start - timedelta(days=12)
    end = date.today() - timedelta(days=1)
    with system_locale(locale):
        ed = open_new_episode(window, qtbot)
        therapists = ed.findChild(QWidget, "therapistCombo")
        qtbot.waitUntil(lambda: therapists.count() == 2)  # type: ignore[union-attr]
        surgery_field = ed.findChild(QWidget, "surgeryDateEdit")
        assert surgery_field.text() == "" and surgery_field.accessibleName() == "Surgery date"  # type: ignore[union-attr]
        assert ed.findChild(QWidget, "weeksLabel").text() == "no surgery"  # type: ignore[union-attr]
        assert QApplication.focusWidget() is ed.findChild(QWidget, "diagnosisCombo")
        type_here(qtbot, "ACL")
        tab(qtbot)
        type_here(qtbot, "R")
        tab(qtbot)  # the start date (prefilled today) is selected as Tab enters it
        type_here(qtbot, _short(start, locale))
        tab(qtbot)
        type_here(qtbot, _short(surgery, "iso"))  # ISO works whatever the locale
        weeks = ed.findChild(QWidget, "weeksLabel").text()  # type: ignore[union-attr]
        assert weeks.endswith("weeks since surgery")
        tab(qtbot)
        # Type-ahead finds the first ACL operation, the arrows the graft (a space would
        # open the list, as in any closed combo box).
        type_here(qtbot, "ACL")
        for _ in range(2):
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
        tab(qtbot)
        type_here(qtbot, "Dr. Moreau")
        tab(qtbot)
        type_here(qtbot, "Mira")
        tab(qtbot)
        type_here(qtbot, _short(end, locale))
        tab(qtbot)
        type_here(qtbot, "Referred after ACL graft")
        save_with_ctrl_enter(qtbot)
        closed(qtbot, ed)
    svc = window.ctx.charting  # type: ignore[union-attr]
    (episode,) = svc.episodes(window.record.chart.patient.id)  # type: ignore[union-attr]
    assert episode.draft == EpisodeDraft(
        Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT, start, surgery, "Dr. Moreau", end,
        "Referred after ACL graft", SurgeryType.ACL_QUADRICEPS, "mira",
    )


def test_surgery_type_by_arrows_and_its_date_rule(
    patient_shown: MainWindow, qtbot: QtBot
) -> None:
    """Arrows step through the operations; a type without a surgery date is refused naming
    both fields, and nothing is stored; the opener is the treating therapist by default."""
    window = patient_shown
    ed = open_new_episode(window, qtbot)
    kinds = focus_on(qtbot, ed, "surgeryTypeCombo")
    for _ in range(2):
        qtbot.keyClick(kinds, Qt.Key.Key_Down)
    assert kinds.currentData() == SurgeryType.ACL_PATELLAR.value  # type: ignore[union-attr]
    save_with_ctrl_enter(qtbot)
    wait_ops(qtbot)
    assert ed.isVisible()
    shown = ed.findChild(QWidget, "formError").text()  # type: ignore[union-attr]
    assert "Surgery type" in shown and "Surgery date" in shown
    assert window.ctx.charting.episodes(window.record.chart.patient.id) == []  # type: ignore[union-attr]
    key_type(qtbot, ed, "surgeryDateEdit", date.today().isoformat())
    save_with_ctrl_enter(qtbot)
    closed(qtbot, ed)
    (episode,) = window.ctx.charting.episodes(window.record.chart.patient.id)  # type: ignore[union-attr]
    assert episode.draft.surgery_type is SurgeryType.ACL_PATELLAR
    assert episode.draft.treating_therapist == "tester"


def test_blank_surgery_and_end_dates_store_none(patient_shown: MainWindow, qtbot: QtBot) -> None:
    window = patient_shown
    ed = open_new_episode(window, qtbot)
    type_here(qtbot, "Knee")
    key_type(qtbot, ed, "referringDoctorEdit", "Dr. Lee")
    press_enter(qtbot)
    closed(qtbot, ed)
    (episode,) = window.ctx.charting.episodes(window.record.chart.patient.id)  # type: ignore[union-attr]
    assert episode.draft.diagnosis == Diagnosis.KNEE_OSTEOARTHRITIS
    assert episode.draft.start_date == date.today()
    assert episode.draft.surgery_date is None and episode.draft.end_date is None


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [("surgeryDateEdit", "31.02.2026", "Surgery date: '31.02.2026' is not a date"),
     ("startDateEdit", "", "Start date: is required"),
     ("endDateEdit", "soon", "End date: 'soon' is not a date"),
     ("startDateEdit", "1901-01-01", "Start date: 1901-01-01 is out of range")],
)
def test_bad_date_names_the_field_and_stores_nothing(
    patient_shown: MainWindow, qtbot: QtBot, fake_messages: FakeMessages, field: str,
    typed: str, message: str,
) -> None:
    window = patient_shown
    with system_locale("de_DE"):
        ed = open_new_episode(window, qtbot)
        w = key_type(qtbot, ed, field, typed)
        press_enter(qtbot)
        wait_ops(qtbot)
        error = ed.findChild(QWidget, "formError")
        assert ed.isVisible() and error.isVisible()  # type: ignore[union-attr]
        assert error.text().startswith(message), error.text()  # type: ignore[union-attr]
        assert QApplication.focusWidget() is w
        fake_messages.answers["ask_discard"] = [True]
        qtbot.keyClick(w, Qt.Key.Key_Escape)
        closed(qtbot, ed)
    assert len(fake_messages.called("ask_discard")) == 1
    assert window.ctx.charting.episodes(window.record.chart.patient.id) == []  # type: ignore[union-attr]


def test_edit_episode_types_an_end_date(patient_shown: MainWindow, qtbot: QtBot,
                                        fake_messages: FakeMessages) -> None:
    window = patient_shown
    fake_messages.answers["ask"] = [False]  # closing offers the discharge summary: not now
    svc = window.ctx.charting  # type: ignore[union-attr]
    pid = window.record.chart.patient.id  # type: ignore[union-attr]
    start = date.today() - timedelta(days=90)
    svc.open_episode(pid, EpisodeDraft(Diagnosis.ANTERIOR_KNEE_PAIN, Side.LEFT, start))
    window.record.show_patient(pid)
    wait_ops(qtbot)
    end = date.today() - timedelta(days=3)
    with system_locale("en_GB"):
        ed = open_edit_episode(window, qtbot)
        assert ed.findChild(QWidget, "startDateEdit").text() == start.isoformat()  # type: ignore[union-attr]
        key_type(qtbot, ed, "endDateEdit", f"{end:%d/%m/%Y}")
        press_enter(qtbot)
        closed(qtbot, ed)
    (episode,) = svc.episodes(pid)
    assert episode.draft.end_date == end and episode.draft.start_date == start
    assert episode.stamp.version == 2
    assert [a[1] for a in fake_messages.called("ask")] == ["Discharge summary"]


def test_surgery_calendar_opens_on_this_month(patient_shown: MainWindow, qtbot: QtBot) -> None:
    ed = open_new_episode(patient_shown, qtbot)
    field = focus_on(qtbot, ed, "surgeryDateEdit")
    qtbot.keyClick(field, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    cal = field.calendar_popup().calendar  # type: ignore[attr-defined]
    qtbot.waitUntil(cal.isVisible, timeout=5_000)
    assert (cal.yearShown(), cal.monthShown()) == (date.today().year, date.today().month)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not cal.isVisible(), timeout=5_000)
    assert field.text() == date.today().isoformat()  # type: ignore[attr-defined]


def test_tab_order_follows_the_form_top_to_bottom(
    patient_shown: MainWindow, qtbot: QtBot
) -> None:
    ed = open_new_episode(patient_shown, qtbot)
    first = focus_on(qtbot, ed, "diagnosisCombo")
    save = ed.findChild(QWidget, "saveButton")
    assert tab_order(qtbot, first, save) == EPISODE_TAB_ORDER  # type: ignore[arg-type]
    fields = [ed.findChild(QWidget, n) for n in EPISODE_TAB_ORDER]
    tops = [w.mapTo(ed, w.rect().topLeft()).y() for w in fields]  # type: ignore[union-attr]
    assert tops == sorted(tops)


def test_every_problem_of_the_episode_is_listed_at_once(
    patient_shown: MainWindow, qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    window = patient_shown
    ed = open_new_episode(window, qtbot)
    key_type(qtbot, ed, "surgeryDateEdit", "2026-13-01")  # not a date
    key_type(qtbot, ed, "endDateEdit", "1990-01-01")  # before the start
    press_enter(qtbot)
    wait_ops(qtbot)
    lines = ed.findChild(QWidget, "formError").text().splitlines()  # type: ignore[union-attr]
    assert [line.split(":")[0] for line in lines] == ["Surgery date", "End date"], lines
    assert "is before the start date" in lines[1]
    assert QApplication.focusWidget() is ed.findChild(QWidget, "surgeryDateEdit")
    fake_messages.answers["ask_discard"] = [True]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    closed(qtbot, ed)
    assert window.ctx.charting.episodes(window.record.chart.patient.id) == []  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)],
                         ids=lambda s: f"{s.width()}x{s.height()}")
def test_layout_with_surgery_type_and_therapist(
    patient_shown: MainWindow, qtbot: QtBot, size: QSize
) -> None:
    """The longest operation's words and a therapist with a long name: nothing clipped,
    and the dialog fits each screen."""
    window = patient_shown
    as_user(window.ctx.clinic._db, "mira", Role.THERAPIST,  # type: ignore[union-attr]
            "Mira Okafor-Lindqvist-Hernández")
    window.resize(size)
    ed = open_new_episode(window, qtbot)
    therapists = ed.findChild(QWidget, "therapistCombo")
    qtbot.waitUntil(lambda: therapists.count() == 2)  # type: ignore[union-attr]
    kinds = focus_on(qtbot, ed, "surgeryTypeCombo")
    qtbot.keyClicks(kinds, "ACL")
    qtbot.keyClick(kinds, Qt.Key.Key_Down)  # patellar tendon graft: the longest words
    ed.resize(open_size(ed, size))
    with contextlib.suppress(qtbot.TimeoutError):
        qtbot.waitUntil(lambda: not problems(ed), timeout=1500)
    assert problems(ed) == []
    assert fits_screen(ed, size) is None
    if os.environ.get("BACKSTEP_SHOTS"):
        ed.grab().save(str(Path(os.environ["BACKSTEP_SHOTS"]) /
                           f"episode_{size.width()}x{size.height()}.png"))
    ed.done(0)  # typed into: closed without the "discard changes?" question
