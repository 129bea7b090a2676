"""Plan of care in the window, typed as a therapist does: the prescription and a goal in the
plan dialog; a new session pre-filled with the suggested dose and its reason, accepted or
overridden with a reason; the checklist stored with the session; layout at three sizes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from layout_check import problems
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from ui_helpers import (
    FakeMessages,
    active_dialog,
    closed,
    key_type,
    press_enter,
    save_with_ctrl_enter,
    wait_ops,
)

from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    GoalDraft,
    PrescriptionDraft,
    SafetyDraft,
)
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    WalkSessionDraft,
)
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.plan_dialog import PlanOfCareDialog
from clinic_app.ui.session_editor import SessionEditor

START = date.today() - timedelta(days=30)


def _shown(window: MainWindow, qtbot: QtBot, *, prescribed: bool) -> object:
    svc = window.ctx.charting  # type: ignore[union-attr]
    plan = window.ctx.clinic.plan  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("PL-1", "Horvath", "Eva", date(1959, 6, 1)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT, START))
    if prescribed:
        plan.save_prescription(ep.id, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
        for day, before, after in ((1, 2, 2), (3, 1, 2)):
            plan.record_session(ep.id, WalkSessionDraft(
                datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC),
                duration_min=10, speed_m_s=2.0 / KMH_PER_MS, incline_pct=0,
                pain_before=before, pain_after=after, rpe=3), SafetyDraft(spotter_present=True))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None, timeout=10_000)
    qtbot.waitUntil(window.record.new_session_button.isEnabled, timeout=10_000)
    return ep


def _open_session(window: MainWindow, qtbot: QtBot) -> SessionEditor:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window, Qt.Key.Key_N, mods)
    se = active_dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


def _plan_of(window: MainWindow, ep: object):  # type: ignore[no-untyped-def]
    return window.ctx.clinic.plan.plan(ep.id)  # type: ignore[union-attr, attr-defined]


def test_suggested_dose_accepted(window: MainWindow, qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, prescribed=True)
    qtbot.waitUntil(window.record.plan_summary.isVisible, timeout=10_000)
    assert "Adherence" in window.record.plan_summary.text()
    se = _open_session(window, qtbot)
    assert "Duration +2 min: last 2 sessions pain +0/+1, RPE 3" in se.suggestion_label.text()
    assert se.duration.text() == "12" and se.spotter_present.isChecked()
    key_type(qtbot, se, "painBeforeEdit", "1")
    key_type(qtbot, se, "painAfterEdit", "2")
    key_type(qtbot, se, "rpeEdit", "3")
    se.path_clear.setFocus()
    qtbot.keyClick(se.path_clear, Qt.Key.Key_Space)
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    wait_ops(qtbot)
    plan = _plan_of(window, ep)
    sessions = window.ctx.charting.chart(ep.patient_id).episodes[0].sessions  # type: ignore
    last = sessions[-1]
    assert last.draft.duration_min == 12
    row = plan.safety[last.id].draft
    assert (row.path_clear, row.spotter_present, row.overridden, row.home) == (
        True, True, False, False)
    assert row.suggestion.startswith("Duration +2 min")


def test_override_needs_a_reason_and_is_recorded(window: MainWindow, qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, prescribed=True)
    se = _open_session(window, qtbot)
    key_type(qtbot, se, "durationEdit", "8")
    save_with_ctrl_enter(qtbot)
    assert se.isVisible() and "Override reason" in se.error_label.text()
    assert QApplication.focusWidget() is se.override_reason
    qtbot.keyClicks(se.override_reason, "knee sore after work")
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    wait_ops(qtbot)
    plan = _plan_of(window, ep)
    rows = [r.draft for r in plan.safety.values() if r.draft.overridden]
    assert [r.override_reason for r in rows] == ["knee sore after work"]


def test_home_session_marked_as_such(window: MainWindow, qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, prescribed=False)
    se = _open_session(window, qtbot)
    assert "No retro-walking prescription" in se.suggestion_label.text()
    key_type(qtbot, se, "durationEdit", "15")
    se.home.setFocus()
    qtbot.keyClick(se.home, Qt.Key.Key_Space)
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    wait_ops(qtbot)
    plan = _plan_of(window, ep)
    assert plan.home_sessions == 1 and plan.sessions == 0
    model = window.record.sessions
    qtbot.waitUntil(lambda: model.rowCount() == 1 and "(home)" in str(
        model.data(model.index(0, 1))), timeout=10_000)


def _open_plan(window: MainWindow, qtbot: QtBot) -> PlanOfCareDialog:
    qtbot.waitUntil(window.record.plan_button.isEnabled, timeout=10_000)
    window.record.plan_button.setFocus()
    qtbot.keyClick(window.record.plan_button, Qt.Key.Key_Space)
    dlg = active_dialog(window, qtbot, "planOfCareDialog")
    assert isinstance(dlg, PlanOfCareDialog)
    return dlg


def test_prescription_and_goal_typed(window: MainWindow, qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, prescribed=False)
    dlg = _open_plan(window, qtbot)
    # A goal: LEFS 60 points in six weeks, typed.
    dlg.goal_measure.setFocus()
    qtbot.keyClicks(dlg.goal_measure, "Lower")  # (a space would open the list)
    key_type(qtbot, dlg, "goalTargetEdit", "95")
    target = (START + timedelta(weeks=6)).isoformat()
    key_type(qtbot, dlg, "goalDateEdit", target)
    dlg.add_goal_button.setFocus()
    qtbot.keyClick(dlg.add_goal_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "Target" in dlg.error_label.text(), timeout=10_000)
    assert "0 to 80" in dlg.error_label.text()
    key_type(qtbot, dlg, "goalTargetEdit", "60")
    dlg.add_goal_button.setFocus()
    qtbot.keyClick(dlg.add_goal_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: dlg.goals_table.rowCount() == 1, timeout=10_000)
    assert "60 points by" in dlg.goals_table.item(0, 0).text()
    # The prescription: out-of-range first, then right.
    key_type(qtbot, dlg, "rxDurationEdit", "0")
    key_type(qtbot, dlg, "rxSpeedEdit", "2.5")
    save_with_ctrl_enter(qtbot)
    qtbot.waitUntil(lambda: "Duration" in dlg.error_label.text(), timeout=10_000)
    assert "1 to 120 min" in dlg.error_label.text() and dlg.isVisible()
    key_type(qtbot, dlg, "rxDurationEdit", "12")
    key_type(qtbot, dlg, "rxDualTaskEdit", "name animals")
    press_enter(qtbot)
    closed(qtbot, dlg)
    wait_ops(qtbot)
    rx = window.ctx.clinic.plan.prescription(ep.id)  # type: ignore[union-attr, attr-defined]
    assert rx is not None
    d = rx.draft.dose
    assert (d.duration_min, round(d.speed_m_s * KMH_PER_MS, 2), d.dual_task, d.spotter) == (
        12, 2.5, "name animals", True)
    assert rx.draft.sessions_per_week == 3


@pytest.mark.parametrize("size", [QSize(1280, 720), QSize(1366, 768), QSize(1280, 800)],
                         ids=lambda s: f"{s.width()}x{s.height()}")
def test_layout(window: MainWindow, qtbot: QtBot, size: QSize) -> None:
    _shown(window, qtbot, prescribed=True)
    dlg = _open_plan(window, qtbot)
    dlg.resize(min(dlg.width(), size.width()), min(dlg.height(), size.height() - 40))
    qtbot.waitUntil(lambda: dlg.goals_table.isVisible(), timeout=5_000)
    assert problems(dlg) == []
    dlg.done(0)
    se = _open_session(window, qtbot)
    se.resize(min(se.width(), size.width()), min(se.height(), size.height() - 40))
    se.scroll.ensureWidgetVisible(se.override_reason)
    assert problems(se) == []
    assert se.override_reason.width() > 300


def test_goal_reasons_wrap_not_cut(window: MainWindow, qtbot: QtBot) -> None:
    """A goal's reason wraps onto more lines once the dialog has its size, never ends in "…"."""
    ep = _shown(window, qtbot, prescribed=True)
    plan = window.ctx.clinic.plan  # type: ignore[union-attr]
    plan.add_goal(ep.id, GoalDraft(  # type: ignore[attr-defined]
        "walk_10m", 1.5, START + timedelta(weeks=8), "walk to the bus stop before it leaves"))
    dlg = _open_plan(window, qtbot)
    table = dlg.goals_table
    qtbot.waitUntil(lambda: table.rowCount() == 1 and table.isVisible(), timeout=10_000)
    table.setColumnWidth(2, 120)  # a narrow reason column, as on a small screen
    dlg.resize(700, dlg.height())
    QApplication.processEvents()
    for row in range(table.rowCount()):
        assert table.rowHeight(row) >= table.sizeHintForRow(row)
    dlg.done(0)


