"""The plan of care in exports and imports: charts given their goals, prescriptions and
session checklists for an export, and the import's linking, checks and writes of the
plan-of-care files (``clinic_app.interop.plan_csv``) inside the chart import's unit of work.

The import follows the chart import's rules (``clinic_app.services.interop``): rows keep
their ids, a row already stored with the same content is skipped, one stored with other
content is a conflict, and every problem is reported with file, row and column before
anything is written. An episode has one live prescription and a session one checklist row,
so a second one (in the file or beside a stored one) is refused rather than stored.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from clinic_app.domain.charts import PatientChart
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import ImportBatch, ImportSummary
from clinic_app.domain.plan_of_care import validate_goal
from clinic_app.persistence.plan_repo import PLAN_COLUMNS
from clinic_app.persistence.uow import UnitOfWork

if TYPE_CHECKING:
    from clinic_app.services.interop import _Plan

_GOAL_FIELDS = {"Goal": "text", "Target": "target_value", "Target date": "target_date",
                "Achieved": "achieved", "Date achieved": "achieved_on"}
_ID_COLUMN = {"goal": "goal_id", "prescription": "prescription_id", "safety": "checklist_id"}
_WHAT = {"goal": "goal", "prescription": "prescription", "safety": "session checklist"}


def with_plans(uow: UnitOfWork, charts: list[PatientChart]) -> list[PatientChart]:
    """``charts`` with each episode's plan-of-care records (entered in error included),
    read in the caller's unit of work (a page of an export at a time)."""
    ids = [ec.episode.id for c in charts for ec in c.episodes]
    records = uow.plan.records_for(ids) if ids else {}
    if not records:
        return charts
    return [replace(c, episodes=tuple(replace(ec, plan=records.get(ec.episode.id))
                                      for ec in c.episodes)) for c in charts]


def _given_id(ref: str) -> uuid.UUID | None:
    if len(ref) != 36:
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


