"""Plan of care stored on SQLite and PostgreSQL: goals and prescription audited, versioned,
signed, entered in error instead of deleted; sessions with their checklist in one
transaction; the clinic's progression rules shared and admin-only; the plan evaluated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user
from sqlalchemy import select, text

from clinic_app.domain.errors import ConflictError, EnteredInErrorError, ValidationError
from clinic_app.domain.permissions import PermissionDeniedError
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Change,
    Dose,
    GoalDraft,
    GoalStatus,
    PrescriptionDraft,
    ProgressionRules,
    SafetyDraft,
)
from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.models import AuditRow, CareGoalRow, SessionSafetyRow
from clinic_app.persistence.rowmac import TamperedRowError
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.plan_of_care import PlanService

START = date(2026, 3, 2)


def _episode(db: Database) -> tuple[PlanService, ChartingService, object]:
    who = as_user(db, "thera", Role.THERAPIST)
    charting = ChartingService(db, who)
    p = charting.register_patient(PatientDraft("P-1", "Dubois", "Anne", date(1970, 1, 1)))
    ep = charting.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                                  START))
    return PlanService(db, who), charting, ep.id


def _walk(day: int, minutes: float, pb: int = 2, pa: int = 3, rpe: float = 3,
          adverse: str = "") -> WalkSessionDraft:
    return WalkSessionDraft(datetime(2026, 3, 2, 10, tzinfo=UTC) + timedelta(days=day),
                            duration_min=minutes, speed_m_s=2.0 / KMH_PER_MS, incline_pct=0,
                            assistance=Assistance.SUPERVISED, pain_before=pb, pain_after=pa,
                            rpe=rpe, adverse_events=adverse)


def test_goals_are_versioned_audited_and_never_deleted(db: Database) -> None:
    plan, _charting, ep = _episode(db)
    goal = plan.add_goal(ep, GoalDraft("lefs", 60, START + timedelta(weeks=8),
                                       "walk to the shop"))
    changed = plan.update_goal(goal.id, 1, replace(goal.draft, target_value=65))
    assert changed.stamp.version == 2 and changed.draft.target_value == 65
    with pytest.raises(ConflictError):
        plan.update_goal(goal.id, 1, replace(goal.draft, target_value=70))
    with pytest.raises(ValidationError, match="Target.*0 to 80"):
        plan.update_goal(goal.id, 2, replace(goal.draft, target_value=99))
    gone = plan.mark_goal_in_error(goal.id, 2, "wrong measure")
    assert gone.stamp.entered_in_error
    with pytest.raises(EnteredInErrorError):
        plan.update_goal(goal.id, 3, goal.draft)
    assert plan.goals(ep) == []
    assert [g.stamp.error_reason for g in plan.goals(ep, include_in_error=True)] == [
        "wrong measure"]
    with db.unit_of_work("check", read_only=True) as uow:
        actions = uow.session.scalars(select(AuditRow.action).where(
            AuditRow.entity == "goal").order_by(AuditRow.seq)).all()
        assert uow.session.scalar(select(CareGoalRow.target_value)) == 65
    assert actions == ["create", "update", "entered_in_error"]
    assert db.verify_audit().problems == []


def test_front_desk_cannot_write_the_plan(db: Database) -> None:
    plan, _c, ep = _episode(db)
    desk = PlanService(db, as_user(db, "desk", Role.FRONT_DESK))
    with pytest.raises(PermissionDeniedError):
        desk.add_goal(ep, GoalDraft(text="stairs"))
    with pytest.raises(PermissionDeniedError):
        desk.save_prescription(ep, PrescriptionDraft(Dose(10)))
    assert desk.goals(ep) == []  # reading is allowed


def test_prescription_conflicts_and_history(db: Database) -> None:
    plan, _c, ep = _episode(db)
    first = plan.save_prescription(ep, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    with pytest.raises(ConflictError):  # someone else created it meanwhile
        plan.save_prescription(ep, PrescriptionDraft(Dose(12)), 0)
    second = plan.save_prescription(ep, replace(first.draft, sessions_per_week=4), 1)
    assert second.stamp.version == 2 and plan.prescription(ep) == second
    with pytest.raises(ValidationError, match="Duration.*1 to 120 min"):
        plan.save_prescription(ep, PrescriptionDraft(Dose(0)), 2)
    assert plan.prescription(ep) == second  # untouched


def test_session_and_checklist_are_one_transaction(db: Database) -> None:
    plan, charting, ep = _episode(db)
    with pytest.raises(ValidationError, match="Override reason"):
        plan.record_session(ep, _walk(0, 10), SafetyDraft(overridden=True))
    with pytest.raises(ValidationError, match="Pain"):
        plan.record_session(ep, replace(_walk(0, 10), pain_after=11), SafetyDraft(True))
    assert charting.latest_session(ep) is None
    with db.unit_of_work("check", read_only=True) as uow:
        assert uow.session.scalar(select(SessionSafetyRow.id)) is None
    s, row, _ = plan.record_session(ep, _walk(0, 10), SafetyDraft(
        path_clear=True, surface_checked=True, spotter_present=True,
        suggestion="Start at the prescribed dose", overridden=True,
        override_reason="patient anxious, shorter"))
    assert row.session_id == s.id and row.draft.override_reason == "patient anxious, shorter"
    changed = plan.save_safety(s.id, replace(row.draft, spotter_present=False), 1)
    assert changed.stamp.version == 2
    with pytest.raises(ConflictError):
        plan.save_safety(s.id, row.draft, 1)


def test_rules_shared_admin_only_and_audited(db: Database) -> None:
    admin = PlanService(db, as_user(db))
    therapist = PlanService(db, as_user(db, "thera", Role.THERAPIST))
    assert therapist.rules() == (ProgressionRules(), 0)
    with pytest.raises(PermissionDeniedError):
        therapist.save_rules(ProgressionRules(window_sessions=3), 0)
    saved = admin.save_rules(ProgressionRules(window_sessions=3), 0)
    assert therapist.rules() == saved == (ProgressionRules(window_sessions=3), 1)
    with pytest.raises(ConflictError):
        admin.save_rules(ProgressionRules(window_sessions=4), 0)
    with pytest.raises(ValidationError, match="Pain rise limit"):
        admin.save_rules(ProgressionRules(pain_rise_limit=-1), 1)
    with db.unit_of_work("check", read_only=True) as uow:
        ev = uow.session.scalars(select(AuditRow).where(
            AuditRow.entity_id == "progression_rules")).one()
    assert ev.before["window_sessions"] == 2 and ev.after["window_sessions"] == 3


def test_plan_suggests_reports_goals_adherence_and_counts(db: Database) -> None:
    plan, charting, ep = _episode(db)
    plan.save_prescription(ep, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    assert plan.plan(ep, START).suggestion.change == Change.START
    plan.record_session(ep, _walk(0, 10), SafetyDraft(spotter_present=True))
    plan.record_session(ep, _walk(2, 10, 1, 2, 4), SafetyDraft(spotter_present=True))
    plan.record_session(ep, _walk(3, 15), SafetyDraft(home=True))
    for day, value in ((0, 40), (7, 46), (14, 52)):
        charting.record_test(ep, TestResultDraft("lefs", START + timedelta(days=day), value))
    plan.add_goal(ep, GoalDraft("lefs", 60, START + timedelta(weeks=4)))
    plan.add_goal(ep, GoalDraft(text="walk to the shop"))
    got = plan.plan(ep, START + timedelta(days=14))
    assert got.suggestion is not None
    assert got.suggestion.reason == (
        "Duration +2 min: last 2 sessions pain +1/+1, RPE 3\u20134, no adverse events")
    assert got.suggestion.dose.duration_min == 12
    assert [v.assessment.status for v in got.goals] == [GoalStatus.ON_TRACK,
                                                        GoalStatus.NOT_ASSESSED]
    assert (got.sessions, got.home_sessions, got.spotter_sessions, got.adverse_events) == (
        2, 1, 2, 0)
    assert got.adherence is not None and got.adherence.done == 3
    plan.record_session(ep, _walk(15, 12, adverse="felt dizzy"), SafetyDraft())
    after = plan.plan(ep, START + timedelta(days=15))
    assert after.adverse_events == 1 and after.suggestion.change == Change.STEP_BACK
    assert after.suggestion.dose.duration_min == 10


def test_rows_are_signed_and_tamper_is_found(db: Database) -> None:
    plan, _c, ep = _episode(db)
    goal = plan.add_goal(ep, GoalDraft("lefs", 60, START + timedelta(weeks=8)))
    plan.save_prescription(ep, PrescriptionDraft(Dose(10)))
    plan.record_session(ep, _walk(0, 10), SafetyDraft(spotter_present=True))
    assert db.verify_audit().problems == []
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE care_goal SET target_value = 20"))
        conn.execute(text("UPDATE session_safety SET spotter_present = false"))
    problems = db.verify_audit().problems
    assert any(p.startswith("goal ") and "outside Backstep" in p for p in problems)
    assert any(p.startswith("session checklist ") for p in problems)
    with pytest.raises(TamperedRowError):
        plan.update_goal(goal.id, 1, replace(goal.draft, target_value=61))


def test_session_on_a_suggested_dose_becomes_the_prescription(db: Database) -> None:
    plan, _c, ep = _episode(db)
    rx = plan.save_prescription(ep, PrescriptionDraft(Dose(10, 2.0 / KMH_PER_MS), 3))
    plan.record_session(ep, _walk(0, 12), SafetyDraft(home=True, suggestion="x"))
    assert plan.prescription(ep) == rx  # a home session never changes it
    plan.record_session(ep, _walk(1, 12), SafetyDraft(spotter_present=False,
                                                      suggestion="Duration +2 min: ..."))
    now = plan.prescription(ep)
    assert now is not None and now.stamp.version == 2
    assert (now.draft.dose.duration_min, now.draft.dose.spotter) == (12, False)
    with db.unit_of_work("check", read_only=True) as uow:
        details = uow.session.scalars(select(AuditRow.detail).where(
            AuditRow.entity == "prescription", AuditRow.action == "update")).all()
    assert details == ["dose of the session recorded"]
