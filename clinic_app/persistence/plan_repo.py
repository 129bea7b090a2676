"""Repository of the plan of care: goals, the prescription and what a session records with
it (safety checklist, home session, suggested dose and override). Returns domain records."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from clinic_app.domain.plan_of_care import (
    Dose,
    EpisodePlanRecords,
    Goal,
    GoalDraft,
    Prescription,
    PrescriptionDraft,
    SafetyDraft,
    SessionSafety,
)
from clinic_app.domain.records import Assistance, Side, Surface, WalkMode
from clinic_app.persistence import rowmac
from clinic_app.persistence.bulk import _insert_many as insert_many
from clinic_app.persistence.bulk import chunks
from clinic_app.persistence.mapping import stamp_of
from clinic_app.persistence.models import (
    CareGoalRow,
    PrescriptionRow,
    SessionSafetyRow,
    WalkSessionRow,
)
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

    # --- exports and imports of whole clinics ------------------------------------------
    def records_for(self, episode_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID,
                                                                     EpisodePlanRecords]:
        """Every plan-of-care row (entered in error included) of these episodes, by
        episode id, oldest first; read in chunks of ids as plain rows (an export page)."""
        goals: dict[uuid.UUID, list[Goal]] = defaultdict(list)
        rxs: dict[uuid.UUID, list[Prescription]] = defaultdict(list)
        safety: dict[uuid.UUID, list[SessionSafety]] = defaultdict(list)
        g, p, k, w = (CareGoalRow.__table__, PrescriptionRow.__table__,
                      SessionSafetyRow.__table__, WalkSessionRow.__table__)
        for chunk in chunks(list(episode_ids)):
            q = select(g).where(g.c.episode_id.in_(chunk)).order_by(g.c.created_at, g.c.id)
            for r in self.s.execute(q):
                goals[r.episode_id].append(goal_of(r))  # type: ignore[arg-type]
            q = select(p).where(p.c.episode_id.in_(chunk)).order_by(p.c.created_at, p.c.id)
            for r in self.s.execute(q):
                rxs[r.episode_id].append(prescription_of(r))  # type: ignore[arg-type]
            q = (select(k, w.c.episode_id.label("session_episode"))
                 .join(w, k.c.session_id == w.c.id).where(w.c.episode_id.in_(chunk))
                 .order_by(w.c.performed_at, k.c.id))
            for r in self.s.execute(q):
                safety[r.session_episode].append(safety_of(r))  # type: ignore[arg-type]
        return {e: EpisodePlanRecords(tuple(goals[e]), tuple(rxs[e]), tuple(safety[e]))
                for e in {*goals, *rxs, *safety}}

    def stored_rows(self, kind: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID,
                                                                       tuple[Any, ...]]:
        """Stored rows of ``kind`` with these ids: id -> values in ``PLAN_COLUMNS[kind][1:]``
        (an import compares them with what it would insert)."""
        table = _PLAN_MODELS[kind].__table__
        cols = [table.c[c] for c in PLAN_COLUMNS[kind]]
        found: dict[uuid.UUID, tuple[Any, ...]] = {}
        for chunk in chunks(list(ids)):
            for row in self.s.execute(select(*cols).where(table.c.id.in_(chunk))):
                found[row[0]] = tuple(row[1:])
        return found

    def live_prescriptions(self, episode_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID,
                                                                           uuid.UUID]:
        """Episode id -> id of its live prescription, for these episodes."""
        t = PrescriptionRow.__table__
        found: dict[uuid.UUID, uuid.UUID] = {}
        for chunk in chunks(list(episode_ids)):
            q = select(t.c.episode_id, t.c.id).where(t.c.episode_id.in_(chunk),
                                                     t.c.entered_in_error.is_(False))
            found.update((e, i) for e, i in self.s.execute(q))
        return found

    def checklist_sessions(self, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID,
                                                                           uuid.UUID]:
        """Session id -> id of its stored checklist row, for these sessions."""
        t = SessionSafetyRow.__table__
        found: dict[uuid.UUID, uuid.UUID] = {}
        for chunk in chunks(list(session_ids)):
            q = select(t.c.session_id, t.c.id).where(t.c.session_id.in_(chunk))
            found.update((s, i) for s, i in self.s.execute(q))
        return found

    def insert_rows(self, kind: str, rows: Sequence[tuple[Any, ...]],
                    stamps: dict[str, Any]) -> None:
        """Store new rows of ``kind`` (tuples in ``PLAN_COLUMNS[kind]`` order) with the
        import's shared ``stamps``, each signed like any row Backstep writes."""
        if not rows:
            return
        table = _PLAN_MODELS[kind].__table__
        keys = PLAN_COLUMNS[kind]
        sign = rowmac.row_signer(self.s.info[rowmac.ROW_KEY], table.name, keys, stamps)
        insert_many(self.s.connection(), table, (*keys, "row_mac"),
                    [(*row, sign(row)) for row in rows], stamps)


_PLAN_MODELS: dict[str, Any] = {"goal": CareGoalRow, "prescription": PrescriptionRow,
                                "safety": SessionSafetyRow}
PLAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "goal": ("id", "entered_in_error", "error_reason", "episode_id", "measure_id", "side",
             "target_value", "target_date", "text", "achieved", "achieved_on"),
    "prescription": ("id", "entered_in_error", "error_reason", "episode_id", "mode",
                     "surface", "duration_min", "speed_m_s", "incline_pct", "assistance",
                     "spotter", "dual_task", "sessions_per_week", "notes"),
    "safety": ("id", "entered_in_error", "error_reason", "session_id", "home", "path_clear",
               "surface_checked", "spotter_present", "suggestion", "overridden",
               "override_reason"),
}
"""The values of one imported plan-of-care row of each kind, in the order the import
writes them (the stamps come apart)."""
