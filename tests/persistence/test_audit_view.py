"""The audit trail viewer's page: patients and records named, not shown as UUIDs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from accounts import as_user

from clinic_app.domain.errors import DomainError
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Sex,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.audit_view import audit_lines
from clinic_app.services.charting import ChartingService

ADMIN = Principal("boss", Role.ADMIN, "Clinic Boss")


def test_events_name_the_patient_and_the_record(db: Database) -> None:
    security.create_first_admin(db, "boss", "Clinic Boss", "long enough password")
    svc = ChartingService(db, as_user(db, "boss"))
    patient = svc.register_patient(PatientDraft(
        mrn="K-1001", family_name="Lindqvist", given_name="Astrid",
        date_of_birth=date(1961, 4, 23), sex=Sex.FEMALE))
    episode = svc.open_episode(patient.id, EpisodeDraft(
        diagnosis=Diagnosis.ACL_RECONSTRUCTION, affected_side=Side.LEFT,
        start_date=date(2026, 2, 1)))
    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    svc.record_session(episode.id, WalkSessionDraft(performed_at=when, duration_min=10),
                       [TestResultDraft(measure_id="bwt_3m",
                                        performed_on=date(2026, 3, 2), value=4.2)])

    page = audit_lines(db, ADMIN)
    assert page.total == len(page.lines) >= 5
    for line in page.lines:
        assert str(patient.id) not in line.patient + line.record + line.details
        assert str(episode.id) not in line.record
    by_entity = {line.event.entity: line for line in page.lines}
    assert by_entity["patient"].patient == "Lindqvist, Astrid (MRN K-1001)"
    assert by_entity["patient"].record == "Patient"
    assert "MRN = K-1001" in by_entity["patient"].details
    assert "Date/time = 2026-03-02 09:30 UTC" in by_entity["session"].details
    assert by_entity["episode"].record == "Episode ACL reconstruction, from 2026-02-01"
    local = when.astimezone().strftime("%Y-%m-%d %H:%M")
    assert by_entity["session"].record == f"Session {local}"
    assert by_entity["session"].patient == "Lindqvist, Astrid (MRN K-1001)"
    assert by_entity["test_result"].record == "Test 3MBWT 2026-03-02"
    assert by_entity["user"].record == "User account boss"
    assert by_entity["user"].patient == ""


def test_an_update_lists_before_and_after(db: Database) -> None:
    svc = ChartingService(db, as_user(db, "boss"))
    draft = PatientDraft(mrn="K-1", family_name="Evans", given_name="Ann",
                         date_of_birth=date(1970, 1, 1), sex=Sex.FEMALE)
    p = svc.register_patient(draft)
    from dataclasses import replace

    svc.update_patient(p.id, p.stamp.version, replace(draft, given_name="Anna"))
    (update,) = [line for line in audit_lines(db, ADMIN).lines if line.event.action == "update"]
    assert update.patient == "Evans, Anna (MRN K-1)"
    assert "Given name: Ann → Anna" in update.details


def test_only_administrators_read_the_trail(db: Database) -> None:
    with pytest.raises(DomainError):
        audit_lines(db, Principal("kim", Role.THERAPIST))