def test_progression_rules_typed_in_settings(window: MainWindow, qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QTabWidget
    from ui_helpers import dialog, focus_on

    window.settings_action.trigger()
    settings = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)
    tabs = settings.findChild(QTabWidget)
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(3).center())
    assert tabs.tabText(tabs.currentIndex()) == "Progression"
    page = settings.findChild(object, "progressionRulesPage")
    qtbot.waitUntil(lambda: page.save_button.isEnabled(), timeout=10_000)
    key_type(qtbot, settings, "rule_pain_rise_limit", "12")
    qtbot.keyClick(focus_on(qtbot, settings, "saveRulesButton"), Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "Pain rise limit" in page.status.text(), timeout=10_000)
    assert "0 to 10, whole numbers" in page.status.text()
    assert QApplication.focusWidget() is page.edits["pain_rise_limit"]
    qtbot.keyClicks(page.edits["pain_rise_limit"], "1")
    key_type(qtbot, settings, "rule_window_sessions", "3")
    qtbot.keyClick(focus_on(qtbot, settings, "saveRulesButton"), Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: "Saved" in page.status.text(), timeout=10_000)
    rules, version = window.ctx.clinic.plan.rules()  # type: ignore[union-attr]
    assert (rules.pain_rise_limit, rules.window_sessions, version) == (1, 3, 1)
    assert problems(settings) == []
    settings.reject()


