"""The audit trail is append-only and tamper-evident on both databases."""

from __future__ import annotations

import threading
from datetime import date

from accounts import as_user
from sqlalchemy import delete, text, update

from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService


def _activity(db: Database, n: int = 5) -> None:
    svc = ChartingService(db, as_user(db, "alice"))
    for i in range(n):
        p = svc.register_patient(PatientDraft(f"AUD-{i}", "Jensen", "Freya", date(1990, 1, 1)))
        svc.update_patient(p.id, 1, PatientDraft(f"AUD-{i}", "Jensen", "Freja", date(1990, 1, 1)))


def test_untouched_trail_verifies(db: Database) -> None:
    _activity(db)
    report = db.verify_audit()
    assert report.ok, report.problems
    assert report.checked == 10


def test_altered_value_is_detected(db: Database) -> None:
    _activity(db)
    with db.engine.begin() as conn:
        conn.execute(update(AuditRow).where(AuditRow.seq == 4).values(actor="mallory"))
    report = db.verify_audit()
    assert not report.ok
    assert report.problems == ["event 4: its content was altered"]


def test_altered_before_after_json_is_detected(db: Database) -> None:
    _activity(db)
    with db.engine.begin() as conn:
        row = conn.execute(text("SELECT seq FROM audit_event WHERE action = 'update' "
                                "ORDER BY seq LIMIT 1")).scalar()
        conn.execute(update(AuditRow).where(AuditRow.seq == row)
                     .values(after={"given_name": "Forged"}))
    assert not db.verify_audit().ok


def test_deleted_row_in_the_middle_is_detected(db: Database) -> None:
    _activity(db)
    with db.engine.begin() as conn:
        conn.execute(delete(AuditRow).where(AuditRow.seq == 3))
    report = db.verify_audit()
    assert any(p.startswith("event 4:") and "removed" in p for p in report.problems)


def test_rows_cut_from_the_end_are_detected(db: Database) -> None:
    _activity(db)
    with db.engine.begin() as conn:
        conn.execute(delete(AuditRow).where(AuditRow.seq >= 9))
    report = db.verify_audit()
    assert any("missing" in p for p in report.problems)


def test_resigning_without_the_key_fails(db: Database) -> None:
    """An attacker with database access but not the key cannot forge a consistent chain."""
    _activity(db, 2)
    forged = Database(db.url, db.engine, audit_key=b"not-the-clinic-key",
                      state_dir=db.head_file.parent / "elsewhere")
    forged.head_file.parent.mkdir()
    with forged.unit_of_work("mallory") as uow:
        uow.audit.record("update", "patient", detail="forged")
    assert db.verify_audit().problems[-1].startswith("event 5: its content was altered")


def test_concurrent_writers_keep_one_linear_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(8):
                with db.unit_of_work(f"ws{k}") as uow:
                    uow.audit.record("view", "patient", detail=f"{k}-{i}")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    report = db.verify_audit()
    assert report.ok, report.problems
    assert report.checked == 24