class CarePlanRows:
    """The plan-of-care rows of one import: linked through the chart import's lookups
    (``_Plan``), checked against the database, then written after the charts' rows."""

    def __init__(self, plan: _Plan, uow: UnitOfWork) -> None:
        self.plan = plan
        self.repo = uow.plan
        self.rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in PLAN_COLUMNS}
        self.given: dict[str, dict[uuid.UUID, tuple[str, int]]] = {k: {} for k in PLAN_COLUMNS}
        self.episode_of_session: dict[uuid.UUID, uuid.UUID] = {}
        self.skipped = 0

    def _new_id(self, kind: str, ref: str, file: str, row: int,
                seen: dict[str, int]) -> uuid.UUID | None:
        """The row's id (its own when it is a UUID); None for an id twice in the file."""
        if ref:
            if ref in seen:
                self.plan.bad(file, row, _ID_COLUMN[kind], f"{_ID_COLUMN[kind]} {ref} appears "
                              f"twice (also row {seen[ref]})")
                return None
            seen[ref] = row
        given = _given_id(ref)
        if given is not None:
            self.given[kind][given] = (file, row)
        return given or uuid.uuid4()

    # --- linking ----------------------------------------------------------------------
    def link(self, batch: ImportBatch) -> None:
        """Resolve every row's episode or session and check what needs the database."""
        plan = self.plan
        plan._known_episodes([r.link for r in batch.goals]
                             + [r.link for r in batch.prescriptions])
        self._goals(batch)
        self._prescriptions(batch)
        self._safety(batch)
        plan._linked(len(batch.goals) + len(batch.prescriptions) + len(batch.safety))

    def _goals(self, batch: ImportBatch) -> None:
        plan, seen = self.plan, dict[str, int]()
        for r in batch.goals:
            gid = self._new_id("goal", r.ref, r.file, r.row, seen)
            ep = plan._episode_for(r.file, r.row, r.link)
            if gid is None or ep is None or not ep.ok or r.draft is None:
                continue
            try:
                d = validate_goal(r.draft, ep.start, plan.today)
            except ValidationError as exc:
                plan.bad(r.file, r.row, _GOAL_FIELDS.get(exc.field, "measure_id"), str(exc))
                continue
            plan.patient_of[ep.id] = ep.patient_id
            self.rows["goal"].append((
                gid, r.entered_in_error, r.error_reason if r.entered_in_error else None,
                ep.id, d.measure_id, str(d.side) if d.side else None, d.target_value,
                d.target_date, d.text, d.achieved, d.achieved_on))

    def _prescriptions(self, batch: ImportBatch) -> None:
        plan, seen = self.plan, dict[str, int]()
        live_in_file: dict[uuid.UUID, int] = {}
        linked = []
        for r in batch.prescriptions:
            pid = self._new_id("prescription", r.ref, r.file, r.row, seen)
            ep = plan._episode_for(r.file, r.row, r.link)
            if pid is None or ep is None or not ep.ok or r.draft is None:
                continue
            if not r.entered_in_error:
                if ep.id in live_in_file:
                    plan.bad(r.file, r.row, "episode_id", "the episode already has a "
                             f"prescription in this file (row {live_in_file[ep.id]}); "
                             "allowed: one prescription per episode not entered in error")
                    continue
                live_in_file[ep.id] = r.row
            linked.append((r, pid, ep))
        stored = self.repo.live_prescriptions(sorted(live_in_file, key=str))
        for r, pid, ep in linked:
            other = stored.get(ep.id)
            if not r.entered_in_error and other is not None and other != pid:
                plan.bad(r.file, r.row, "prescription_id", f"the episode already has a "
                         f"stored prescription ({other}); allowed: that prescription_id, or "
                         "change the stored one in Backstep")
                continue
            d, dose = r.draft, r.draft.dose  # type: ignore[union-attr]
            plan.patient_of[ep.id] = ep.patient_id
            self.rows["prescription"].append((
                pid, r.entered_in_error, r.error_reason if r.entered_in_error else None,
                ep.id, str(dose.mode), str(dose.surface), dose.duration_min, dose.speed_m_s,
                dose.incline_pct, str(dose.assistance), dose.spotter, dose.dual_task,
                d.sessions_per_week, d.notes))  # type: ignore[union-attr]

    def _safety(self, batch: ImportBatch) -> None:
        plan, seen = self.plan, dict[str, int]()
        plan._known_sessions({r.session_ref for r in batch.safety if r.session_ref})
        in_file: dict[uuid.UUID, int] = {}
        linked = []
        for r in batch.safety:
            kid = self._new_id("safety", r.ref, r.file, r.row, seen)
            if kid is None or not r.session_ref:
                continue
            sess = plan.sessions_by_ref.get(r.session_ref)
            if sess is None:
                plan.bad(r.file, r.row, "session_id", f"no session {r.session_ref} in the "
                         "file or the database (allowed: a session_id from sessions.csv or "
                         "the database)")
                continue
            if not sess.ok or r.draft is None or sess.episode_id is None:
                continue
            if sess.id in in_file:
                plan.bad(r.file, r.row, "session_id", f"session {r.session_ref} already has "
                         f"a checklist row in this file (row {in_file[sess.id]}); allowed: "
                         "one per session")
                continue
            in_file[sess.id] = r.row
            linked.append((r, kid, sess.id, sess.episode_id))
        stored = self.repo.checklist_sessions(sorted(in_file, key=str))
        unknown = sorted({e for *_, e in linked if e not in plan.patient_of}, key=str)
        for eid, pid, _mrn, _start in plan.bulk.episodes(unknown):
            plan.patient_of[eid] = pid
        for r, kid, sid, eid in linked:
            other = stored.get(sid)
            if other is not None and other != kid:
                plan.bad(r.file, r.row, "checklist_id", f"session {r.session_ref} already "
                         f"has a stored checklist row ({other}); allowed: that checklist_id")
                continue
            d = r.draft
            assert d is not None
            self.episode_of_session[kid] = eid
            self.rows["safety"].append((
                kid, r.entered_in_error, r.error_reason if r.entered_in_error else None,
                sid, d.home, d.path_clear, d.surface_checked, d.spotter_present,
                d.suggestion, d.overridden, d.override_reason))

    # --- ids already stored -----------------------------------------------------------
    def reconcile(self) -> None:
        """Skip rows stored as they are; report those stored with other content."""
        for kind, rows in self.rows.items():
            given = self.given[kind]
            stored = self.repo.stored_rows(kind, list(given)) if given else {}
            if not stored:
                continue
            keep = []
            keys = PLAN_COLUMNS[kind]
            for row in rows:
                old = stored.get(row[0])
                if old is None:
                    keep.append(row)
                    continue
                differ = [k for k, a, b in zip(keys[1:], row[1:], old, strict=True) if a != b]
                if not differ:
                    self.skipped += 1
                    continue
                file, number = given[row[0]]
                column = _ID_COLUMN[kind]
                self.plan.bad(file, number, column, f"{column} {row[0]} is already stored "
                              f"with other values ({', '.join(differ)} differ): a conflict "
                              f"(allowed: the stored {_WHAT[kind]} unchanged, or a new "
                              f"{column})")
            self.rows[kind] = keep

    # --- write ------------------------------------------------------------------------
    def write(self, summary: ImportSummary) -> ImportSummary:
        """Insert the rows (after the charts' rows they refer to) and count them."""
        stamps = self.plan.bulk.stamps()
        per_episode: Counter[uuid.UUID] = Counter()
        for kind, rows in self.rows.items():
            self.repo.insert_rows(kind, rows, stamps)
            for row in rows:
                per_episode[self.episode_of_session[row[0]] if kind == "safety"
                            else row[3]] += 1
        for eid, n in per_episode.items():
            counts = self.plan.touched[self.plan.patient_of[eid]]
            counts["plan record(s)"] = counts.get("plan record(s)", 0) + n
        return replace(summary, goals=len(self.rows["goal"]),
                       prescriptions=len(self.rows["prescription"]),
                       checklists=len(self.rows["safety"]), skipped_plan=self.skipped)
