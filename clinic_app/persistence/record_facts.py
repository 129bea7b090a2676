"""Batch look-ups of the few facts that name a record, for the audit trail viewer.

An audit event stores only ids; the viewer needs "Dubois, Anne (MRN P-0012)" and
"Session 2026-03-02 10:30". One query per kind of record for a whole page of events,
instead of a query per event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_app.persistence.models import (
    EpisodeRow,
    PatientRow,
    TestResultRow,
    UserRow,
    WalkSessionRow,
)


@dataclass(frozen=True)
class PatientFacts:
    family_name: str
    given_name: str
    mrn: str


@dataclass(frozen=True)
class RecordFacts:
    """What names one record: its kind, its date (and time), and a kind-specific label.

    ``label`` is the measure id of a test result, the diagnosis of an episode and the user
    name of an account; empty for a session.
    """

    kind: str
    on: date | datetime | None
    label: str = ""
    side: str | None = None


def _uuids(values: Iterable[str | uuid.UUID | None]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for v in values:
        if v is None:
            continue
        try:
            found.add(v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)))
        except ValueError:
            continue  # e.g. the clinic letterhead's id "1"
    return found


def patient_facts(
    session: Session, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, PatientFacts]:
    """Name and MRN of each patient in ``ids`` that exists."""
    wanted = _uuids(ids)
    if not wanted:
        return {}
    q = select(PatientRow.id, PatientRow.family_name, PatientRow.given_name,
               PatientRow.mrn).where(PatientRow.id.in_(wanted))
    return {r.id: PatientFacts(r.family_name, r.given_name, r.mrn)
            for r in session.execute(q)}


def record_facts(
    session: Session, refs: Iterable[tuple[str, str | None]]
) -> dict[tuple[str, str], RecordFacts]:
    """Facts for each ``(entity, entity_id)`` the database still has, keyed the same way."""
    by_kind: dict[str, set[uuid.UUID]] = {}
    for entity, entity_id in refs:
        by_kind.setdefault(entity, set()).update(_uuids([entity_id]))
    out: dict[tuple[str, str], RecordFacts] = {}
    if ids := by_kind.get("session"):
        sq = select(WalkSessionRow.id, WalkSessionRow.performed_at).where(
            WalkSessionRow.id.in_(ids))
        for r in session.execute(sq):
            out[("session", str(r.id))] = RecordFacts("session", r.performed_at)
    if ids := by_kind.get("test_result"):
        tq = select(TestResultRow.id, TestResultRow.measure_id, TestResultRow.performed_on,
                    TestResultRow.side).where(TestResultRow.id.in_(ids))
        for t in session.execute(tq):
            out[("test_result", str(t.id))] = RecordFacts("test_result", t.performed_on,
                                                          t.measure_id, t.side)
    if ids := by_kind.get("episode"):
        eq = select(EpisodeRow.id, EpisodeRow.diagnosis, EpisodeRow.start_date).where(
            EpisodeRow.id.in_(ids))
        for e in session.execute(eq):
            out[("episode", str(e.id))] = RecordFacts("episode", e.start_date, e.diagnosis)
    if ids := by_kind.get("user"):
        uq = select(UserRow.id, UserRow.username).where(UserRow.id.in_(ids))
        for u in session.execute(uq):
            out[("user", str(u.id))] = RecordFacts("user", None, u.username)
    return out
