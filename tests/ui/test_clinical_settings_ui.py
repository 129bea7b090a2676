"""Settings › Clinical: the clinic's default criteria set and the 3MBWT flag, chosen with the
keyboard, stored in the database, and picked up by the return-to-sport tab."""

from __future__ import annotations

from accounts import as_user
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTabWidget
from pytestqt.qtbot import QtBot
from ui_helpers import closed, dialog, focus_on, wait_ops

from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services.clinical_settings import get_clinical_settings
from clinic_app.services.facade import Clinic
from clinic_app.ui.main_window import MainWindow


def _clinical_tab(window: MainWindow, qtbot: QtBot):  # type: ignore[no-untyped-def]
    window.settings_action.trigger()
    settings = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)
    tabs = settings.findChild(QTabWidget)
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    assert tabs.tabText(tabs.currentIndex()) == "Clinical"
    return settings


def test_admin_chooses_the_clinic_default(window: MainWindow, qtbot: QtBot,
                                          sqlite_db: Database) -> None:
    settings = _clinical_tab(window, qtbot)
    page = settings.findChild(object, "clinicalSettingsPage")
    qtbot.waitUntil(lambda: page.save_button.isEnabled())
    combo = focus_on(qtbot, settings, "defaultCriteriaSetCombo")
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    check = focus_on(qtbot, settings, "bwtFallFlagCheck")
    assert check.isChecked()  # applies by default
    qtbot.keyClick(check, Qt.Key.Key_Space)
    button = focus_on(qtbot, settings, "saveClinicalButton")
    qtbot.keyClick(button, Qt.Key.Key_Space)
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: "Saved" in page.status.text())
    stored = get_clinical_settings(sqlite_db, as_user(sqlite_db, "tester"))
    assert (stored.criteria_set, stored.bwt_fall_flag) == ("welling_2018", False)
    # the return-to-sport tab follows the new default
    panel = window.record.readiness
    qtbot.waitUntil(lambda: panel.criteria_combo.currentData() == "welling_2018")
    # and the progress plots drop the 3MBWT's older-adult bands
    qtbot.waitUntil(lambda: window.record.progress.bwt_fall_flag is False)
    settings.reject()


def test_a_therapist_sees_but_cannot_change(qtbot: QtBot, sqlite_db: Database) -> None:
    therapist = as_user(sqlite_db, "thera", Role.THERAPIST)
    win = MainWindow(actor="thera", offer_demo=False)
    qtbot.addWidget(win)
    win.show()
    win.attach(Clinic(sqlite_db, therapist))
    wait_ops(qtbot)
    settings = _clinical_tab(win, qtbot)
    page = settings.findChild(object, "clinicalSettingsPage")
    qtbot.waitUntil(lambda: "administrators" in page.status.text())
    assert not page.save_button.isEnabled() and not page.criteria.isEnabled()
    settings.reject()
    wait_ops(qtbot)
    win.close()


def test_the_dialogs_save_stores_a_changed_clinical_choice(
        window: MainWindow, qtbot: QtBot, sqlite_db: Database) -> None:
    """Changing the criteria set and pressing the dialog's Save (not "Save clinical
    choices") stores it: the dialog never closes a clinical choice away unsaved."""
    settings = _clinical_tab(window, qtbot)
    page = settings.findChild(object, "clinicalSettingsPage")
    qtbot.waitUntil(lambda: page.save_button.isEnabled())
    combo = focus_on(qtbot, settings, "defaultCriteriaSetCombo")
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    qtbot.keyClick(settings.save_button, Qt.Key.Key_Space)
    wait_ops(qtbot)
    closed(qtbot, settings)
    stored = get_clinical_settings(sqlite_db, as_user(sqlite_db, "tester"))
    assert stored.criteria_set == "welling_2018"
