"""The patient dialog driven from the keyboard only: every field typed, saved with the keyboard,
the stored row read back through the service."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QCalendarWidget, QDialog, QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import (
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

from clinic_app.domain.records import PatientDraft, Sex
from clinic_app.ui.main_window import MainWindow

PATIENT_TAB_ORDER = ["mrnEdit", "familyNameEdit", "givenNameEdit", "dobEdit", "sexCombo",
                     "phoneEdit", "emailEdit", "notesEdit", "saveButton"]


def open_new_patient(window: MainWindow, qtbot: QtBot) -> QDialog:
    """Ctrl+N in the main window, as the File menu says."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    return active_dialog(window, qtbot, "patientDialog")


def open_edit_patient(window: MainWindow, qtbot: QtBot) -> QDialog:
    """Select the first patient in the list and press "Edit patient…"."""
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.chart is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.record.edit_patient_button.isEnabled(), timeout=10_000)
    qtbot.mouseClick(window.record.edit_patient_button, Qt.MouseButton.LeftButton)
    return active_dialog(window, qtbot, "patientDialog")


def test_new_patient_every_field_typed_with_tab_and_saved_with_ctrl_enter(
    window: MainWindow, qtbot: QtBot
) -> None:
    pd = open_new_patient(window, qtbot)
    dob = pd.findChild(QWidget, "dobEdit")
    assert dob.text() == "" and dob.placeholderText().startswith("Not set")  # type: ignore[attr-defined]
    assert dob.accessibleName() == "Date of birth"
    assert pd.findChild(QWidget, "ageLabel").text() == "required"  # type: ignore[attr-defined]
    assert QApplication.focusWidget() is pd.findChild(QWidget, "mrnEdit")
    type_here(qtbot, "k-2040")
    tab(qtbot)
    type_here(qtbot, "Nakamura")
    tab(qtbot)
    type_here(qtbot, "Yuki")
    assert tab(qtbot) is dob
    type_here(qtbot, "1988-03-14")
    assert dob.text() == "1988-03-14"  # type: ignore[attr-defined]
    age = date.today().year - 1988 - ((date.today().month, date.today().day) < (3, 14))
    assert pd.findChild(QWidget, "ageLabel").text() == f"age {age}"  # type: ignore[attr-defined]
    tab(qtbot)
    type_here(qtbot, "F")  # keyboard search in the Sex list
    tab(qtbot)
    type_here(qtbot, "+44 20 7946 0958")
    tab(qtbot)
    type_here(qtbot, "yuki@example.org")
    tab(qtbot)
    type_here(qtbot, "Prefers mornings")
    save_with_ctrl_enter(qtbot)
    closed(qtbot, pd)

    stored = window.ctx.charting.find_by_mrn("K-2040")  # type: ignore[union-attr]
    assert stored is not None
    assert stored.draft == PatientDraft(
        "K-2040", "Nakamura", "Yuki", date(1988, 3, 14), Sex.FEMALE, "+44 20 7946 0958",
        "yuki@example.org", "Prefers mornings",
    )


@pytest.mark.parametrize(
    ("locale", "typed", "shown"),
    [("en_GB", "14/03/1988", "1988-03-14"), ("en_GB", "1988-03-14", "1988-03-14"),
     ("de_DE", "14.03.1988", "1988-03-14"), ("de_DE", "14.3.88", "1988-03-14"),
     ("de_DE", "1988-03-14", "1988-03-14"), ("en_US", "3/14/1988", "1988-03-14")],
)
def test_empty_birth_date_takes_iso_and_the_locale_short_format(
    window: MainWindow, qtbot: QtBot, locale: str, typed: str, shown: str
) -> None:
    with system_locale(locale):
        pd = open_new_patient(window, qtbot)
        key_type(qtbot, pd, "mrnEdit", "L-1")
        key_type(qtbot, pd, "familyNameEdit", "Berg")
        key_type(qtbot, pd, "givenNameEdit", "Ola")
        dob = key_type(qtbot, pd, "dobEdit", typed)
        hint = {"en_GB": "dd/mm/yyyy", "de_DE": "dd.mm.yyyy", "en_US": "m/d/yyyy"}[locale]
        assert hint in dob.placeholderText()  # type: ignore[attr-defined]
        tab(qtbot)  # leaving the field shows what was understood, unambiguously
        assert dob.text() == shown  # type: ignore[attr-defined]
        press_enter(qtbot)
        closed(qtbot, pd)
    stored = window.ctx.charting.find_by_mrn("L-1")  # type: ignore[union-attr]
    assert stored is not None and stored.draft.date_of_birth == date(1988, 3, 14)


