"""The administrators' audit trail viewer: events with readable patients and records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.permissions import Action, Principal, require
from clinic_app.domain.records import DIAGNOSIS_LABELS, AuditEvent, Diagnosis
from clinic_app.domain.session_params import FIELD_LABELS
from clinic_app.persistence.record_facts import (
    PatientFacts,
    RecordFacts,
)
from clinic_app.persistence.uow import Database

ENTITY_LABELS = {"patient": "Patient", "episode": "Episode of care", "session": "Session",
                 "test_result": "Test", "user": "User account", "clinic": "Clinic letterhead",
                 "database": "Database", "audit": "Audit trail", "demo": "Demo data",
                 "csv": "CSV export", "fhir": "FHIR export", "report": "Report",
                 "cohort": "Cohort curve", "outcomes": "Outcomes report"}


@dataclass(frozen=True)
class AuditLine:
    """One audit event as the viewer shows it."""

    event: AuditEvent
    patient: str  # "Dubois, Anne (MRN P-0012)", "" when the event concerns no patient
    record: str  # "Session 2026-03-02 10:30", "Test 3MBWT 2026-03-02", "Patient", ...
    details: str  # the event's note and the fields that changed, before → after


@dataclass(frozen=True)
class AuditPage:
    total: int
    offset: int
    lines: list[AuditLine]


def audit_lines(db: Database, actor: Principal, offset: int = 0, limit: int = 200) -> AuditPage:
    """Newest-first page of the audit trail, with patients and records named (admins only)."""
    require(actor, Action.ADMIN)
    with db.unit_of_work(actor.username, read_only=True) as uow:
        total = uow.audit.count()
        events = uow.audit.latest(limit, offset)
        patients = uow.patient_facts(e.patient_id for e in events)
        records = uow.record_facts((e.entity, e.entity_id) for e in events)
    lines = [
        AuditLine(e, _patient_text(e, patients), _record_text(e, records), change_text(e))
        for e in events
    ]
    return AuditPage(total, offset, lines)


def _patient_text(e: AuditEvent, patients: dict[UUID, PatientFacts]) -> str:
    if e.patient_id is None:
        return ""
    p = patients.get(e.patient_id)
    if p is None:
        return "(patient not in this database)"
    return f"{p.family_name}, {p.given_name} (MRN {p.mrn})"


def _when(value: object) -> str:
    if isinstance(value, datetime):
        # The session list shows local time; the same session is named the same way here.
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if hasattr(value, "isoformat") else ""


def _record_text(e: AuditEvent, records: dict[tuple[str, str], RecordFacts]) -> str:
    kind = ENTITY_LABELS.get(e.entity, e.entity.replace("_", " ").capitalize())
    facts = records.get((e.entity, e.entity_id or ""))
    if facts is None:
        return kind
    when = _when(facts.on)
    if facts.kind == "test_result":
        m = MEASURES.get(facts.label)
        name = m.short_name if m else facts.label
        side = f" ({facts.side})" if facts.side else ""
        return f"Test {name}{side} {when}"
    if facts.kind == "episode":
        try:
            diagnosis = DIAGNOSIS_LABELS[Diagnosis(facts.label)]
        except ValueError:
            diagnosis = facts.label
        return f"Episode {diagnosis}, from {when}"
    if facts.kind == "user":
        return f"User account {facts.label}"
    return f"{kind} {when}".strip()


def change_text(e: AuditEvent) -> str:
    """The event's note, then "field: before → after" for each field that changed.

    A creation has no "before": its filled-in fields are listed as "field = value".
    """
    parts = [e.detail] if e.detail else []
    if e.after and e.before is None:
        parts += [f"{_field(k)} = {_value(v)}" for k, v in e.after.items()
                  if v not in (None, "", [])]
    elif e.after:
        before = e.before or {}
        parts += [f"{_field(k)}: {_value(before.get(k))} → {_value(v)}"
                  for k, v in e.after.items() if before.get(k) != v]
    return "; ".join(parts)


# Field names as the forms show them; other fields read as words ("given name").
_FIELD_NAMES = {**FIELD_LABELS, "mrn": "MRN", "date_of_birth": "Date of birth",
                "measure_id": "Measure"}


def _field(name: str) -> str:
    return _FIELD_NAMES.get(name) or name.replace("_", " ").capitalize()


def _value(v: object) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, str) and v in MEASURES:
        return MEASURES[v].short_name
    if isinstance(v, str) and len(v) >= 16 and v[4] == "-" and "T" in v:
        try:
            when = datetime.fromisoformat(v)
        except ValueError:
            return v
        if when.tzinfo is not None:
            return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(v)
