"""Conversions between ORM rows and the domain's frozen dataclasses."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from clinic_app.domain.records import (
    Assistance,
    Diagnosis,
    Episode,
    EpisodeDraft,
    Patient,
    PatientDraft,
    Sex,
    Side,
    Stamp,
    Surface,
    SurgeryType,
    TestResult,
    TestResultDraft,
    WalkMode,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.persistence.models import (
    EpisodeRow,
    PatientRow,
    TestResultRow,
    Tracked,
    WalkSessionRow,
)


def stamp_of(row: Tracked) -> Stamp:
    return Stamp(
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
        entered_in_error=row.entered_in_error,
        error_reason=row.error_reason,
    )


def search_key(text: str) -> str:
    """Case- and accent-insensitive key used for indexed name search."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def patient_of(row: PatientRow) -> Patient:
    draft = PatientDraft(
        mrn=row.mrn,
        family_name=row.family_name,
        given_name=row.given_name,
        date_of_birth=row.date_of_birth,
        sex=Sex(row.sex),
        phone=row.phone,
        email=row.email,
        notes=row.notes,
    )
    return Patient(id=row.id, draft=draft, stamp=stamp_of(row))


PATIENT_COLUMNS = (
    "id", "mrn", "family_name", "given_name", "date_of_birth", "sex", "phone", "email",
    "notes", "created_at", "created_by", "updated_at", "updated_by", "version",
    "entered_in_error", "error_reason",
)
"""The patient table columns :func:`patient_of_values` reads, in its order."""

_SEXES = {str(s): s for s in Sex}


def patient_of_values(values: Any) -> Patient:
    """A :class:`Patient` from a Core result row of :data:`PATIENT_COLUMNS` (no ORM object).

    Same result as :func:`patient_of` on the mapped row; used by read-only list queries,
    where building ORM instances and their identity map was most of the cost.
    """
    (id_, mrn, family, given, dob, sex, phone, email, notes, created_at, created_by,
     updated_at, updated_by, version, in_error, reason) = values
    draft = PatientDraft(mrn, family, given, dob, _SEXES.get(sex) or Sex(sex), phone, email,
                         notes)
    return Patient(id_, draft, Stamp(created_at, created_by, updated_at, updated_by, version,
                                     in_error, reason))


def apply_patient(row: PatientRow, d: PatientDraft) -> None:
    row.mrn = d.mrn
    row.family_name = d.family_name
    row.given_name = d.given_name
    row.family_key = search_key(d.family_name)
    row.given_key = search_key(d.given_name)
    row.date_of_birth = d.date_of_birth
    row.sex = str(d.sex)
    row.phone = d.phone
    row.email = d.email
    row.notes = d.notes


def episode_of(row: EpisodeRow) -> Episode:
    draft = EpisodeDraft(
        diagnosis=Diagnosis(row.diagnosis),
        affected_side=Side(row.affected_side),
        start_date=row.start_date,
        surgery_date=row.surgery_date,
        referring_doctor=row.referring_doctor,
        end_date=row.end_date,
        notes=row.notes,
        surgery_type=SurgeryType(row.surgery_type) if row.surgery_type else None,
        treating_therapist=row.treating_therapist or row.created_by,
    )
    return Episode(id=row.id, patient_id=row.patient_id, draft=draft, stamp=stamp_of(row))


def apply_episode(row: EpisodeRow, d: EpisodeDraft) -> None:
    row.diagnosis = str(d.diagnosis)
    row.affected_side = str(d.affected_side)
    row.start_date = d.start_date
    row.surgery_date = d.surgery_date
    row.referring_doctor = d.referring_doctor
    row.end_date = d.end_date
    row.notes = d.notes
    row.surgery_type = str(d.surgery_type) if d.surgery_type else None
    # The creator is stored as empty, as on the episodes from before the column existed:
    # one spelling per meaning, and rows stay readable by the schema they were signed under.
    therapist = d.treating_therapist or None
    row.treating_therapist = None if therapist == row.created_by else therapist


SESSION_FIELDS = (
    "duration_min", "distance_m", "speed_m_s", "incline_pct", "pain_before", "pain_after",
    "rpe", "heart_rate", "adverse_events", "subjective", "objective", "assessment", "plan",
)


def session_of(row: WalkSessionRow) -> WalkSession:
    values: dict[str, Any] = {name: getattr(row, name) for name in SESSION_FIELDS}
    draft = WalkSessionDraft(
        performed_at=row.performed_at,
        mode=WalkMode(row.mode),
        surface=Surface(row.surface),
        assistance=Assistance(row.assistance),
        **values,
    )
    return WalkSession(id=row.id, episode_id=row.episode_id, draft=draft, stamp=stamp_of(row))


def apply_session(row: WalkSessionRow, d: WalkSessionDraft) -> None:
    row.performed_at = d.performed_at
    row.mode = str(d.mode)
    row.surface = str(d.surface)
    row.assistance = str(d.assistance)
    for name in SESSION_FIELDS:
        setattr(row, name, getattr(d, name))


def test_result_of(row: TestResultRow) -> TestResult:
    draft = TestResultDraft(
        measure_id=row.measure_id,
        performed_on=row.performed_on,
        value=row.value,
        side=Side(row.side) if row.side else None,
        items=tuple(row.items) if row.items is not None else None,
        session_id=row.session_id,
        notes=row.notes,
    )
    return TestResult(
        id=row.id, episode_id=row.episode_id, draft=draft, value=row.value, stamp=stamp_of(row)
    )


def apply_test_result(row: TestResultRow, d: TestResultDraft, value: float) -> None:
    row.measure_id = d.measure_id
    row.performed_on = d.performed_on
    row.side = str(d.side) if d.side else None
    row.items = list(d.items) if d.items is not None else None
    row.session_id = d.session_id
    row.notes = d.notes
    row.value = value


def jsonable(obj: Any) -> Any:
    """Plain JSON form of a dataclass draft for the audit trail."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, tuple | list):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return f"<{len(obj)} bytes>"
    return obj
