"""Repository of the plan of care: goals, the prescription and what a session records with
it (safety checklist, home session, suggested dose and override). Returns domain records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from clinic_app.domain.plan_of_care import (
    Dose,
    Goal,
    GoalDraft,
    Prescription,
    PrescriptionDraft,
    SafetyDraft,
    SessionSafety,
)
from clinic_app.domain.records import Assistance, Side, Surface, WalkMode
from clinic_app.persistence.mapping import stamp_of
from clinic_app.persistence.models import CareGoalRow, PrescriptionRow, SessionSafetyRow
from clinic_app.persistence.repositories import _Repo


def goal_of(row: CareGoalRow) -> Goal:
    draft = GoalDraft(row.measure_id, row.target_value, row.target_date, row.text,
                      Side(row.side) if row.side else None, row.achieved, row.achieved_on)
    return Goal(row.id, row.episode_id, draft, stamp_of(row))


def _apply_goal(row: CareGoalRow, d: GoalDraft) -> None:
    row.measure_id, row.target_value, row.target_date = d.measure_id, d.target_value, \
        d.target_date
    row.text, row.side, row.achieved = d.text, str(d.side) if d.side else None, d.achieved
    row.achieved_on = d.achieved_on


def prescription_of(row: PrescriptionRow) -> Prescription:
    dose = Dose(row.duration_min, row.speed_m_s, row.incline_pct, WalkMode(row.mode),
                Surface(row.surface), Assistance(row.assistance), row.spotter, row.dual_task)
    return Prescription(row.id, row.episode_id,
                        PrescriptionDraft(dose, row.sessions_per_week, row.notes), stamp_of(row))


def _apply_prescription(row: PrescriptionRow, p: PrescriptionDraft) -> None:
    d = p.dose
    row.mode, row.surface, row.assistance = str(d.mode), str(d.surface), str(d.assistance)
    row.duration_min, row.speed_m_s, row.incline_pct = d.duration_min, d.speed_m_s, \
        d.incline_pct
    row.spotter, row.dual_task = d.spotter, d.dual_task
    row.sessions_per_week, row.notes = p.sessions_per_week, p.notes


def safety_of(row: SessionSafetyRow) -> SessionSafety:
    draft = SafetyDraft(row.home, row.path_clear, row.surface_checked, row.spotter_present,
                        row.suggestion, row.overridden, row.override_reason)
    return SessionSafety(row.id, row.session_id, draft, stamp_of(row))


def _apply_safety(row: SessionSafetyRow, d: SafetyDraft) -> None:
    row.home, row.path_clear, row.surface_checked = d.home, d.path_clear, d.surface_checked
    row.spotter_present, row.suggestion = d.spotter_present, d.suggestion
    row.overridden, row.override_reason = d.overridden, d.override_reason


class PlanRepository(_Repo):
    """Goals, prescriptions and session safety rows; never deleted, versioned."""

    # goals
    def goals(self, episode_id: uuid.UUID, include_in_error: bool = True) -> list[Goal]:
        q = select(CareGoalRow).where(CareGoalRow.episode_id == episode_id)
        if not include_in_error:
            q = q.where(CareGoalRow.entered_in_error.is_(False))
        q = q.order_by(CareGoalRow.created_at, CareGoalRow.id)
        return [goal_of(r) for r in self.s.scalars(q)]

    def goal(self, id_: uuid.UUID) -> Goal:
        return goal_of(self._load(CareGoalRow, id_, "Goal"))

    def add_goal(self, episode_id: uuid.UUID, d: GoalDraft) -> Goal:
        row = CareGoalRow(episode_id=episode_id)
        self._stamp_new(row)
        _apply_goal(row, d)
        self.s.add(row)
        self.s.flush()
        return goal_of(row)

    def update_goal(self, id_: uuid.UUID, version: int, d: GoalDraft) -> Goal:
        row = self._load_for_update(CareGoalRow, id_, version, "Goal", goal_of)
        _apply_goal(row, d)
        self.s.flush()
        return goal_of(row)

    def mark_goal_in_error(self, id_: uuid.UUID, version: int, reason: str) -> Goal:
        row = self._mark_error(CareGoalRow, id_, version, reason, "Goal", goal_of)
        self.s.flush()
        return goal_of(row)

    # prescription
    def prescription(self, episode_id: uuid.UUID) -> Prescription | None:
        """The episode's live prescription (the one not entered in error), if any."""
        q = (select(PrescriptionRow)
             .where(PrescriptionRow.episode_id == episode_id,
                    PrescriptionRow.entered_in_error.is_(False))
             .order_by(PrescriptionRow.created_at.desc()).limit(1))
        row = self.s.scalar(q)
        return None if row is None else prescription_of(row)

    def add_prescription(self, episode_id: uuid.UUID, p: PrescriptionDraft) -> Prescription:
        row = PrescriptionRow(episode_id=episode_id)
        self._stamp_new(row)
        _apply_prescription(row, p)
        self.s.add(row)
        self.s.flush()
        return prescription_of(row)

    def update_prescription(self, id_: uuid.UUID, version: int,
                            p: PrescriptionDraft) -> Prescription:
        row = self._load_for_update(PrescriptionRow, id_, version, "Prescription",
                                    prescription_of)
        _apply_prescription(row, p)
        self.s.flush()
        return prescription_of(row)

    # session safety
    def safety_for(self, session_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SessionSafety]:
        ids = list(session_ids)
        out: dict[uuid.UUID, SessionSafety] = {}
        for start in range(0, len(ids), 500):
            q = select(SessionSafetyRow).where(
                SessionSafetyRow.session_id.in_(ids[start:start + 500]))
            for r in self.s.scalars(q):
                out[r.session_id] = safety_of(r)
        return out

    def add_safety(self, session_id: uuid.UUID, d: SafetyDraft) -> SessionSafety:
        row = SessionSafetyRow(session_id=session_id)
        self._stamp_new(row)
        _apply_safety(row, d)
        self.s.add(row)
        self.s.flush()
        return safety_of(row)

    def update_safety(self, id_: uuid.UUID, version: int, d: SafetyDraft) -> SessionSafety:
        row = self._load_for_update(SessionSafetyRow, id_, version, "Session checklist",
                                    safety_of)
        _apply_safety(row, d)
        self.s.flush()
        return safety_of(row)
