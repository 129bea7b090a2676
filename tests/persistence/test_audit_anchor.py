"""Cutting the end off the audit trail is detected through anchors kept outside the database."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from accounts import as_user
from sqlalchemy import delete, select

from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.models import AuditRow
from clinic_app.persistence.uow import Database
from clinic_app.services.charting import ChartingService
from clinic_app.services.maintenance import backup_now


def _activity(db: Database, n: int = 3, prefix: str = "ANC") -> None:
    svc = ChartingService(db, as_user(db, "alice"))
    for i in range(n):
        svc.register_patient(PatientDraft(f"{prefix}-{i}", "Jensen", "Freya", date(1990, 1, 1)))


def _cut(db: Database, from_seq: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(AuditRow).where(AuditRow.seq >= from_seq))


def _other_workstation(db: Database, tmp_path: Path, monkeypatch) -> Database:  # type: ignore[no-untyped-def]
    """The same database and key, opened from another workstation's data folder."""
    other = tmp_path / "other-workstation"
    monkeypatch.setenv("CLINIC_APP_DATA_DIR", str(other))
    b = Database(db.url, db.engine, audit_key=db.audit_key, state_dir=other)
    assert b.workstation != db.workstation  # (its id derives from its data folder)
    return b


def test_anchor_is_signed_and_names_the_head(db: Database) -> None:
    _activity(db)
    doc = json.loads(db.head_file.read_text())
    assert doc["seq"] == 3 and len(doc["sig"]) == 64 and doc["workstation"] == db.workstation
    assert db.verify_audit().ok


def test_cut_after_deleting_the_anchor_file_is_detected(db: Database) -> None:
    """Deleting this workstation's anchor first no longer hides the cut."""
    _activity(db, 4)
    db.head_file.unlink()
    _cut(db, 3)
    problems = db.verify_audit().problems
    assert problems[-1].startswith(f"this workstation's anchor file {db.head_file.name} is "
                                   "missing although the trail holds 2 event(s)")


def test_forged_anchor_file_is_reported(db: Database) -> None:
    _activity(db, 2)
    doc = json.loads(db.head_file.read_text())
    doc["seq"] = 1
    db.head_file.write_text(json.dumps(doc))
    assert any("not signed with this audit key" in p for p in db.verify_audit().problems)


def test_cut_is_detected_from_another_workstation_through_its_backup(
    db: Database, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Workstation A writes; B takes a backup (a signed checkpoint in its data folder);
    events are cut; B, which never wrote those events, detects it."""
    _activity(db, 3)
    b = _other_workstation(db, tmp_path, monkeypatch)
    backup_now(b, as_user(b, "boss"))  # event 4 is B's backup; its checkpoint names event 3
    _activity(db, 2, "LATE")
    _cut(db, 3)
    problems = b.verify_audit().problems
    assert any(p.startswith("event 3, recorded by backup ") and "is missing" in p
               for p in problems), problems


def test_cut_is_detected_by_the_writer_after_another_workstation_wrote(
    db: Database, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _activity(db, 3)
    b = _other_workstation(db, tmp_path, monkeypatch)
    _cut(db, 3)
    monkeypatch.setenv("CLINIC_APP_DATA_DIR", str(db.head_file.parent))
    problems = db.verify_audit().problems
    assert any(p.startswith("event 3, recorded by this workstation") for p in problems)
    assert b.verify_audit().ok  # B never saw event 3: what remains undetectable from B


def test_restore_rewinds_without_a_false_alarm(db: Database, tmp_path: Path) -> None:
    from clinic_app.services.maintenance import restore_from

    _activity(db, 2)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "early.bak")
    _activity(db, 3, "LATE")
    backup_now(db, as_user(db, "boss"), tmp_path / "late.bak")
    restore_from(db, as_user(db, "boss"), result.path)
    report = db.verify_audit()
    assert report.ok, report.problems


def test_anchor_replaced_by_an_unsigned_one_is_reported(db: Database) -> None:
    """An old-style unsigned head file pointing early in the trail cannot hide a cut."""
    _activity(db, 4)
    with db.engine.begin() as conn:
        first = conn.execute(select(AuditRow.mac).where(AuditRow.seq == 1)).scalar()
    db.head_file.write_text(json.dumps({"seq": 1, "mac": first}))
    _cut(db, 3)
    problems = db.verify_audit().problems
    assert problems == [f"this workstation's anchor file {db.head_file.name} is not signed "
                        "although the trail holds 2 event(s) this workstation wrote: it was "
                        "deleted or replaced"]
