"""Plan-of-care use cases: goals, the prescription, the progression rules, sessions with their
safety checklist (and home sessions), and the plan evaluated for the record and the reports."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date
from uuid import UUID

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.plan_of_care import (
    Goal,
    GoalDraft,
    GoalView,
    PlanOfCare,
    Prescription,
    PrescriptionDraft,
    ProgressionRules,
    SafetyDraft,
    SessionFacts,
    SessionSafety,
    adherence,
    assess_goal,
    current_dose,
    facts_of,
    rules_from_text,
    rules_to_text,
    suggest_next_dose,
    validate_goal,
    validate_prescription,
    validate_rules,
    validate_safety,
)
from clinic_app.domain.progress import Point
from clinic_app.domain.records import (
    Episode,
    TestResult,
    TestResultDraft,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import validate_test_result
from clinic_app.domain.session_params import validate_walk_session
from clinic_app.domain.validation import validate_reason
from clinic_app.persistence.uow import Database, UnitOfWork
from clinic_app.services.charting import _episode_and_birth, _in_utc, _refuse_in_error

SETTING_RULES = "progression_rules"


def read_rules(uow: UnitOfWork) -> tuple[ProgressionRules, int]:
    """The clinic's progression rules and their setting version (defaults, 0, if never set).

    A stored value that no longer parses (e.g. a rule added by a newer Backstep with an
    impossible value) falls back to the defaults rather than stopping every session."""
    stored = uow.settings.get(SETTING_RULES)
    if stored is None:
        return ProgressionRules(), 0
    try:
        return rules_from_text(stored[0]), stored[1]
    except (ValueError, TypeError):
        return ProgressionRules(), stored[1]


class PlanService:
    """Plan-of-care use cases for one acting user; permissions checked per call."""

    def __init__(self, db: Database, actor: Principal) -> None:
        self.db = db
        self.principal = as_principal(actor)

    def _uow(self, action: Action = Action.READ) -> AbstractContextManager[UnitOfWork]:
        require(self.principal, action)
        return self.db.unit_of_work(self.principal, read_only=action == Action.READ)

    # --- progression rules (clinic-wide) ----------------------------------------------
    def rules(self) -> tuple[ProgressionRules, int]:
        """The clinic's progression rules and the version to save against."""
        with self._uow() as uow:
            return read_rules(uow)

    def save_rules(self, rules: ProgressionRules, version: int) -> tuple[ProgressionRules, int]:
        """Store the clinic's rules (administrators), audited; a stale version conflicts."""
        require(self.principal, Action.ADMIN)
        validate_rules(rules)
        with self.db.unit_of_work(self.principal) as uow:
            before, _ = read_rules(uow)
            text = rules_to_text(rules)
            if len(text) > 200:  # the setting column's width
                raise ValidationError("Progression rules", "too long to store", "200 characters")
            _value, new_version = uow.settings.put(SETTING_RULES, text, version)
            uow.audit.record("update", "clinic_setting", SETTING_RULES, before=before,
                             after=rules)
        return rules, new_version

    # --- goals -----------------------------------------------------------------------
    def add_goal(self, episode_id: UUID, draft: GoalDraft) -> Goal:
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode = uow.episodes.get(episode_id)
            _refuse_in_error(episode, "Episode of care")
            draft = validate_goal(draft, episode.draft.start_date, date.today())
            goal = uow.plan.add_goal(episode_id, draft)
            uow.audit.record("create", "goal", goal.id, episode.patient_id, after=draft)
        return goal

    def update_goal(self, goal_id: UUID, version: int, draft: GoalDraft) -> Goal:
        """Change a goal (a new version, audited with before and after). A goal saved
        meanwhile elsewhere raises ConflictError; one entered in error is refused."""
        with self._uow(Action.WRITE_CLINICAL) as uow:
            before = uow.plan.goal(goal_id)
            episode = uow.episodes.get(before.episode_id)
            _refuse_in_error(episode, "Episode of care")
            draft = validate_goal(draft, episode.draft.start_date, date.today())
            goal = uow.plan.update_goal(goal_id, version, draft)
            uow.audit.record("update", "goal", goal_id, episode.patient_id,
                             before=before.draft, after=draft)
        return goal

    def set_goal_achieved(self, goal_id: UUID, version: int,
                          achieved_on: date | None) -> Goal:
        """Mark a goal in words achieved on ``achieved_on`` (None: not achieved after all);
        the rest of the goal stays as stored. Versioned and audited like any edit."""
        with self._uow(Action.WRITE_CLINICAL) as uow:
            before = uow.plan.goal(goal_id)
            episode = uow.episodes.get(before.episode_id)
            _refuse_in_error(episode, "Episode of care")
            draft = validate_goal(replace(before.draft, achieved=achieved_on is not None,
                                          achieved_on=achieved_on),
                                  episode.draft.start_date, date.today())
            goal = uow.plan.update_goal(goal_id, version, draft)
            uow.audit.record("update", "goal", goal_id, episode.patient_id,
                             before=before.draft, after=draft,
                             detail="achieved" if achieved_on else "not achieved")
        return goal

    def mark_goal_in_error(self, goal_id: UUID, version: int, reason: str) -> Goal:
        reason = validate_reason(reason)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            goal = uow.plan.mark_goal_in_error(goal_id, version, reason)
            episode = uow.episodes.get(goal.episode_id)
            uow.audit.record("entered_in_error", "goal", goal_id, episode.patient_id,
                             detail=reason)
        return goal

    def goals(self, episode_id: UUID, include_in_error: bool = False) -> list[Goal]:
        with self._uow() as uow:
            return uow.plan.goals(episode_id, include_in_error)

    # --- prescription ----------------------------------------------------------------
    def prescription(self, episode_id: UUID) -> Prescription | None:
        with self._uow() as uow:
            return uow.plan.prescription(episode_id)

    def save_prescription(self, episode_id: UUID, draft: PrescriptionDraft,
                          version: int = 0) -> Prescription:
        """Create (``version`` 0) or change the episode's prescription, audited; a
        prescription saved meanwhile elsewhere raises ConflictError."""
        draft = validate_prescription(replace(draft, notes=draft.notes.strip()))
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode = uow.episodes.get(episode_id)
            _refuse_in_error(episode, "Episode of care")
            current = uow.plan.prescription(episode_id)
            if current is None:
                if version != 0:
                    raise ConflictError("Prescription", version, None)
                saved = uow.plan.add_prescription(episode_id, draft)
                uow.audit.record("create", "prescription", saved.id, episode.patient_id,
                                 after=draft)
            else:
                saved = uow.plan.update_prescription(current.id, version, draft)
                uow.audit.record("update", "prescription", saved.id, episode.patient_id,
                                 before=current.draft, after=draft)
        return saved

    # --- sessions with their checklist -------------------------------------------------
    def record_session(
        self, episode_id: UUID, draft: WalkSessionDraft, safety: SafetyDraft,
        tests: Sequence[TestResultDraft] = (),
    ) -> tuple[WalkSession, SessionSafety, list[TestResult]]:
        """Store a session, its checklist / home flag / dose override and the tests done
        that visit, all in one transaction."""
        safety = validate_safety(safety)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            episode, born = _episode_and_birth(uow, episode_id)
            _refuse_in_error(episode, "Episode of care")
            validate_walk_session(draft, born=born, episode_start=episode.draft.start_date)
            draft = _in_utc(draft)
            scored = [(t, validate_test_result(t, born=born,
                                               episode_start=episode.draft.start_date))
                      for t in tests]
            session = uow.sessions.add(episode_id, draft)
            uow.audit.record("create", "session", session.id, episode.patient_id, after=draft)
            row = uow.plan.add_safety(session.id, safety)
            uow.audit.record("create", "session_safety", row.id, episode.patient_id,
                             after=safety, detail="home" if safety.home else "")
            if safety.suggestion and not safety.home:
                _follow_session(uow, episode, draft, safety)
            stored = []
            for t, value in scored:
                t = replace(t, session_id=session.id)
                result = uow.tests.add(episode_id, t, value)
                uow.audit.record("create", "test_result", result.id, episode.patient_id,
                                 after=t, detail=f"{t.measure_id}={value:g}")
                stored.append(result)
        return session, row, stored

    def save_safety(self, session_id: UUID, safety: SafetyDraft,
                    version: int = 0) -> SessionSafety:
        """Record or change the checklist of an existing session (version 0: none yet)."""
        safety = validate_safety(safety)
        with self._uow(Action.WRITE_CLINICAL) as uow:
            session = uow.sessions.get(session_id)
            _refuse_in_error(session, "Session")
            episode = uow.episodes.get(session.episode_id)
            current = uow.plan.safety_for([session_id]).get(session_id)
            if current is None:
                if version != 0:
                    raise ConflictError("Session checklist", version, None)
                row = uow.plan.add_safety(session_id, safety)
                uow.audit.record("create", "session_safety", row.id, episode.patient_id,
                                 after=safety)
            else:
                row = uow.plan.update_safety(current.id, version, safety)
                uow.audit.record("update", "session_safety", row.id, episode.patient_id,
                                 before=current.draft, after=safety)
        return row

    # --- the plan evaluated ---------------------------------------------------------------
    def plan(self, episode_id: UUID, today: date | None = None) -> PlanOfCare:
        """Goals with their status, the suggested next dose, adherence and safety counts."""
        with self._uow() as uow:
            return load_plan(uow, uow.episodes.get(episode_id), today or date.today())


