"""The plan of care in exports and imports: an export page's goals, prescriptions and
session checklists read for the plan-of-care files (``clinic_app.interop.plan_csv``) or
added to charts for FHIR, and the import's checks and writes of those files, chunk by
chunk, through the chart import's lookups (:class:`~clinic_app.services.import_plan.ImportPlan`).

The import follows the chart import's rules: rows keep their ids, a row already stored
with the same content is skipped, one stored with other content is a conflict, and every
problem is reported with file, row and column before anything is written. An episode has
one live prescription and a session one checklist row, so a second one (in the files or
beside a stored one) is refused rather than stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from clinic_app.domain.charts import PatientChart
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import GoalIn, PrescriptionIn, SafetyIn
from clinic_app.domain.plan_of_care import EpisodePlanRecords, validate_goal
from clinic_app.persistence.export_rows import EXPORT_COLUMNS
from clinic_app.persistence.uow import UnitOfWork
from clinic_app.services.import_plan import _CHECKED, RefIndex, _given_id, _Rows, _Sess

if TYPE_CHECKING:
    from clinic_app.services.import_plan import ImportPlan

_GOAL_FIELDS = {"Goal": "text", "Target": "target_value", "Target date": "target_date",
                "Achieved": "achieved", "Date achieved": "achieved_on"}
_ID_COLUMN = {"goal": "goal_id", "prescription": "prescription_id", "safety": "checklist_id"}
_WHAT = {"goal": "goal", "prescription": "prescription", "safety": "session checklist"}
_EPISODE = {name: i for i, name in enumerate(EXPORT_COLUMNS["episodes"])}

PlanEpisode = tuple[Any, str, Any, EpisodePlanRecords]
"""``(episode id, MRN, episode start, records)``, as ``plan_csv.PlanCsvWriter`` writes it."""


# --- export ----------------------------------------------------------------------------


def with_plans(uow: UnitOfWork, charts: list[PatientChart]) -> list[PatientChart]:
    """``charts`` with each episode's plan-of-care records (entered in error included),
    read in the caller's unit of work."""
    ids = [ec.episode.id for c in charts for ec in c.episodes]
    records = uow.plan.records_for(ids) if ids else {}
    if not records:
        return charts
    return [replace(c, episodes=tuple(replace(ec, plan=records.get(ec.episode.id))
                                      for ec in c.episodes)) for c in charts]


def page_plans(uow: UnitOfWork, episodes: Sequence[Sequence[Any]]) -> list[PlanEpisode]:
    """The plan of care of one CSV export page: ``episodes`` are the page's episode rows
    (``EXPORT_COLUMNS["episodes"]``, in the order the export writes them), or just their
    ``(episode id, MRN, start date)``; the episodes without a plan are left out. Read in
    the caller's unit of work (its snapshot)."""
    if episodes and len(episodes[0]) != 3:
        at_id, at_mrn, at_start = (_EPISODE["episode_id"], _EPISODE["mrn"],
                                   _EPISODE["start_date"])
        episodes = [(row[at_id], row[at_mrn], row[at_start]) for row in episodes]
    ids = [uuid.UUID(str(row[0])) for row in episodes]
    records = uow.plan.records_for(ids) if ids else {}
    if not records:
        return []
    return [(row[0], row[1], row[2], records[eid])
            for row, eid in zip(episodes, ids, strict=True) if eid in records]


# --- import ----------------------------------------------------------------------------


