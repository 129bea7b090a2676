"""Goals edited in the plan-of-care dialog as a therapist does it: a goal selected in the
list and edited (Enter), marked entered in error (Delete, with a reason), a goal in words
ticked achieved with a typed date; a goal or prescription saved meanwhile on a second
workstation goes through the three-way review; layout at three screen sizes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from accounts import as_user
from layout_check import problems
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from ui_helpers import (
    FakeMessages,
    active_dialog,
    closed,
    focus_on,
    key_type,
    save_with_ctrl_enter,
    wait_ops,
)

from clinic_app.domain.plan_of_care import KMH_PER_MS, Dose, GoalDraft, PrescriptionDraft
from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Role, Side
from clinic_app.persistence.uow import Database
from clinic_app.services.facade import Clinic
from clinic_app.ui import messages
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.plan_dialog import GoalAchievedDialog, PlanOfCareDialog

START = date.today() - timedelta(days=30)


def _shown(window: MainWindow, qtbot: QtBot, *goals: GoalDraft,
           prescribed: bool = False) -> object:
    svc = window.ctx.charting  # type: ignore[union-attr]
    plan = window.ctx.clinic.plan  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("GE-1", "Lindqvist", "Maja", date(1962, 2, 3)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT, START))
    for g in goals:
        plan.add_goal(ep.id, g)
    if prescribed:
        plan.save_prescription(ep.id, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None, timeout=10_000)
    return ep


def _open_plan(window: MainWindow, qtbot: QtBot) -> PlanOfCareDialog:
    qtbot.waitUntil(window.record.plan_button.isEnabled, timeout=10_000)
    window.record.plan_button.setFocus()
    qtbot.keyClick(window.record.plan_button, Qt.Key.Key_Space)
    dlg = active_dialog(window, qtbot, "planOfCareDialog")
    assert isinstance(dlg, PlanOfCareDialog)
    return dlg


def _select_row(qtbot: QtBot, dlg: PlanOfCareDialog, row: int) -> None:
    """Tab into the goals list and walk to ``row`` with the arrow keys."""
    table = focus_on(qtbot, dlg, "goalsTable")
    qtbot.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(table, Qt.Key.Key_Space)  # selects the current row
    for _ in range(row):
        qtbot.keyClick(table, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: dlg.selected_goal() is dlg._rows[row], timeout=5_000)


def _press(qtbot: QtBot, dlg: PlanOfCareDialog, name: str) -> None:
    qtbot.keyClick(focus_on(qtbot, dlg, name), Qt.Key.Key_Space)


def _goals(window: MainWindow, ep: object, in_error: bool = False) -> list:  # type: ignore[type-arg]
    return window.ctx.clinic.plan.goals(ep.id, in_error)  # type: ignore[union-attr, attr-defined]


def test_goal_edited_with_enter_validated_and_versioned(window: MainWindow,
                                                        qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, GoalDraft("lefs", 60, START + timedelta(weeks=8), "stairs"))
    dlg = _open_plan(window, qtbot)
    assert dlg.goals_table.rowCount() == 1
    _select_row(qtbot, dlg, 0)
    qtbot.keyClick(dlg.goals_table, Qt.Key.Key_Return)  # Enter edits, never saves the form
    assert dlg.isVisible() and dlg.goal_target.text() == "60"
    assert dlg.add_goal_button.text() == "Save &goal" and "Editing goal" in (
        dlg.goal_form_title.text())
    key_type(qtbot, dlg, "goalTargetEdit", "95")
    _press(qtbot, dlg, "addGoalButton")
    qtbot.waitUntil(lambda: "Target" in dlg.error_label.text(), timeout=10_000)
    assert "0 to 80" in dlg.error_label.text()
    assert QApplication.focusWidget() is dlg.goal_target
    key_type(qtbot, dlg, "goalTargetEdit", "65")
    key_type(qtbot, dlg, "goalTextEdit", "climb the stairs to the flat")
    save_with_ctrl_enter(qtbot)  # the form's Save never leaves the goal edit behind
    assert dlg.isVisible() and "not stored yet" in dlg.error_label.text()
    key_type(qtbot, dlg, "goalTextEdit", "climb the stairs to the flat")
    qtbot.keyClick(dlg.goal_text, Qt.Key.Key_Return)  # Enter in a goal field saves the goal
    qtbot.waitUntil(lambda: "65 points" in dlg.goals_table.item(0, 0).text(), timeout=10_000)
    assert dlg.add_goal_button.text() == "&Add goal" and dlg.goal_target.text() == ""
    (goal,) = _goals(window, ep)
    assert (goal.draft.target_value, goal.draft.text, goal.stamp.version) == (
        65, "climb the stairs to the flat", 2)
    dlg.reject()


def test_goal_marked_in_error_with_delete_stays_struck(
        window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages) -> None:
    ep = _shown(window, qtbot, GoalDraft("lefs", 60, START + timedelta(weeks=8)),
                GoalDraft(text="walk the dog backwards"))
    dlg = _open_plan(window, qtbot)
    _select_row(qtbot, dlg, 0)
    fake_messages.answers["ask_reason"] = ["goal set for the wrong patient"]
    qtbot.keyClick(dlg.goals_table, Qt.Key.Key_Delete)
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: dlg.goals_table.rowCount() == 2
                    and dlg.goals_table.item(1, 1).text() == "Entered in error", timeout=10_000)
    assert dlg.goals_table.item(1, 2).text() == "goal set for the wrong patient"
    assert dlg.goals_table.item(1, 0).font().strikeOut()
    assert [g.draft.text for g in _goals(window, ep)] == ["walk the dog backwards"]
    (gone,) = [g for g in _goals(window, ep, True) if g.stamp.entered_in_error]
    assert gone.stamp.error_reason == "goal set for the wrong patient"
    _select_row(qtbot, dlg, 1)  # the struck goal cannot be edited or marked again
    assert not dlg.edit_goal_button.isEnabled() and not dlg.goal_error_button.isEnabled()
    qtbot.keyClick(dlg.goals_table, Qt.Key.Key_Return)
    assert dlg.add_goal_button.text() == "&Add goal" and dlg.isVisible()
    dlg.reject()


def test_goal_in_words_ticked_achieved_with_a_typed_date(
        window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages) -> None:
    ep = _shown(window, qtbot, GoalDraft(text="walk to the bakery"))
    dlg = _open_plan(window, qtbot)
    _select_row(qtbot, dlg, 0)
    assert dlg.achieved_button.isEnabled()
    _press(qtbot, dlg, "goalAchievedButton")
    ach = active_dialog(window, qtbot, "goalAchievedDialog")
    assert isinstance(ach, GoalAchievedDialog)
    assert ach.date.text() == date.today().isoformat()  # today unless typed otherwise
    future = (date.today() + timedelta(days=3)).isoformat()
    key_type(qtbot, ach, "achievedDateEdit", future)
    save_with_ctrl_enter(qtbot)
    qtbot.waitUntil(lambda: "Date achieved" in ach.error_label.text(), timeout=10_000)
    assert "future" in ach.error_label.text() and "up to today" in ach.error_label.text()
    day = START + timedelta(days=20)
    key_type(qtbot, ach, "achievedDateEdit", day.isoformat())
    save_with_ctrl_enter(qtbot)
    closed(qtbot, ach)
    qtbot.waitUntil(lambda: dlg.goals_table.item(0, 1).text() == "Met", timeout=10_000)
    assert "achieved on" in dlg.goals_table.item(0, 2).text()
    (goal,) = _goals(window, ep)
    assert (goal.draft.achieved, goal.draft.achieved_on, goal.stamp.version) == (True, day, 2)
    assert dlg.achieved_button.text() == "Not achie&ved…"
    active_dialog(window, qtbot, "planOfCareDialog")  # back from the date dialog
    fake_messages.answers["ask"] = [True]  # and undone, on second thoughts
    _press(qtbot, dlg, "goalAchievedButton")
    wait_ops(qtbot)
    qtbot.waitUntil(lambda: dlg.goals_table.item(0, 1).text() == "Not assessed", timeout=10_000)
    (goal,) = _goals(window, ep)
    assert (goal.draft.achieved, goal.draft.achieved_on, goal.stamp.version) == (False, None, 3)
    dlg.reject()


def test_measured_goal_cannot_be_ticked(window: MainWindow, qtbot: QtBot) -> None:
    _shown(window, qtbot, GoalDraft("lefs", 60, START + timedelta(weeks=8)))
    dlg = _open_plan(window, qtbot)
    _select_row(qtbot, dlg, 0)
    assert dlg.edit_goal_button.isEnabled() and not dlg.achieved_button.isEnabled()
    dlg.reject()


@pytest.fixture
def other(sqlite_db: Database, tmp_path: Path) -> Iterator[Clinic]:
    """A second workstation: its own connection pool on the window's SQLite file."""
    db = Database.open(f"sqlite:///{tmp_path / 'clinic.sqlite3'}", tmp_path / "bk2")
    try:
        yield Clinic(db, as_user(db, "colleague", Role.THERAPIST, "A Colleague"))
    finally:
        wait_ops_all()
        db.close()


