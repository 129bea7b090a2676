"""Backups carry a keyed signature; an edited or unsigned backup is refused before restore."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import PatientDraft
from clinic_app.persistence import backup as backups
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.charting import ChartingService
from clinic_app.services.maintenance import backup_now, restore_from

PASSWORD = "correct horse battery"


def _clinic(db: Database) -> None:
    security.create_first_admin(db, "boss", "Boss", PASSWORD)
    ChartingService(db, as_user(db, "boss")).register_patient(
        PatientDraft("SIG-1", "Jensen", "Freya", date(1990, 1, 1)))


def _families(db: Database) -> list[str]:
    with db.unit_of_work("t", read_only=True) as uow:
        return [p.draft.family_name for p in uow.patients.search()]


def test_backup_is_signed_and_restores(db: Database, tmp_path: Path) -> None:
    _clinic(db)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "b" / "clinic.bak")
    sig = json.loads(backups.signature_path(result.path).read_text())
    assert sig["format"] == backups.SIG_FORMAT and sig["checkpoint"]["seq"] == 2
    ChartingService(db, as_user(db, "boss")).register_patient(
        PatientDraft("SIG-2", "Later", "Lars", date(1991, 1, 1)))
    restore_from(db, as_user(db, "boss"), result.path)
    assert _families(db) == ["Jensen"]
    assert db.verify_audit().ok, db.verify_audit().problems


def test_sqlite_backup_edited_with_sqlite3_is_refused(sqlite_db: Database,
                                                       tmp_path: Path) -> None:
    """The tester's attack: rename a patient and add an administrator with a known password
    to a backup file with the sqlite3 tool; restoring it must be refused."""
    db = sqlite_db
    _clinic(db)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "b" / "edited.sqlite3")
    conn = sqlite3.connect(result.path)
    with conn:
        conn.execute("UPDATE patient SET family_name = 'Hacked'")
        conn.execute(
            "INSERT INTO app_user (id, username, full_name, role, password_hash, active, "
            "created_at, failed_logins, version) VALUES (?, 'mallory', 'M', 'admin', ?, 1, "
            "?, 0, 1)", (uuid.uuid4().hex, security.HASHER.hash(PASSWORD),
                         datetime.now(UTC).replace(tzinfo=None).isoformat(" ")))
    conn.close()
    with pytest.raises(backups.BackupError, match="changed after it was backed up"):
        restore_from(db, as_user(db, "boss"), result.path)
    assert _families(db) == ["Jensen"]
    with pytest.raises(security.AuthenticationError):
        security.authenticate(db, "mallory", PASSWORD)


def test_postgresql_dump_edited_is_refused(db: Database, tmp_path: Path) -> None:
    _clinic(db)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "clinic.bak")
    if db.dialect == "sqlite":
        conn = sqlite3.connect(result.path)
        with conn:
            conn.execute("UPDATE patient SET given_name = 'Eve'")
        conn.close()
    else:
        with gzip.open(result.path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines(keepends=True)
        edited = [line.replace('"Jensen"', '"Eve"') for line in lines]
        assert edited != lines
        with gzip.open(result.path, "wt", encoding="utf-8") as fh:
            fh.writelines(edited)
    with pytest.raises(backups.BackupError, match="changed after it was backed up"):
        restore_from(db, as_user(db, "boss"), result.path)
    assert _families(db) == ["Jensen"]


def test_backup_without_signature_is_refused(db: Database, tmp_path: Path) -> None:
    _clinic(db)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "clinic.bak")
    backups.signature_path(result.path).unlink()
    with pytest.raises(backups.BackupError, match="has no signature file"):
        restore_from(db, as_user(db, "boss"), result.path)


def test_signature_forged_without_the_key_is_refused(db: Database, tmp_path: Path) -> None:
    """Editing the backup and re-computing its SHA-256 in the .sig is not enough."""
    _clinic(db)
    result = backup_now(db, as_user(db, "boss"), tmp_path / "clinic.bak")
    copy = tmp_path / "copy.bak"
    shutil.copyfile(result.path, copy)
    backups.sign_file(copy, b"m" * 32)  # signed, but not with the clinic's key
    with pytest.raises(backups.BackupError, match="not made with this clinic's audit key"):
        restore_from(db, as_user(db, "boss"), copy)