def test_the_dialogs_save_stores_typed_rules_or_shows_why_not(
        window: MainWindow, qtbot: QtBot) -> None:
    """A rule typed on the Progression page and the DIALOG's Save pressed (not the page's
    own button): the rule is stored, never closed away unsaved; a rule out of range keeps
    the dialog open on that page with the rule's message."""
    from PySide6.QtWidgets import QTabWidget
    from ui_helpers import closed, dialog

    window.settings_action.trigger()
    settings = dialog(window, qtbot, "settingsDialog")
    wait_ops(qtbot)
    page = settings.findChild(object, "progressionRulesPage")
    qtbot.waitUntil(lambda: page.save_button.isEnabled(), timeout=10_000)
    tabs = settings.findChild(QTabWidget)
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tabs.indexOf(page)).center())
    key_type(qtbot, settings, "rule_pain_rise_limit", "15")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(0).center())
    qtbot.keyClick(settings.save_button, Qt.Key.Key_Space)  # type: ignore[attr-defined]
    wait_ops(qtbot)
    assert settings.isVisible() and tabs.currentWidget() is page
    assert "Pain rise limit" in page.status.text()
    key_type(qtbot, settings, "rule_pain_rise_limit", "3")
    qtbot.keyClick(settings.save_button, Qt.Key.Key_Space)  # type: ignore[attr-defined]
    wait_ops(qtbot)
    closed(qtbot, settings)
    rules, _version = window.ctx.clinic.plan.rules()  # type: ignore[union-attr]
    assert rules.pain_rise_limit == 3