@pytest.mark.parametrize(
    ("typed", "message"),
    [("1988-13-40", "Date of birth: '1988-13-40' is not a date"),
     ("14/03/88x", "Date of birth: '14/03/88x' is not a date"),
     ("", "Date of birth: is required"),
     ("2090-01-01", "Date of birth: 2090-01-01 is out of range")],
)
def test_unreadable_or_missing_birth_date_names_the_field_and_stores_nothing(
    window: MainWindow, qtbot: QtBot, typed: str, message: str
) -> None:
    with system_locale("en_GB"):
        pd = open_new_patient(window, qtbot)
        key_type(qtbot, pd, "mrnEdit", "E-1")
        key_type(qtbot, pd, "familyNameEdit", "Okoro")
        key_type(qtbot, pd, "givenNameEdit", "Chi")
        dob = key_type(qtbot, pd, "dobEdit", typed)
        press_enter(qtbot)
        wait_ops(qtbot)
        error = pd.findChild(QWidget, "formError")
        assert pd.isVisible() and error.isVisible()  # type: ignore[union-attr]
        assert error.text().startswith(message), error.text()  # type: ignore[union-attr]
        assert "allowed:" in error.text()  # type: ignore[union-attr]
        assert QApplication.focusWidget() is dob
        assert window.ctx.charting.find_by_mrn("E-1") is None  # type: ignore[union-attr]
        # Correcting the field and pressing Enter again saves.
        key_type(qtbot, pd, "dobEdit", "14/03/1988")
        press_enter(qtbot)
        closed(qtbot, pd)
    stored = window.ctx.charting.find_by_mrn("E-1")  # type: ignore[union-attr]
    assert stored is not None and stored.draft.date_of_birth == date(1988, 3, 14)


def _open_calendar(qtbot: QtBot, field: QWidget) -> QCalendarWidget:
    field.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.keyClick(field, Qt.Key.Key_F4)
    shown: list[QCalendarWidget] = []

    def visible() -> bool:
        shown[:] = [c for c in field.window().findChildren(QCalendarWidget) if c.isVisible()]
        return bool(shown)

    qtbot.waitUntil(visible, timeout=5_000)
    return shown[0]


def test_birth_date_calendar_opens_about_40_years_back_and_picks_with_enter(
    window: MainWindow, qtbot: QtBot
) -> None:
    pd = open_new_patient(window, qtbot)
    dob = pd.findChild(QWidget, "dobEdit")
    assert dob is not None
    cal = _open_calendar(qtbot, dob)
    assert cal.yearShown() == date.today().year - 40
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # take the highlighted day
    qtbot.waitUntil(lambda: not cal.isVisible(), timeout=5_000)
    picked = date.fromisoformat(dob.text())  # type: ignore[attr-defined]
    assert picked.year == date.today().year - 40
    assert QApplication.focusWidget() is dob


def test_calendar_stays_readable_when_the_field_is_flagged(
    window: MainWindow, qtbot: QtBot
) -> None:
    """The red error style is the field's own; the popup's header keeps its colours."""
    pd = open_new_patient(window, qtbot)
    dob = pd.findChild(QWidget, "dobEdit")
    assert dob is not None
    cal = _open_calendar(qtbot, dob)
    nav = cal.findChild(QWidget, "qt_calendar_navigationbar")
    assert nav is not None
    normal = nav.palette().color(QPalette.ColorRole.Window)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not cal.isVisible(), timeout=5_000)
    key_type(qtbot, pd, "mrnEdit", "E-2")
    key_type(qtbot, pd, "dobEdit", "no date")
    press_enter(qtbot)
    wait_ops(qtbot)
    assert pd.findChild(QWidget, "formError").isVisible()  # type: ignore[union-attr]
    assert "#c62828" in dob.styleSheet()
    cal = _open_calendar(qtbot, dob)
    nav = cal.findChild(QWidget, "qt_calendar_navigationbar")
    assert nav.palette().color(QPalette.ColorRole.Window) == normal  # type: ignore[union-attr]
    assert cal.yearShown() == date.today().year - 40