def load_plan(uow: UnitOfWork, episode: Episode, today: date) -> PlanOfCare:
    """The plan of an episode read inside the caller's unit of work (shared with reports)."""
    rules, _ = read_rules(uow)
    sessions = uow.sessions.for_episode(episode.id, False)
    safety = uow.plan.safety_for([s.id for s in sessions])
    facts: list[SessionFacts] = []
    for s in sessions:
        d = s.draft
        row = safety.get(s.id)
        facts.append(facts_of(d.performed_at.date(), d.duration_min, d.speed_m_s, d.incline_pct,
                              d.pain_before, d.pain_after, d.rpe, d.adverse_events,
                              d.assistance, row.draft if row else None))
    tests = uow.tests.for_episode(episode.id, include_in_error=False)
    views = []
    all_goals = uow.plan.goals(episode.id, include_in_error=True)
    for g in (g for g in all_goals if not g.stamp.entered_in_error):
        series = [Point(t.draft.performed_on, t.value) for t in tests
                  if t.draft.measure_id == g.draft.measure_id
                  and _side_matches(t, g.draft.side or episode.draft.affected_side)]
        views.append(GoalView(g, assess_goal(g.draft, series, today)))
    prescription = uow.plan.prescription(episode.id)
    suggestion = adh = None
    if prescription is not None:
        clinic = [(s, f) for s, f in zip(sessions, facts, strict=True) if not f.home]
        dose = prescription.draft.dose
        # The last clinic session sets the current dose unless the prescription was changed
        # after it was entered (the therapist's new prescription wins).
        if clinic and clinic[-1][0].stamp.created_at > prescription.stamp.updated_at:
            last_session, last = clinic[-1]
            row = safety.get(last_session.id)
            dose = current_dose(dose, last, row.draft.spotter_present if row else None)
        suggestion = suggest_next_dose(prescription.draft.dose, facts, rules, current=dose)
        end = min(today, episode.draft.end_date or today)
        adh = adherence(facts, prescription.draft.sessions_per_week,
                        episode.draft.start_date, end)
    home = sum(1 for f in facts if f.home)
    return PlanOfCare(
        episode.id, prescription, tuple(views), rules, suggestion, adh, safety,
        sessions=len(facts) - home, home_sessions=home,
        adverse_events=sum(1 for f in facts if f.adverse_event),
        spotter_sessions=sum(1 for r in safety.values() if r.draft.spotter_present),
        goals_in_error=tuple(g for g in all_goals if g.stamp.entered_in_error),
    )