class CarePlanImport:
    """The plan-of-care rows of one pass of an import: each chunk is linked through the
    chart import's lookups, checked against the files read so far and the database, and
    handed to ``ImportPlan._settle`` (skip, report, count, and write when storing).

    Besides the ids of its own rows it keeps, for the one-per rules, the episodes given a
    live prescription and the sessions given a checklist row, in :class:`RefIndex` arrays.
    """

    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.repo = plan.plan_repo
        self.refs = {kind: RefIndex() for kind in _ID_COLUMN}
        self.labels: dict[str, dict[str, int]] = {kind: {} for kind in _ID_COLUMN}
        self.live_rx = RefIndex()  # episode id -> row of its live prescription in the files
        self.checklists = RefIndex()  # session id -> row of its checklist in the files
        self.checklist_labels: dict[str, int] = {}  # the same for a session named by a label

    def add(self, kind: str, rows: list[Any]) -> None:
        """Check (and when storing, store) one chunk of a plan-of-care file's rows."""
        if kind == "goals":
            self._goals(rows)
        elif kind == "prescriptions":
            self._prescriptions(rows)
        else:
            self._safety(rows)

    def _ids(self, kind: str, rows: Sequence[GoalIn | PrescriptionIn | SafetyIn],
             given: dict[uuid.UUID, tuple[str, int]]) -> list[uuid.UUID | None]:
        """Each row's id: its own when it is a UUID (noted in ``given``), else a new one;
        None for an id that appeared in an earlier row (reported)."""
        column, index, labels = _ID_COLUMN[kind], self.refs[kind], self.labels[kind]
        keys = [RefIndex.key(r.ref) if r.ref else None for r in rows]
        earlier = iter(index.find([k for k in keys if k is not None]))
        in_chunk: dict[int, int] = {}
        out: list[uuid.UUID | None] = []
        for r, key in zip(rows, keys, strict=True):
            if r.ref:
                if key is None:
                    first = labels.get(r.ref)
                else:
                    hit = next(earlier)
                    first = hit[0] if hit else in_chunk.get(key)
                if first is not None:
                    self.plan.bad(r.file, r.row, column,
                                  f"{column} {r.ref} appears twice (also row {first})")
                    out.append(None)
                    continue
                if key is None:
                    labels[r.ref] = r.row
                else:
                    in_chunk[key] = r.row
            own = _given_id(r.ref)
            if own is not None:
                given[own] = (r.file, r.row)
            out.append(own or uuid.uuid4())
        index.add(list(in_chunk), list(in_chunk.values()), [0] * len(in_chunk))
        return out

    @staticmethod
    def _first_in_files(index: RefIndex, keys: Sequence[int], rows: Sequence[int]
                        ) -> list[int | None]:
        """For each key (an episode or session id), the row of the files that claimed it
        first, or None; the unclaimed ones are claimed by their row."""
        earlier = index.find(keys)
        in_chunk: dict[int, int] = {}
        out: list[int | None] = []
        for key, row, hit in zip(keys, rows, earlier, strict=True):
            first = hit[0] if hit else in_chunk.get(key)
            if first is None:
                in_chunk[key] = row
            out.append(first)
        index.add(list(in_chunk), list(in_chunk.values()), [0] * len(in_chunk))
        return out

    # goals ----------------------------------------------------------------------------
    def _goals(self, rows: list[GoalIn]) -> None:
        plan = self.plan
        plan._known_episodes(r.link for r in rows)
        t = _Rows("goal")
        given: dict[uuid.UUID, tuple[str, int]] = {}
        patient_of: dict[uuid.UUID, uuid.UUID] = {}
        for r, gid in zip(rows, self._ids("goal", rows, given), strict=True):
            ep = plan._episode_for(r.file, r.row, r.link)
            if gid is None or ep is None or not ep.ok or r.draft is None:
                continue
            try:  # the reader could check the dates only against a start date it was given
                d = validate_goal(r.draft, ep.start, plan.today)
            except ValidationError as exc:
                plan.bad(r.file, r.row, _GOAL_FIELDS.get(exc.field, "measure_id"), str(exc))
                continue
            patient_of[ep.id] = ep.patient_id
            t.add(gid, r.entered_in_error, r.error_reason,
                  ep.id, d.measure_id, str(d.side) if d.side else None, d.target_value,
                  d.target_date, d.text, d.achieved, d.achieved_on)
        plan._settle(t, given, "goal_id", _WHAT["goal"], lambda row: patient_of[row[3]])

    # prescriptions ----------------------------------------------------------------------
    def _prescriptions(self, rows: list[PrescriptionIn]) -> None:
        plan = self.plan
        plan._known_episodes(r.link for r in rows)
        given: dict[uuid.UUID, tuple[str, int]] = {}
        linked = []
        for r, pid in zip(rows, self._ids("prescription", rows, given), strict=True):
            ep = plan._episode_for(r.file, r.row, r.link)
            if pid is not None and ep is not None and ep.ok and r.draft is not None:
                linked.append((r, pid, ep))
        live = [(r, ep) for r, _, ep in linked if not r.entered_in_error]
        firsts = self._first_in_files(self.live_rx, [ep.id.int for _, ep in live],
                                      [r.row for r, _ in live])
        twice = set()
        for (r, _), first in zip(live, firsts, strict=True):
            if first is not None:
                plan.bad(r.file, r.row, "episode_id", "the episode already has a "
                         f"prescription in this file (row {first}); allowed: one "
                         "prescription per episode not entered in error")
                twice.add(r.row)
        stored = self.repo.live_prescriptions(sorted({ep.id for _, ep in live}, key=str))
        t = _Rows("prescription")
        patient_of: dict[uuid.UUID, uuid.UUID] = {}
        for r, pid, ep in linked:
            if r.row in twice:
                continue
            other = stored.get(ep.id)
            if not r.entered_in_error and other is not None and other != pid:
                plan.bad(r.file, r.row, "prescription_id", "the episode already has a "
                         f"stored prescription ({other}); allowed: that prescription_id, or "
                         "change the stored one in Backstep")
                continue
            d = r.draft
            assert d is not None
            dose = d.dose
            patient_of[ep.id] = ep.patient_id
            t.add(pid, r.entered_in_error, r.error_reason,
                  ep.id, str(dose.mode), str(dose.surface), dose.duration_min,
                  dose.speed_m_s, dose.incline_pct, str(dose.assistance), dose.spotter,
                  dose.dual_task, d.sessions_per_week, d.notes)
        plan._settle(t, given, "prescription_id", _WHAT["prescription"],
                     lambda row: patient_of[row[3]])

    # session checklists -----------------------------------------------------------------
    def _safety(self, rows: list[SafetyIn]) -> None:
        plan = self.plan
        sessions = plan._sessions_named({r.session_ref for r in rows if r.session_ref})
        given: dict[uuid.UUID, tuple[str, int]] = {}
        linked: list[tuple[SafetyIn, uuid.UUID, _Sess]] = []
        for r, kid in zip(rows, self._ids("safety", rows, given), strict=True):
            if kid is None or not r.session_ref:
                continue  # a missing session_id was reported while reading
            sess = sessions.get(r.session_ref)
            if sess is None:
                plan.bad(r.file, r.row, "session_id", f"no session {r.session_ref} in the "
                         "file or the database (allowed: a session_id from sessions.csv or "
                         "the database)")
                continue
            if sess.ok and r.draft is not None and sess.episode_id is not None:
                linked.append((r, kid, sess))
        # One checklist row per session. While only checking, a session of the files named
        # by a label has no id yet: its label stands for it.
        by_id = [(r, s) for r, _, s in linked if s.id != _CHECKED]
        firsts = dict(zip((r.row for r, _ in by_id), self._first_in_files(
            self.checklists, [s.id.int for _, s in by_id], [r.row for r, _ in by_id]),
            strict=True))
        t = _Rows("safety")
        kept: list[tuple[SafetyIn, uuid.UUID, _Sess]] = []
        for r, kid, sess in linked:
            first: int | None
            if sess.id == _CHECKED:
                claimed = self.checklist_labels.setdefault(r.session_ref, r.row)
                first = None if claimed == r.row else claimed
            else:
                first = firsts[r.row]
            if first is not None:
                plan.bad(r.file, r.row, "session_id", f"session {r.session_ref} already has "
                         f"a checklist row in this file (row {first}); allowed: one per "
                         "session")
                continue
            kept.append((r, kid, sess))
        stored = self.repo.checklist_sessions(
            sorted({s.id for _, _, s in kept if s.id != _CHECKED}, key=str))
        unknown = sorted({s.episode_id for _, _, s in kept if s.patient_id is None
                          and s.episode_id is not None}, key=str)
        patients = {eid: pid for eid, pid, _mrn, _start in plan.bulk.episodes(unknown)}
        patient_of: dict[uuid.UUID, uuid.UUID] = {}
        for r, kid, sess in kept:
            other = stored.get(sess.id)
            if other is not None and other != kid:
                plan.bad(r.file, r.row, "checklist_id", f"session {r.session_ref} already "
                         f"has a stored checklist row ({other}); allowed: that checklist_id")
                continue
            d = r.draft
            assert d is not None and sess.episode_id is not None
            patient_of[kid] = sess.patient_id or patients[sess.episode_id]
            t.add(kid, r.entered_in_error, r.error_reason,
                  sess.id, d.home, d.path_clear, d.surface_checked, d.spotter_present,
                  d.suggestion, d.overridden, d.override_reason)
        plan._settle(t, given, "checklist_id", _WHAT["safety"],
                     lambda row: patient_of[row[0]])
