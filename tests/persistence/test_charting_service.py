"""Charting use cases on both databases: validation, one transaction per write, audit, conflicts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    Surface,
    TestResultDraft,
    WalkMode,
    WalkSessionDraft,
)
from clinic_app.persistence.models import AuditRow, TestResultRow, WalkSessionRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService

ANNA = PatientDraft(" mrn-100 ", "Kowalska", "Anna", date(1988, 7, 14))


def _setup(db: Database) -> tuple[ChartingService, object, object]:
    svc = ChartingService(db, as_user(db, "therapist1"))
    p = svc.register_patient(ANNA)
    ep = svc.open_episode(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.RIGHT,
                                             date(2026, 3, 1), date(2026, 2, 18), "Dr. Weber"))
    return svc, p, ep


def _walk(day: int, **kw: object) -> WalkSessionDraft:
    base = dict(performed_at=datetime(2026, 3, day, 9, 30, tzinfo=UTC), mode=WalkMode.TREADMILL,
                surface=Surface.TREADMILL_BELT,
                duration_min=15.0, distance_m=450.0, speed_m_s=0.5, pain_before=3, pain_after=2,
                rpe=4.0, heart_rate=104)
    base.update(kw)
    return WalkSessionDraft(**base)  # type: ignore[arg-type]


def test_register_normalises_mrn_and_audits(db: Database) -> None:
    svc, p, ep = _setup(db)
    assert p.draft.mrn == "MRN-100"
    assert svc.find_by_mrn("mrn-100") == svc.get_patient(p.id)
    with db.unit_of_work("x") as uow:
        events = uow.audit.for_patient(p.id)
    assert [(e.action, e.entity, e.actor) for e in events] == [
        ("create", "patient", "therapist1"), ("create", "episode", "therapist1")]


def test_duplicate_mrn_is_refused_with_field_name(db: Database) -> None:
    svc, p, _ = _setup(db)
    with pytest.raises(ValidationError) as err:
        svc.register_patient(replace(ANNA, given_name="Other"))
    assert err.value.field == "MRN" and "already used" in str(err.value)
    assert svc.count_patients() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date_of_birth": date(1850, 1, 1)}, "Date of birth"),
        ({"family_name": "  "}, "Family name"),
        ({"mrn": "bad mrn!"}, "MRN"),
        ({"email": "not-an-email"}, "Email"),
    ],
)
def test_bad_patient_values_name_the_field_and_store_nothing(
    db: Database, change: dict[str, object], field: str
) -> None:
    svc = ChartingService(db, as_user(db, "t"))
    with pytest.raises(ValidationError) as err:
        svc.register_patient(replace(ANNA, **change))  # type: ignore[arg-type]
    assert err.value.field == field
    assert field in str(err.value) and "allowed" in str(err.value)
    assert svc.count_patients(include_in_error=True) == 0


def test_record_session_with_tests_is_one_transaction(db: Database) -> None:
    svc, p, ep = _setup(db)
    tests = [
        TestResultDraft("bwt_3m", date(2026, 3, 2), 6.4),
        TestResultDraft("knee_flexion_rom", date(2026, 3, 2), 92, side=Side.RIGHT),
        TestResultDraft("lefs", date(2026, 3, 2), items=(2,) * 20),
    ]
    session, results = svc.record_session(ep.id, _walk(2), tests)
    assert [r.value for r in results] == [6.4, 92.0, 40.0]
    assert all(r.draft.session_id == session.id for r in results)
    # A bad test in the batch: neither the session nor any test is stored.
    bad = [TestResultDraft("bwt_3m", date(2026, 3, 5), 5.9),
           TestResultDraft("knee_flexion_rom", date(2026, 3, 5), 400, side=Side.RIGHT)]
    with pytest.raises(ValidationError) as err:
        svc.record_session(ep.id, _walk(5), bad)
    assert "allowed" in str(err.value)
    with db.unit_of_work("x") as uow:
        assert uow.session.scalar(select(func.count()).select_from(WalkSessionRow)) == 1
        assert uow.session.scalar(select(func.count()).select_from(TestResultRow)) == 3


def test_session_validation_rejects_out_of_range_values(db: Database) -> None:
    svc, _, ep = _setup(db)
    with pytest.raises(ValidationError) as err:
        svc.record_session(ep.id, _walk(3, pain_before=11))
    assert "0" in str(err.value) and "10" in str(err.value)
    assert svc.chart(_setup_patient_id(svc)).episodes[0].sessions == ()


def _setup_patient_id(svc: ChartingService):  # type: ignore[no-untyped-def]
    return svc.search_patients()[0].id


def test_edit_and_entered_in_error_keep_history(db: Database) -> None:
    svc, p, ep = _setup(db)
    s1, _ = svc.record_session(ep.id, _walk(2))
    s2, _ = svc.record_session(ep.id, _walk(4))
    s3, _ = svc.record_session(ep.id, _walk(6))
    edited = svc.update_session(s2.id, 1, _walk(4, speed_m_s=0.55, distance_m=495.0))
    assert edited.stamp.version == 2 and edited.draft.speed_m_s == 0.55
    with pytest.raises(ValidationError):
        svc.mark_session_in_error(s3.id, 1, "")
    svc.mark_session_in_error(s3.id, 1, "Recorded for the wrong patient")
    chart = svc.chart(p.id)
    assert [s.id for s in chart.episodes[0].sessions] == [s1.id, s2.id]
    full = svc.chart(p.id, include_in_error=True)
    assert [s.id for s in full.episodes[0].sessions] == [s1.id, s2.id, s3.id]
    assert full.episodes[0].sessions[2].stamp.error_reason == "Recorded for the wrong patient"
    with db.unit_of_work("x") as uow:
        upd = uow.session.scalars(select(AuditRow).where(AuditRow.action == "update")).one()
    assert upd.before["speed_m_s"] == 0.5 and upd.after["speed_m_s"] == 0.55  # type: ignore[index]


def test_two_workstations_editing_one_session(db: Database) -> None:
    svc, p, ep = _setup(db)
    s, _ = svc.record_session(ep.id, _walk(2))
    ws1, ws2 = ChartingService(db, as_user(db, "ws1")), ChartingService(db, as_user(db, "ws2"))
    ws1.update_session(s.id, 1, _walk(2, rpe=6.0))
    with pytest.raises(ConflictError) as err:
        ws2.update_session(s.id, 1, _walk(2, heart_rate=150))
    assert err.value.current.draft.rpe == 6.0
    stored = svc.chart(p.id).episodes[0].sessions[0]
    assert stored.draft.rpe == 6.0 and stored.draft.heart_rate == 104
    assert stored.stamp.updated_by == "ws1"


def test_chart_period_filter(db: Database) -> None:
    svc, p, ep = _setup(db)
    for day in (2, 9, 16):
        svc.record_session(ep.id, _walk(day))
    svc.record_test(ep.id, TestResultDraft("tug", date(2026, 3, 9), 11.2))
    chart = svc.chart(p.id, start=date(2026, 3, 5), end=date(2026, 3, 12))
    assert [s.draft.performed_at.day for s in chart.episodes[0].sessions] == [9]
    assert [t.value for t in chart.episodes[0].tests] == [11.2]


def test_latest_session_prefills_next(db: Database) -> None:
    svc, p, ep = _setup(db)
    assert svc.latest_session(ep.id) is None
    svc.record_session(ep.id, _walk(2))
    last, _ = svc.record_session(ep.id, _walk(6, speed_m_s=0.6, distance_m=540.0))
    svc.record_session(ep.id, _walk(4))
    assert svc.latest_session(ep.id).id == last.id  # type: ignore[union-attr]


def test_future_session_is_refused(db: Database) -> None:
    svc, _, ep = _setup(db)
    later = datetime.now(UTC) + timedelta(days=3)
    with pytest.raises(ValidationError):
        svc.record_session(ep.id, _walk(2, performed_at=later))
