"""The whole charting flow through real widgets on a real SQLite file."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from ui_helpers import FakeMessages, choose, closed, dialog, key_type, typed, wait_ops

from clinic_app.domain.records import Diagnosis, EpisodeDraft, PatientDraft, Side
from clinic_app.ui.main_window import MainWindow
from clinic_app.ui.session_editor import SessionEditor


def test_patient_episode_sessions_edit_and_error(
    window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    svc = window.ctx.charting  # type: ignore[union-attr]
    # --- register a patient through the dialog --------------------------------------
    qtbot.mouseClick(window.findChild(QWidget, "newPatientButton"), Qt.MouseButton.LeftButton)
    pd = dialog(window, qtbot, "patientDialog")
    typed(qtbot, pd, "mrnEdit", "k-1001")
    typed(qtbot, pd, "familyNameEdit", "Lindqvist")
    typed(qtbot, pd, "givenNameEdit", "Astrid")
    key_type(qtbot, pd, "dobEdit", "1961-04-23")
    qtbot.keyClick(pd.dob, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    closed(qtbot, pd)
    patient = svc.find_by_mrn("K-1001")
    assert patient is not None and patient.draft.date_of_birth == date(1961, 4, 23)
    qtbot.waitUntil(lambda: window.record.name_label.text() == "Lindqvist, Astrid")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)  # type: ignore[union-attr]

    # --- open an episode of care ------------------------------------------------------
    assert not window.record.new_session_button.isEnabled()
    qtbot.mouseClick(window.record.new_episode_button, Qt.MouseButton.LeftButton)
    ed = dialog(window, qtbot, "episodeDialog")
    choose(qtbot, ed, "diagnosisCombo", "ACL")
    choose(qtbot, ed, "sideCombo", "Left")
    start = date.today() - timedelta(days=30)
    key_type(qtbot, ed, "startDateEdit", start.isoformat())
    surgery = start - timedelta(days=14)
    key_type(qtbot, ed, "surgeryDateEdit", surgery.isoformat())
    typed(qtbot, ed, "referringDoctorEdit", "Dr. Weber")
    qtbot.keyClick(ed.doctor, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    closed(qtbot, ed)
    (episode,) = svc.episodes(patient.id)
    assert episode.draft.surgery_date == surgery and episode.draft.referring_doctor == "Dr. Weber"
    qtbot.waitUntil(lambda: window.record.new_session_button.isEnabled())
    assert "weeks since surgery" in window.record.episode_info.text()

    # --- three sessions through the editor, typing and pressing Enter -------------------
    for i in range(3):
        qtbot.mouseClick(window.record.new_session_button, Qt.MouseButton.LeftButton)
        se = dialog(window, qtbot, "sessionEditor")
        assert isinstance(se, SessionEditor)
        when = datetime.now().replace(second=0, microsecond=0) - timedelta(days=3 - i)
        key_type(qtbot, se, "sessionDateTime", when.strftime("%Y-%m-%d %H:%M"))
        if i == 0:
            assert se.duration.text() == ""
            typed(qtbot, se, "durationEdit", "20")
            typed(qtbot, se, "distanceEdit", "400")
            typed(qtbot, se, "speedEdit", "1,2")
            assert se.speed_ms.text() == "= 0.33 m/s"
            choose(qtbot, se, "testMeasureCombo", "3MBWT")
            typed(qtbot, se, "testValueEdit", "6.2")
            qtbot.keyClick(se.value, Qt.Key.Key_Return)  # adds the test, does not save
            assert se.isVisible() and len(se.pending_tests()) == 1
        else:  # prefilled from the previous session
            assert (se.duration.text(), se.distance.text(), se.speed.text()) == ("20", "400", "1.2")
            assert se.prefill_note.isVisible()
        if i == 1:
            choose(qtbot, se, "testMeasureCombo", "KOOS QoL")
            for n, answer in enumerate("2113"):
                typed(qtbot, se, f"testItem{n + 1}", answer)
            assert "score" in se.score_label.text() and "56.2" in se.score_label.text()
        typed(qtbot, se, "painBeforeEdit", str(4 - i))
        typed(qtbot, se, "painAfterEdit", str(3 - i))
        typed(qtbot, se, "rpeEdit", "5")
        typed(qtbot, se, "heartRateEdit", str(100 + i))
        qtbot.keyClick(se.heart_rate, Qt.Key.Key_Return)
        closed(qtbot, se)

    ep_chart = svc.chart(patient.id).episodes[0]
    sessions = ep_chart.sessions
    assert [s.draft.pain_before for s in sessions] == [4, 3, 2]
    assert all(abs(s.draft.speed_m_s - 1.2 / 3.6) < 1e-3 for s in sessions)  # type: ignore[operator]
    tests = {t.draft.measure_id: t for t in ep_chart.tests}
    assert tests["bwt_3m"].value == 6.2 and tests["bwt_3m"].draft.session_id == sessions[0].id
    assert abs(tests["koos_qol"].value - 56.25) < 1e-9
    assert tests["koos_qol"].draft.items == (2, 1, 1, 3)
    table = window.record.session_table
    qtbot.waitUntil(lambda: window.record.sessions.rowCount() == 3)
    assert "3MBWT 6.2 s" in window.record.sessions.index(0, 12).data()

    # --- edit the second session: select it, Enter opens the editor -------------------
    table.setFocus()
    table.selectRow(1)
    qtbot.keyClick(table, Qt.Key.Key_Return)
    se = dialog(window, qtbot, "sessionEditor")
    assert se.pain_before.text() == "3"  # type: ignore[attr-defined]
    typed(qtbot, se, "painAfterEdit", "1")
    qtbot.keyClick(se.pain_after, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    closed(qtbot, se)
    edited = svc.chart(patient.id).episodes[0].sessions[1]
    assert edited.draft.pain_after == 1 and edited.stamp.version == 2

    # --- mark the first session entered in error, with a reason -----------------------
    qtbot.waitUntil(lambda: window.record.sessions.rowCount() == 3)
    table.selectRow(0)
    fake_messages.answers["ask_reason"] = ["Recorded for the wrong patient"]
    qtbot.mouseClick(window.record.mark_error_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)
    stored = svc.chart(patient.id, include_in_error=True).episodes[0].sessions
    first = stored[0]
    assert first.stamp.entered_in_error
    assert first.stamp.error_reason == "Recorded for the wrong patient"
    assert len(stored) == 3  # nothing deleted
    qtbot.waitUntil(lambda: window.record.sessions.rowCount() == 2)
    window.record.show_errors.setChecked(True)
    model = window.record.sessions
    assert model.rowCount() == 3
    assert model.index(0, 0).data(Qt.ItemDataRole.FontRole).strikeOut()
    assert "wrong patient" in model.index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    table.selectRow(0)
    assert not window.record.edit_session_button.isEnabled()
    assert not window.record.mark_error_button.isEnabled()


def test_an_episode_opened_by_mistake_is_marked_in_error_with_its_reason(
    window: MainWindow, qtbot: QtBot, fake_messages: FakeMessages
) -> None:
    svc = window.ctx.charting  # type: ignore[union-attr]
    patient = svc.register_patient(PatientDraft("EP-9", "Ferreira", "Rui", date(1979, 4, 2)))
    wrong = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ANTERIOR_KNEE_PAIN, Side.LEFT, date.today() - timedelta(days=3)))
    window.model.refresh()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)  # type: ignore[union-attr]
    window.patient_list.selectRow(0)
    qtbot.waitUntil(lambda: window.record.current_episode() is not None)
    fake_messages.answers["ask_reason"] = ["Opened on the wrong patient"]
    window.episode_in_error_action.trigger()
    wait_ops(qtbot)
    (stored,) = svc.chart(patient.id, include_in_error=True).episodes
    assert stored.episode.id == wrong.id and stored.episode.stamp.entered_in_error
    assert stored.episode.stamp.error_reason == "Opened on the wrong patient"
    qtbot.waitUntil(lambda: window.record.current_episode() is None)
    assert not window.record.new_session_button.isEnabled()
    # Cancelled: nothing is marked.
    other = svc.open_episode(patient.id, EpisodeDraft(
        Diagnosis.ANTERIOR_KNEE_PAIN, Side.RIGHT, date.today() - timedelta(days=2)))
    window.record.reload()
    qtbot.waitUntil(lambda: window.record.current_episode() is not None)
    fake_messages.answers["ask_reason"] = [None]
    window.episode_in_error_action.trigger()
    wait_ops(qtbot)
    assert [e.stamp.entered_in_error for e in svc.episodes(patient.id) if e.id == other.id] == [
        False]
