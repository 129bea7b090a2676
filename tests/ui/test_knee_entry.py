"""Typing the knee instruments into the session editor: one row of digits per questionnaire,
the score as it is typed, a missing item visibly different from a zero, both legs of a limb
pair in one row with the symmetry shown, Y-Balance reaches in millimetres; rows stored."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot
from ui_helpers import choose, closed, dialog, focus_on, key_type, save_with_ctrl_enter, wait_ops

from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor

SHOTS = os.environ.get("BACKSTEP_SHOTS")  # a folder: save what the test shows, to look at


@pytest.fixture
def acl_window(window: MainWindow, qtbot: QtBot) -> MainWindow:
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("K-1", "Haddad", "Noor", date(1999, 3, 4)))
    start = date.today() - timedelta(weeks=30)
    svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, start,
                                        start - timedelta(days=10)))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None)
    return window


def open_new(window: MainWindow, qtbot: QtBot) -> SessionEditor:
    qtbot.mouseClick(window.record.new_session_button, Qt.MouseButton.LeftButton)
    se = dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


def type_items(qtbot: QtBot, se: SessionEditor, digits: str) -> None:
    """Type into the first item and on: each complete answer moves to the next item."""
    first = focus_on(qtbot, se, "testItem1")
    qtbot.keyClicks(first, digits[0])
    for ch in digits[1:]:
        qtbot.keyClicks(QApplication.focusWidget(), ch)


def test_ikdc_in_one_row_of_digits_with_a_missing_item(
        acl_window: MainWindow, qtbot: QtBot) -> None:
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "IKDC")
    assert se.item_numbers[9].text() == "9b" and se.item_numbers[17].text() == "10b"
    # items 1-2 typed, item 3 skipped with Tab, then the rest; "10" on a 0-10 item is two
    # digits, "3" cannot grow into another answer and moves on at once
    type_items(qtbot, se, "23")
    assert QApplication.focusWidget() is se.item_edits[2]
    qtbot.keyClick(se.item_edits[2], Qt.Key.Key_Tab)
    for ch in "3213233223212110":
        qtbot.keyClicks(QApplication.focusWidget(), ch)
    assert se.item_edits[17].text() == "10"
    missing = se.item_edits[2]
    assert missing.text() == "" and missing.placeholderText() == "–"
    assert missing.property("missing") is True  # hatched amber, not a blank read as zero
    assert se.item_edits[5].property("missing") is False
    # sum 2 + (10-3) + 3+2+1+3+2 + 19 + 10 = 49 of 77 (item 3 unanswered): 63.6
    assert "17/18 answered" in se.score_label.text() and "63.6 points" in se.score_label.text()
    if SHOTS:
        se.grab().save(str(Path(SHOTS) / "ikdc_entry.png"))
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    svc = acl_window.ctx.charting  # type: ignore[union-attr]
    ep = svc.chart(acl_window.record.chart.patient.id).episodes[0]  # type: ignore[union-attr]
    (ikdc,) = [t for t in ep.tests if t.draft.measure_id == "ikdc"]
    assert ikdc.draft.items == (2, 3, None, 3, 2, 1, 3, 2, 3, 3, 2, 2, 3, 2, 1, 2, 1, 10)
    assert ikdc.value == pytest.approx(49 / 77 * 100)


def test_lysholm_accepts_only_the_forms_answers(acl_window: MainWindow, qtbot: QtBot) -> None:
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "Lysholm")
    first = focus_on(qtbot, se, "testItem1")
    qtbot.keyClicks(first, "4")  # limp is scored 0, 3 or 5
    assert se.item_edits[0].text() == "" and QApplication.focusWidget() is first
    qtbot.keyClicks(first, "5")
    for ch in ("5", "10", "20", "20", "6", "6", "4"):
        qtbot.keyClicks(QApplication.focusWidget(), ch)
    assert "8/8 answered" in se.score_label.text() and "76 points" in se.score_label.text()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert [t.measure_id for t in se.pending_tests()] == ["lysholm"]


def test_kujala_typed_with_its_points_and_the_anchors_shown(
        acl_window: MainWindow, qtbot: QtBot) -> None:
    """Kujala UM et al. 1993 (Arthroscopy, Scoring of patellofemoral disorders): each answer
    carries the points printed on the form, the score is their sum (100 = no problem)."""
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "Kujala")
    scale = se.findChild(QLabel, "testScaleLabel")
    assert scale is not None and scale.isVisible()
    assert "stairs 0/5/8/10" in scale.text()
    assert scale.text().endswith("0-100 points, higher is better.")
    first = focus_on(qtbot, se, "testItem1")
    qtbot.keyClicks(first, "4")  # limp is scored 0, 3 or 5
    assert first.text() == ""
    type_items(qtbot, se, "3")
    for ch in ("5", "3", "8", "3", "6", "7", "4", "8", "8", "10", "5", "5"):
        qtbot.keyClicks(QApplication.focusWidget(), ch)
    assert "13/13 answered" in se.score_label.text() and "75 points" in se.score_label.text()
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    svc = acl_window.ctx.charting  # type: ignore[union-attr]
    ep = svc.chart(acl_window.record.chart.patient.id).episodes[0]  # type: ignore[union-attr]
    (kujala,) = [t for t in ep.tests if t.draft.measure_id == "kujala"]
    assert kujala.draft.items == (3, 5, 3, 8, 3, 6, 7, 4, 8, 8, 10, 5, 5)
    assert kujala.value == 75.0


def test_each_questionnaire_shows_which_end_of_its_items_is_which(
        acl_window: MainWindow, qtbot: QtBot) -> None:
    """KOOS items run 0 = none to 4 = extreme (Roos & Lohmander 2003), LEFS items 0 =
    extreme difficulty to 4 = no difficulty (Binkley et al. 1999): opposite ends, so the
    entry screen says which is which, and that both scores are higher = better."""
    se = open_new(acl_window, qtbot)
    scale = se.findChild(QLabel, "testScaleLabel")
    assert scale is not None
    choose(qtbot, se, "testMeasureCombo", "KOOS Pain")
    assert "0 (none) to 4 (extreme)" in scale.text()
    assert "KOOS Pain: 0-100 points, higher is better." in scale.text()
    qtbot.wait(QApplication.keyboardInputInterval() + 50)  # a new type-ahead search
    choose(qtbot, se, "testMeasureCombo", "LEFS")
    assert "0 (extreme difficulty or unable) to 4 (no difficulty)" in scale.text()
    assert "LEFS: 0-80 points, higher is better." in scale.text()
    qtbot.wait(QApplication.keyboardInputInterval() + 50)
    choose(qtbot, se, "testMeasureCombo", "IKDC")
    assert "2 pain frequency 0 (never) to 10 (constant)" in scale.text()
    assert "reversed when scored" in scale.text()
    qtbot.wait(QApplication.keyboardInputInterval() + 50)
    choose(qtbot, se, "testMeasureCombo", "Single hop")
    assert not scale.isVisible()  # a distance per leg has no items


def test_both_legs_of_a_hop_in_one_row(acl_window: MainWindow, qtbot: QtBot) -> None:
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "Single hop")
    key_type(qtbot, se, "testValueEdit", "150")
    key_type(qtbot, se, "testOtherSideEdit", "abc")
    qtbot.keyClick(se.other_value, Qt.Key.Key_Return)
    assert se.error_label.text().startswith("Single-leg hop for distance (other leg)")
    key_type(qtbot, se, "testOtherSideEdit", "200")
    qtbot.keyClick(se.other_value, Qt.Key.Key_Return)
    choose(qtbot, se, "testMeasureCombo", "6-m timed hop")
    assert se.side.currentData() == "left"  # the affected knee is offered first
    key_type(qtbot, se, "testValueEdit", "2.40")
    key_type(qtbot, se, "testOtherSideEdit", "2.16")
    assert se.pair_label.text().startswith("LSI 90.0 % if left is the involved leg")
    if SHOTS:
        se.grab().save(str(Path(SHOTS) / "hop_pair_entry.png"))
    qtbot.keyClick(se.other_value, Qt.Key.Key_Return)
    choose(qtbot, se, "testMeasureCombo", "Y-Balance")
    first = focus_on(qtbot, se, "testItem1")
    qtbot.keyClicks(first, "600")
    for text in ("1000", "950", "900"):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        qtbot.keyClicks(QApplication.focusWidget(), text)
    assert "94.4 %" in se.score_label.text()
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    svc = acl_window.ctx.charting  # type: ignore[union-attr]
    ep = svc.chart(acl_window.record.chart.patient.id).episodes[0]  # type: ignore[union-attr]
    rows = sorted((t.draft.measure_id, str(t.draft.side), t.value) for t in ep.tests)
    assert rows[:4] == [("hop_6m_timed", "left", 2.4), ("hop_6m_timed", "right", 2.16),
                        ("hop_single", "left", 150.0), ("hop_single", "right", 200.0)]
    (yb,) = [t for t in ep.tests if t.draft.measure_id == "y_balance"]
    assert yb.draft.items == (600, 1000, 950, 900) and yb.draft.side == Side.LEFT
    # the new rows reach the readiness tab at once
    panel = acl_window.record.readiness
    qtbot.waitUntil(lambda: panel.last is not None and any(
        r.criterion.key == "hop_6m_timed" and r.value_text == "90.0 %"
        for r in panel.last.readiness.results))


def test_a_hop_pair_keeps_its_symmetry_once_added(acl_window: MainWindow, qtbot: QtBot) -> None:
    """After Enter adds both legs, the table still says which leg is involved and the LSI;
    a timed hop is oriented so that the slower involved leg gives less than 100 %."""
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "Single hop")
    key_type(qtbot, se, "testValueEdit", "142")
    key_type(qtbot, se, "testOtherSideEdit", "168")
    qtbot.keyClick(se.other_value, Qt.Key.Key_Return)
    choose(qtbot, se, "testMeasureCombo", "6-m timed hop")
    key_type(qtbot, se, "testValueEdit", "2.40")
    key_type(qtbot, se, "testOtherSideEdit", "2.16")
    qtbot.keyClick(se.other_value, Qt.Key.Key_Return)
    table = se.tests_table
    cells = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    assert cells == [
        ("Single-leg hop for distance", "Left (involved)", "142 cm · LSI 84.5 %"),
        ("Single-leg hop for distance", "Right", "168 cm"),
        ("6-metre timed hop", "Left (involved)", "2.40 s · LSI 90.0 %"),
        ("6-metre timed hop", "Right", "2.16 s"),
    ]
    # a second left-leg trial: which two results pair up is unknown, so no LSI is claimed
    key_type(qtbot, se, "testValueEdit", "2.50")
    qtbot.keyClick(se.value, Qt.Key.Key_Return)
    assert table.rowCount() == 5
    assert "LSI" not in table.item(2, 2).text() and table.item(2, 1).text() == "Left"
    assert table.item(0, 2).text() == "142 cm · LSI 84.5 %"
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)


def test_a_test_not_recorded_per_side_shows_no_side(
        acl_window: MainWindow, qtbot: QtBot) -> None:
    """3MBWT and IKDC are not per side: the side box is empty, not a greyed "Left" that
    reads as a left-sided result; the leg comes back for a per-side test."""
    se = open_new(acl_window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "3MBWT")
    assert not se.side.isEnabled() and se.side.currentText() == ""
    qtbot.wait(QApplication.keyboardInputInterval() + 50)
    choose(qtbot, se, "testMeasureCombo", "Single hop")
    assert se.side.isEnabled() and se.side.currentData() == "left"
    qtbot.wait(QApplication.keyboardInputInterval() + 50)  # a new type-ahead search
    choose(qtbot, se, "testMeasureCombo", "IKDC")
    assert se.side.currentText() == ""
    type_items(qtbot, se, "323331")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    for ch in "34434332227":
        qtbot.keyClicks(QApplication.focusWidget(), ch)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert [(t.measure_id, t.side) for t in se.pending_tests()] == [("ikdc", None)]
    assert se.tests_table.item(0, 1).text() == "—"
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