def _follow_session(uow: UnitOfWork, episode: Episode, d: WalkSessionDraft,
                    safety: SafetyDraft) -> None:
    """A clinic session done on a suggested (or overridden) dose becomes the current
    prescription, so the handout and the next suggestion start from what was done."""
    current = uow.plan.prescription(episode.id)
    if current is None or d.duration_min is None:
        return
    dose = current.draft.dose
    new = replace(dose, duration_min=d.duration_min,
                  speed_m_s=d.speed_m_s if d.speed_m_s is not None else dose.speed_m_s,
                  incline_pct=max(0.0, d.incline_pct or 0.0), mode=d.mode, surface=d.surface,
                  assistance=d.assistance,
                  spotter=dose.spotter if safety.spotter_present is None
                  else safety.spotter_present)
    if new == dose:
        return
    draft = replace(current.draft, dose=new)
    try:
        draft = validate_prescription(draft)
    except ValidationError:
        return  # a session outside the prescription's ranges leaves it as the therapist set it
    saved = uow.plan.update_prescription(current.id, current.stamp.version, draft)
    uow.audit.record("update", "prescription", saved.id, episode.patient_id,
                     before=current.draft, after=draft, detail="dose of the session recorded")


def _side_matches(t: TestResult, side: object) -> bool:
    return t.draft.side is None or t.draft.side == side


