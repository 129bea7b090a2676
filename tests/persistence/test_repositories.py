"""Repositories and the unit of work against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from accounts import as_user
from sqlalchemy import func, select

from clinic_app.domain.errors import ConflictError, NotFoundError
from clinic_app.domain.records import (
    ClinicInfo,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.persistence.models import AuditRow, PatientRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


def _patient(mrn: str = "MRN-1", family: str = "Müller", given: str = "Anna") -> PatientDraft:
    return PatientDraft(mrn, family, given, date(1984, 5, 17))


def test_patient_round_trip_keeps_every_field(db: Database) -> None:
    draft = PatientDraft("MRN-7", "Nguyễn", "Thị Hoa", date(1990, 2, 28), phone="+44 1",
                         email="hoa@example.org", notes="Prefers mornings")
    with db.unit_of_work("alice") as uow:
        created = uow.patients.add(draft)
    with db.unit_of_work("bob") as uow:
        loaded = uow.patients.get(created.id)
    assert loaded.draft == draft
    assert loaded.stamp.created_by == "alice" and loaded.stamp.version == 1
    assert loaded.stamp.created_at.tzinfo is not None


def test_search_by_name_prefix_mrn_and_birth_date(db: Database) -> None:
    with db.unit_of_work("a") as uow:
        uow.patients.add(_patient("A-1", "Müller", "Anna"))
        uow.patients.add(PatientDraft("B-22", "Mueller", "Ben", date(1961, 4, 23)))
        uow.patients.add(_patient("C-3", "Smith", "Múla"))
    with db.unit_of_work("a") as uow:
        assert [p.draft.mrn for p in uow.patients.search("mul")] == ["A-1", "C-3"]
        assert [p.draft.mrn for p in uow.patients.search("MÜLLER anna")] == ["A-1"]
        assert [p.draft.mrn for p in uow.patients.search("b-2")] == ["B-22"]
        assert [p.draft.mrn for p in uow.patients.search("23.04.1961")] == ["B-22"]
        assert [p.draft.mrn for p in uow.patients.search("1961-04-23")] == ["B-22"]
        assert uow.patients.count("") == 3
        assert uow.patients.count("zzz") == 0
        page = uow.patients.search("", offset=1, limit=1)
        assert [p.draft.family_name for p in page] == ["Müller"]


def test_failed_unit_of_work_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.unit_of_work("a") as uow:
        uow.patients.add(_patient())
        raise RuntimeError("crash mid-transaction")
    with db.unit_of_work("a") as uow:
        assert uow.patients.count() == 0


def test_stale_version_raises_conflict_and_keeps_first_edit(db: Database) -> None:
    with db.unit_of_work("a") as uow:
        p = uow.patients.add(_patient())
    # Two workstations read version 1; the first saves, the second must not overwrite.
    with db.unit_of_work("ws1") as uow:
        uow.patients.update(p.id, 1, _patient(family="Meyer"))
    with pytest.raises(ConflictError) as err, db.unit_of_work("ws2") as uow:
        uow.patients.update(p.id, 1, _patient(family="Maier"))
    assert err.value.current.draft.family_name == "Meyer"
    # The message says who saved which version (it once said "the stored version is ?").
    assert "changed by ws1" in str(err.value) and "stored version is now 2" in str(err.value)
    with db.unit_of_work("a") as uow:
        stored = uow.patients.get(p.id)
    assert stored.draft.family_name == "Meyer"
    assert stored.stamp.version == 2 and stored.stamp.updated_by == "ws1"


def test_concurrent_flush_is_caught_by_version_column(db: Database) -> None:
    """Even when both transactions read the same version, only one UPDATE can win."""
    with db.unit_of_work("a") as uow:
        p = uow.patients.add(_patient())
    session = db._sessions()
    row = session.get(PatientRow, p.id)
    assert row is not None
    session.commit()  # the read ends; the row object keeps version 1 (expire_on_commit=False)
    with db.unit_of_work("ws1") as uow:
        uow.patients.update(p.id, 1, _patient(family="Meyer"))
    row.family_name = "Maier"
    from sqlalchemy.orm.exc import StaleDataError

    with pytest.raises(StaleDataError):
        session.commit()
    session.close()
    with db.unit_of_work("a") as uow:
        assert uow.patients.get(p.id).draft.family_name == "Meyer"


def test_entered_in_error_hides_without_deleting(db: Database) -> None:
    with db.unit_of_work("a") as uow:
        p = uow.patients.add(_patient())
        uow.patients.mark_entered_in_error(p.id, 1, "Duplicate registration")
    with db.unit_of_work("a") as uow:
        assert uow.patients.count() == 0
        assert uow.patients.count(include_in_error=True) == 1
        kept = uow.patients.get(p.id)
    assert kept.stamp.entered_in_error and kept.stamp.error_reason == "Duplicate registration"


def test_sessions_and_tests_are_ordered_and_linked(db: Database) -> None:
    with db.unit_of_work("a") as uow:
        p = uow.patients.add(_patient())
        ep = uow.episodes.add(p.id, EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT,
                                                 date(2026, 3, 1), date(2026, 2, 20)))
        late = uow.sessions.add(ep.id, WalkSessionDraft(datetime(2026, 3, 9, 10, tzinfo=UTC),
                                                        speed_m_s=0.6))
        early = uow.sessions.add(ep.id, WalkSessionDraft(datetime(2026, 3, 2, 10, tzinfo=UTC),
                                                         speed_m_s=0.4))
        t = uow.tests.add(ep.id, TestResultDraft("knee_flexion_rom", date(2026, 3, 2), 95.0,
                                                  Side.LEFT, session_id=early.id), 95.0)
        uow.tests.add(ep.id, TestResultDraft("koos_qol", date(2026, 3, 2), None, None,
                                             (1, 2, None, 3)), 50.0)
    with db.unit_of_work("a") as uow:
        assert [s.id for s in uow.sessions.for_episode(ep.id)] == [early.id, late.id]
        assert uow.sessions.latest(ep.id).id == late.id  # type: ignore[union-attr]
        assert [r.id for r in uow.tests.for_session(early.id)] == [t.id]
        koos = uow.tests.for_episode(ep.id, "koos_qol")[0]
    assert koos.draft.items == (1, 2, None, 3) and koos.value == 50.0


def test_foreign_keys_are_enforced(db: Database) -> None:
    import uuid

    from clinic_app.persistence.uow import ReferenceMissingError

    # Refused by the database, in words without the driver's details (which can quote values).
    with pytest.raises(ReferenceMissingError, match="refers to"), db.unit_of_work("a") as uow:
        uow.sessions.add(uuid.uuid4(), WalkSessionDraft(datetime(2026, 3, 9, tzinfo=UTC)))


def test_missing_record_is_not_found(db: Database) -> None:
    import uuid

    with pytest.raises(NotFoundError), db.unit_of_work("a") as uow:
        uow.patients.get(uuid.uuid4())


def test_clinic_letterhead_version_guard(db: Database) -> None:
    with db.unit_of_work("a") as uow:
        first = uow.clinic.save(ClinicInfo("Knee Clinic", "1 High St", "0123"))
    assert first.version == 1
    with db.unit_of_work("a") as uow:
        uow.clinic.save(ClinicInfo("Knee Clinic Ltd", version=1))
    with pytest.raises(ConflictError), db.unit_of_work("a") as uow:
        uow.clinic.save(ClinicInfo("Other", version=1))
    with db.unit_of_work("a") as uow:
        assert uow.clinic.get().name == "Knee Clinic Ltd"


def test_audit_rows_only_accumulate(db: Database) -> None:
    with db.unit_of_work("alice") as uow:
        p = uow.patients.add(_patient())
        uow.audit.record("create", "patient", p.id, p.id, after=_patient())
        uow.audit.record("view", "patient", p.id, p.id)
    with db.unit_of_work("alice") as uow:
        events = uow.audit.for_patient(p.id)
        n = uow.session.scalar(select(func.count()).select_from(AuditRow))
    assert [e.action for e in events] == ["create", "view"]
    assert events[0].after["family_name"] == "Müller"  # type: ignore[index]
    assert events[0].actor == "alice" and n == 2


def test_reads_do_not_wait_for_a_long_write(db: Database) -> None:
    """A search while another workstation holds a write transaction answers at once."""
    import threading

    with db.unit_of_work("a") as uow:
        uow.patients.add(_patient())
    reader = as_user(db, "reader")  # (an account is a write: made before the writer starts)
    holding, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        with db.unit_of_work("importer") as uow:
            uow.patients.add(_patient("MRN-2", "Writer", "Long"))
            holding.set()
            release.wait(30)

    t = threading.Thread(target=long_writer)
    t.start()
    try:
        assert holding.wait(30)
        with db.unit_of_work("reader", read_only=True) as uow:
            # Sees the committed state, not the writer's uncommitted row.
            assert [p.draft.mrn for p in uow.patients.search()] == ["MRN-1"]
        # The list's lean path (one SELECT, no unit of work) behaves the same.
        svc = ChartingService(db, reader)
        assert [p.draft.mrn for p in svc.search_patients("")] == ["MRN-1"]
        assert svc.count_patients("") == 1
    finally:
        release.set()
        t.join(30)
    with db.unit_of_work("reader", read_only=True) as uow:
        assert uow.patients.count() == 2


def test_read_only_unit_of_work_refuses_writes_on_postgresql(pg_url: str) -> None:
    """(SQLite has no read-only transactions; there the flag only avoids the write lock.)"""
    from sqlalchemy.exc import DBAPIError

    db = Database.open(pg_url, audit_key=b"k" * 32)  # the shared database may hold events
    try:
        with pytest.raises(DBAPIError, match="read-only"), db.unit_of_work(
            "x", read_only=True
        ) as uow:
            uow.patients.add(_patient("RO-1"))
    finally:
        db.close()