def test_edit_patient_retypes_the_birth_date_in_the_locale_format(
    window: MainWindow, qtbot: QtBot
) -> None:
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("T-7", "Haddad", "Rami", date(1979, 6, 1)))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    with system_locale("de_DE"):
        pd = open_edit_patient(window, qtbot)
        dob = pd.findChild(QWidget, "dobEdit")
        assert dob.text() == "1979-06-01"  # type: ignore[union-attr]
        key_type(qtbot, pd, "dobEdit", "02.05.1981")
        key_type(qtbot, pd, "phoneEdit", "0171 555 0100")
        press_enter(qtbot)
        closed(qtbot, pd)
    stored = svc.get_patient(p.id)
    assert stored.draft.date_of_birth == date(1981, 5, 2)
    assert stored.draft.phone == "0171 555 0100" and stored.stamp.version == 2


def test_tab_order_follows_the_form_top_to_bottom(window: MainWindow, qtbot: QtBot) -> None:
    pd = open_new_patient(window, qtbot)
    first = focus_on(qtbot, pd, "mrnEdit")
    save = pd.findChild(QWidget, "saveButton")
    assert tab_order(qtbot, first, save) == PATIENT_TAB_ORDER  # type: ignore[arg-type]
    fields = [pd.findChild(QWidget, n) for n in PATIENT_TAB_ORDER]
    tops = [w.mapTo(pd, w.rect().topLeft()).y() for w in fields]  # type: ignore[union-attr]
    assert tops == sorted(tops)


def test_a_birth_date_that_is_not_a_date_is_marked_when_leaving_the_field(
    window: MainWindow, qtbot: QtBot, fake_messages  # type: ignore[no-untyped-def]
) -> None:
    """Left as typed, unreadable text looked accepted until Save; now it is marked at once."""
    pd = open_new_patient(window, qtbot)
    dob = pd.findChild(QWidget, "dobEdit")
    age = pd.findChild(QWidget, "ageLabel")
    assert tab(qtbot, 3) is dob  # MRN, family name, given name, then the birth date
    qtbot.keyClicks(dob, "1981-13-45")
    assert not dob.unreadable  # type: ignore[attr-defined]  # not while still typing
    qtbot.keyClick(dob, Qt.Key.Key_Tab)
    assert dob.unreadable and dob.property("invalid")  # type: ignore[attr-defined]
    assert "'1981-13-45' is not a date" in dob.toolTip()
    assert "Date of birth" in dob.toolTip() and "yyyy-mm-dd" in dob.toolTip()
    assert age.text() == "not a date"  # type: ignore[attr-defined]
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab)
    assert QApplication.focusWidget() is dob
    qtbot.keyClick(dob, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(dob, "1981-03-14")
    assert not dob.unreadable and not dob.property("invalid")  # type: ignore[attr-defined]
    assert age.text().startswith("age ")  # type: ignore[attr-defined]
    fake_messages.answers["ask_discard"] = [True]
    pd.reject()


def test_every_problem_of_the_form_is_listed_at_once(window: MainWindow, qtbot: QtBot) -> None:
    pd = open_new_patient(window, qtbot)
    type_here(qtbot, "bad mrn!")
    tab(qtbot)
    type_here(qtbot, "Keys")
    tab(qtbot, 2)  # the given name stays empty
    type_here(qtbot, "31.02.1990")  # not a date
    tab(qtbot, 3)
    type_here(qtbot, "not-an-address")
    save_with_ctrl_enter(qtbot)
    wait_ops(qtbot)
    lines = pd.error_label.text().splitlines()  # type: ignore[attr-defined]
    assert [line.split(":")[0] for line in lines] == ["MRN", "Given name", "Date of birth",
                                                      "Email"]
    assert all("allowed" in line or "required" in line for line in lines), lines
    assert QApplication.focusWidget() is pd.findChild(QWidget, "mrnEdit")  # the first problem
    assert pd.isVisible()
    assert window.ctx.charting.find_by_mrn("BAD MRN!") is None  # type: ignore[union-attr]