def test_goal_drawn_on_its_plot(window: MainWindow, qtbot: QtBot) -> None:
    from clinic_app.domain.plan_of_care import GoalDraft
    from clinic_app.domain.records import TestResultDraft

    svc = window.ctx.charting  # type: ignore[union-attr]
    plan = window.ctx.clinic.plan  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("PL-2", "Novak", "Ida", date(1960, 3, 3)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT, START))
    for day, value in ((0, 12.0), (14, 11.0)):
        svc.record_test(ep.id, TestResultDraft("tug", START + timedelta(days=day), value))
    target_day = START + timedelta(weeks=8)
    plan.add_goal(ep.id, GoalDraft("tug", 9.5, target_day))
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None, timeout=10_000)
    wait_ops(qtbot)
    window.record.tabs.setCurrentIndex(1)  # the Progress tab
    tab = window.record.progress
    qtbot.waitUntil(lambda: tab.plot is not None, timeout=10_000)
    plot = tab.plot
    plot.select_measures(["tug"])
    qtbot.waitUntil(lambda: plot.panel("tug") is not None
                    and bool(plot.panel("tug").goal_items), timeout=10_000)
    line, star, label = plot.panel("tug").goal_items[0]
    assert line.value() == 9.5 and "Goal 9.5 s by" in label.toPlainText()
    from clinic_app.ui.plot_data import date_to_x

    xs, _ys = star.getData()
    assert xs[0] == date_to_x(target_day)
    lo, hi = plot.panel("tug").plot.getViewBox().viewRange()[0]
    assert lo <= xs[0] <= hi  # the target date is in view


def test_closing_an_episode_offers_the_discharge_summary(
        window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QFileDialog, QLineEdit

    from clinic_app.ui import desktop

    monkeypatch.setattr(desktop, "documents_dir", lambda: tmp_path)
    _shown(window, qtbot, prescribed=True)
    fake_messages.answers["ask"] = [True]
    target = tmp_path / "discharge.pdf"

    def type_name() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QFileDialog):
            QTimer.singleShot(20, type_name)
            return
        edit = box.findChild(QLineEdit, "fileNameEdit")
        edit.selectAll()
        qtbot.keyClicks(edit, "discharge")
        qtbot.keyClick(edit, Qt.Key.Key_Return)

    window.record.edit_episode_button.setFocus()
    qtbot.keyClick(window.record.edit_episode_button, Qt.Key.Key_Space)
    ed = active_dialog(window, qtbot, "episodeDialog")
    key_type(qtbot, ed, "endDateEdit", date.today().isoformat())
    QTimer.singleShot(0, type_name)
    press_enter(qtbot)
    qtbot.waitUntil(lambda: bool(fake_messages.called("inform")), timeout=20_000)
    assert [a[1] for a in fake_messages.called("ask")] == ["Discharge summary"]
    assert str(target) in fake_messages.called("inform")[0][2]
    text = "".join(p.extract_text() for p in PdfReader(target).pages)
    assert "Discharge summary" in text and "Horvath" in text


def test_handout_saved_from_the_plan(window: MainWindow, qtbot: QtBot,
                                     fake_messages: FakeMessages, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QFileDialog, QLineEdit

    from clinic_app.ui import desktop

    monkeypatch.setattr(desktop, "documents_dir", lambda: tmp_path)
    _shown(window, qtbot, prescribed=True)
    dlg = _open_plan(window, qtbot)

    def type_name() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QFileDialog):
            QTimer.singleShot(20, type_name)
            return
        edit = box.findChild(QLineEdit, "fileNameEdit")
        edit.selectAll()
        qtbot.keyClicks(edit, "home")
        qtbot.keyClick(edit, Qt.Key.Key_Return)

    QTimer.singleShot(0, type_name)
    dlg.handout_button.setFocus()
    qtbot.keyClick(dlg.handout_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: bool(fake_messages.called("inform")), timeout=20_000)
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "home.pdf").pages)
    assert "Your backward-walking programme" in text and "10 minutes" in text


def test_home_session_takes_no_suggestion(window: MainWindow, qtbot: QtBot) -> None:
    ep = _shown(window, qtbot, prescribed=True)
    se = _open_session(window, qtbot)
    key_type(qtbot, se, "durationEdit", "20")  # what the patient reports, not the suggestion
    se.home.setFocus()
    qtbot.keyClick(se.home, Qt.Key.Key_Space)
    save_with_ctrl_enter(qtbot)
    closed(qtbot, se)
    wait_ops(qtbot)
    plan = _plan_of(window, ep)
    (row,) = [r.draft for r in plan.safety.values() if r.draft.home]
    assert (row.overridden, row.suggestion) == (False, "")
    assert plan.prescription.draft.dose.duration_min == 10  # a home session never changes it
