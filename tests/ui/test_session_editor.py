"""Session editor: inline validation, the unsaved-changes guard and the conflict dialog."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, choose, closed, dialog, typed, wait_ops

from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    WalkSessionDraft,
)
from clinic_app.services.charting import ChartingService
from clinic_app.ui import messages
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor


@pytest.fixture
def charted(window: MainWindow, qtbot: QtBot) -> tuple[MainWindow, object, object]:
    """A patient with one episode and one session, shown in the window."""
    svc = window.ctx.charting  # type: ignore[union-attr]
    p = svc.register_patient(PatientDraft("T-1", "Okafor", "Ada", date(1980, 5, 2)))
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.RIGHT,
                                             date.today() - timedelta(days=20)))  # fmt: skip
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    s, _ = svc.record_session(ep.id, WalkSessionDraft(when, duration_min=15, distance_m=300,
                                                      speed_m_s=0.33, pain_before=5))  # fmt: skip
    window.model.refresh()  # type: ignore[union-attr]
    wait_ops(qtbot)
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.sessions.rowCount() == 1)
    return window, ep, s


def open_new(window: MainWindow, qtbot: QtBot) -> SessionEditor:
    qtbot.mouseClick(window.record.new_session_button, Qt.MouseButton.LeftButton)
    se = dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


def open_edit(window: MainWindow, qtbot: QtBot, row: int = 0) -> SessionEditor:
    window.record.session_table.selectRow(row)
    qtbot.mouseClick(window.record.edit_session_button, Qt.MouseButton.LeftButton)
    se = dialog(window, qtbot, "sessionEditor")
    assert isinstance(se, SessionEditor)
    return se


@pytest.mark.parametrize(
    ("field", "text", "label"),
    [("painBeforeEdit", "12", "Pain before"), ("durationEdit", "abc", "Duration"),
     ("heartRateEdit", "20", "Heart rate"), ("speedEdit", "9", "Speed")],
)  # fmt: skip
def test_bad_value_is_shown_inline_and_nothing_is_stored(
    charted: tuple[MainWindow, object, object], qtbot: QtBot, field: str, text: str, label: str
) -> None:
    window, ep, _ = charted
    se = open_new(window, qtbot)
    typed(qtbot, se, field, text)
    qtbot.keyClick(se.findChild(type(se.duration), field), Qt.Key.Key_Return)
    wait_ops(qtbot)
    assert se.isVisible()
    assert se.error_label.isVisible() and se.error_label.text().startswith(label)
    assert se.focusWidget() is se.findChild(type(se.duration), field)
    svc = window.ctx.charting  # type: ignore[union-attr]
    assert len(svc.chart(ep.patient_id).episodes[0].sessions) == 1  # type: ignore[attr-defined]


def test_bad_test_value_names_the_measure(
    charted: tuple[MainWindow, object, object], qtbot: QtBot
) -> None:
    window, _, _ = charted
    se = open_new(window, qtbot)
    choose(qtbot, se, "testMeasureCombo", "TUG")
    typed(qtbot, se, "testValueEdit", "400")
    qtbot.keyClick(se.value, Qt.Key.Key_Return)
    assert "Timed Up and Go" in se.error_label.text() and "300" in se.error_label.text()
    assert se.pending_tests() == [] and se.focusWidget() is se.value


def test_escape_with_changes_asks_and_discards(
    charted: tuple[MainWindow, object, object], qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    window, ep, _ = charted
    se = open_new(window, qtbot)
    qtbot.keyClick(se, Qt.Key.Key_Escape)  # unchanged: closes without asking
    closed(qtbot, se)
    assert fake_messages.called("ask_discard") == []

    se = open_new(window, qtbot)
    typed(qtbot, se, "painBeforeEdit", "3")
    fake_messages.answers["ask_discard"] = [False, True]
    qtbot.keyClick(se.pain_before, Qt.Key.Key_Escape)
    assert se.isVisible()  # "Keep editing"
    qtbot.keyClick(se.pain_before, Qt.Key.Key_Escape)
    closed(qtbot, se)
    assert len(fake_messages.called("ask_discard")) == 2
    svc = window.ctx.charting  # type: ignore[union-attr]
    assert len(svc.chart(ep.patient_id).episodes[0].sessions) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("choice", [messages.REVIEW_MINE, messages.RELOAD_THEIRS])
def test_conflict_shows_both_versions_and_never_overwrites(
    charted: tuple[MainWindow, object, object], qtbot: QtBot, fake_messages: FakeMessages,
    choice: str,
) -> None:  # fmt: skip
    window, ep, stored = charted
    se = open_edit(window, qtbot)
    # Another workstation changes the same session meanwhile.
    other = ChartingService(window.ctx.db, as_user(window.ctx.db, "front-desk"))  # type: ignore[union-attr]
    theirs = other.update_session(stored.id, 1, replace(stored.draft, pain_after=2,  # type: ignore[attr-defined]
                                                        plan="Progress to incline"))  # fmt: skip
    typed(qtbot, se, "painAfterEdit", "7")
    fake_messages.answers["resolve_conflict"] = [choice]
    if choice == messages.RELOAD_THEIRS:
        fake_messages.answers["ask"] = [True]  # "Discard mine and reload"
    qtbot.keyClick(se.pain_after, Qt.Key.Key_Return)
    wait_ops(qtbot)
    ((_parent, what, rows, note),) = fake_messages.called("resolve_conflict")
    assert what == "Session"
    # Only what both sides changed is a conflict; their plan is kept and said so.
    assert rows == [("Pain after", "2", "7")]
    assert "Stored by front-desk on " in note and "Their change to Plan is kept" in note
    svc = window.ctx.charting  # type: ignore[union-attr]
    now = svc.chart(ep.patient_id).episodes[0].sessions[0]  # type: ignore[attr-defined]
    assert now == theirs  # nothing overwritten by the failed save
    assert se.isVisible()
    if choice == messages.RELOAD_THEIRS:
        assert se.pain_after.text() == "2"
        assert se.soap["plan"].toPlainText() == "Progress to incline"
        assert not se.is_dirty()
        qtbot.keyClick(se.pain_after, Qt.Key.Key_Escape)
        closed(qtbot, se)
        assert svc.chart(ep.patient_id).episodes[0].sessions[0] == theirs  # type: ignore[attr-defined]
    else:
        # My edit is re-applied on top of theirs; their other change is kept.
        assert se.pain_after.text() == "7" and "Save again" in se.error_label.text()
        assert se.soap["plan"].toPlainText() == "Progress to incline"
        qtbot.keyClick(se.pain_after, Qt.Key.Key_Return)  # explicit second save
        closed(qtbot, se)
        final = svc.chart(ep.patient_id).episodes[0].sessions[0]  # type: ignore[attr-defined]
        assert final.draft.pain_after == 7 and final.stamp.version == 3
        assert final.draft.plan == "Progress to incline"
        assert final.draft.speed_m_s == stored.draft.speed_m_s  # type: ignore[attr-defined]


def test_response_labels_line_up_with_their_fields(
    charted: tuple[MainWindow, object, object], qtbot: QtBot
) -> None:
    """The Response box is as tall as the Retro-walking box beside it; its rows must not
    grow with it and leave each label floating above its field."""
    from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit

    window, _, _ = charted
    se = open_new(window, qtbot)
    se.resize(1040, 720)
    qtbot.waitExposed(se)
    form = se.pain_before.parentWidget().layout()
    assert isinstance(form, QFormLayout)
    for edit in (se.pain_before, se.pain_after, se.rpe, se.heart_rate):
        assert isinstance(edit, QLineEdit)
        row, _ = form.getWidgetPosition(edit)
        if row < 0:  # the edit sits in the row's unit layout
            for r in range(form.rowCount()):
                item = form.itemAt(r, QFormLayout.ItemRole.FieldRole)
                if item and item.layout() and item.layout().indexOf(edit) >= 0:
                    row = r
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
        assert isinstance(label, QLabel)
        label_mid = label.mapTo(se, label.rect().center()).y()
        edit_mid = edit.mapTo(se, edit.rect().center()).y()
        assert abs(label_mid - edit_mid) <= 3, (label.text(), label_mid, edit_mid)
    se.reject()