def wait_ops_all() -> None:
    from clinic_app.ui import ops

    ops.wait_all()


def test_goal_saved_elsewhere_is_reviewed_three_ways(
        window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages,
        other: Clinic) -> None:
    ep = _shown(window, qtbot, GoalDraft("lefs", 60, START + timedelta(weeks=8), "stairs"))
    dlg = _open_plan(window, qtbot)
    _select_row(qtbot, dlg, 0)
    qtbot.keyClick(dlg.goals_table, Qt.Key.Key_Return)
    key_type(qtbot, dlg, "goalTargetEdit", "70")
    (stored,) = other.plan.goals(ep.id)  # type: ignore[attr-defined]
    from dataclasses import replace

    other.plan.update_goal(stored.id, 1, replace(stored.draft, target_value=64,
                                                 text="stairs without the rail"))
    fake_messages.answers["resolve_conflict"] = [messages.REVIEW_MINE]
    _press(qtbot, dlg, "addGoalButton")
    wait_ops(qtbot)
    ((_p, what, rows, note),) = fake_messages.called("resolve_conflict")
    assert what == "Goal" and rows == [("Target value", "64", "70")]
    assert "colleague" in note and "Goal in words" in note
    assert dlg.goal_target.text() == "70" and dlg.goal_text.text() == "stairs without the rail"
    assert "press Save goal again" in dlg.error_label.text()
    assert not dlg.is_dirty()  # the prescription is untouched
    _press(qtbot, dlg, "addGoalButton")
    wait_ops(qtbot)
    (goal,) = _goals(window, ep)
    assert (goal.draft.target_value, goal.draft.text, goal.stamp.version) == (
        70, "stairs without the rail", 3)
    dlg.reject()


