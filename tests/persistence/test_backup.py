"""Backups are verified copies; restore verifies first and keeps the data it replaces."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import ClinicInfo, PatientDraft
from clinic_app.persistence import backup as backups
from clinic_app.persistence.uow import Database
from clinic_app.services.maintenance import backup_now, restore_from


def _add(db: Database, mrn: str, family: str = "Øyvindsen") -> None:
    with db.unit_of_work("t") as uow:
        p = uow.patients.add(PatientDraft(mrn, family, "Åse", date(1970, 1, 1)))
        uow.audit.record("create", "patient", p.id, p.id)


def _mrns(db: Database) -> list[str]:
    with db.unit_of_work("t") as uow:
        return sorted(p.draft.mrn for p in uow.patients.search(include_in_error=True))


def test_backup_then_restore_brings_back_exactly_the_backed_up_data(
    db: Database, tmp_path: Path
) -> None:
    _add(db, "KEEP-1")
    with db.unit_of_work("t") as uow:
        uow.clinic.save(ClinicInfo("Knee Clinic", "Straße 1", logo_png=b"\x89PNG\r\n\x1a\nxx"))
    result = backup_now(db, as_user(db, "admin"), tmp_path / "b" / "backup.bin")
    assert result.path.stat().st_size > 0
    _add(db, "LATER-2")
    safety = restore_from(db, as_user(db, "admin"), result.path)
    assert _mrns(db) == ["KEEP-1"]
    with db.unit_of_work("t") as uow:
        info = uow.clinic.get()
        actions = [e.action for e in uow.audit.latest(10)]
    assert info.address == "Straße 1" and info.logo_png == b"\x89PNG\r\n\x1a\nxx"
    assert actions[0] == "restore"
    # What the restore replaced is not lost: it sits in the safety backup.
    assert safety.path.exists()
    restore_from(db, as_user(db, "admin"), safety.path)
    assert _mrns(db) == ["KEEP-1", "LATER-2"]
    _add(db, "AFTER-3")  # the restored database still accepts writes
    assert "AFTER-3" in _mrns(db)


def test_corrupt_backup_is_refused_and_data_untouched(db: Database, tmp_path: Path) -> None:
    _add(db, "KEEP-1")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"this is not a backup" * 100)
    backups.sign_file(bad, db.audit_key)  # signed: the content checks must still refuse it
    with pytest.raises(backups.BackupError, match="not a"):
        restore_from(db, as_user(db, "admin"), bad)
    assert _mrns(db) == ["KEEP-1"]


def test_sqlite_backup_passes_integrity_check_and_is_self_contained(
    sqlite_db: Database, tmp_path: Path
) -> None:
    for i in range(50):
        _add(sqlite_db, f"P-{i}")
    result = backup_now(sqlite_db, as_user(sqlite_db, "admin"), tmp_path / "copy.sqlite3")
    assert backups.integrity_check(result.path) == "ok"
    assert not Path(str(result.path) + "-wal").exists()
    copy = Database.open(f"sqlite:///{result.path}")
    try:
        with copy.unit_of_work("t") as uow:
            assert uow.patients.count() == 50
    finally:
        copy.close()


def test_truncated_sqlite_backup_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    for i in range(200):
        _add(sqlite_db, f"P-{i}")
    result = backup_now(sqlite_db, as_user(sqlite_db, "admin"), tmp_path / "copy.sqlite3")
    data = result.path.read_bytes()
    cut = tmp_path / "cut.sqlite3"
    cut.write_bytes(data[: len(data) // 2])
    backups.sign_file(cut, sqlite_db.audit_key)  # signed: the integrity check must refuse it
    with pytest.raises(backups.BackupError, match="integrity|not a"):
        restore_from(sqlite_db, as_user(sqlite_db, "admin"), cut)
    with sqlite_db.unit_of_work("t") as uow:
        assert uow.patients.count() == 200