def test_prescription_saved_elsewhere_is_reviewed_not_warned(
        window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages,
        other: Clinic) -> None:
    ep = _shown(window, qtbot, prescribed=True)
    dlg = _open_plan(window, qtbot)
    key_type(qtbot, dlg, "rxDurationEdit", "14")
    other.plan.save_prescription(ep.id, PrescriptionDraft(  # type: ignore[attr-defined]
        Dose(11, 2.5 / KMH_PER_MS), 4), 1)
    qtbot.waitUntil(lambda: "Changed on another workstation by colleague" in
                    dlg.error_label.text(), timeout=15_000)  # the live notice, no reload
    assert dlg.duration.text() == "14"
    fake_messages.answers["resolve_conflict"] = [messages.REVIEW_MINE]
    dlg.duration.setFocus()
    save_with_ctrl_enter(qtbot)
    wait_ops(qtbot)
    ((_p, what, rows, note),) = fake_messages.called("resolve_conflict")
    assert what == "Prescription" and rows == [("Duration (min)", "11", "14")]
    assert "Speed (km/h)" in note and "Sessions per week" in note
    assert (dlg.duration.text(), dlg.speed.text(), dlg.per_week.text()) == ("14", "2.5", "4")
    assert dlg.isVisible() and not fake_messages.called("warn")
    save_with_ctrl_enter(qtbot)
    closed(qtbot, dlg)
    rx = window.ctx.clinic.plan.prescription(ep.id)  # type: ignore[union-attr, attr-defined]
    assert (rx.draft.dose.duration_min, round(rx.draft.dose.speed_m_s * KMH_PER_MS, 2),
            rx.draft.sessions_per_week, rx.stamp.version) == (14, 2.5, 4, 3)


def test_goal_changed_elsewhere_appears_in_the_open_list(
        window: MainWindow, qtbot: QtBot, other: Clinic) -> None:
    ep = _shown(window, qtbot, GoalDraft(text="garden"))
    dlg = _open_plan(window, qtbot)
    other.plan.add_goal(ep.id, GoalDraft(text="cycle to work"))  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: dlg.goals_table.rowCount() == 2, timeout=15_000)
    assert dlg.goals_table.item(1, 0).text() == "cycle to work"
    dlg.reject()


@pytest.mark.parametrize("size", [QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)],
                         ids=lambda s: f"{s.width()}x{s.height()}")
def test_layout_with_goal_actions(window: MainWindow, qtbot: QtBot, size: QSize) -> None:
    _shown(window, qtbot, GoalDraft("lefs", 60, START + timedelta(weeks=8), "stairs"),
           GoalDraft(text="walk to the bakery and back without stopping to rest"),
           prescribed=True)
    dlg = _open_plan(window, qtbot)
    dlg.resize(min(dlg.width(), size.width()), min(dlg.height(), size.height() - 40))
    _select_row(qtbot, dlg, 0)
    qtbot.keyClick(dlg.goals_table, Qt.Key.Key_Return)  # editing: the extra button shows
    qtbot.waitUntil(dlg.cancel_edit_button.isVisible, timeout=5_000)
    assert problems(dlg) == []
    dlg.done(0)
