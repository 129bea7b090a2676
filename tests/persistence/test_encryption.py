"""Optional encryption at rest with SQLCipher: unreadable without the passphrase."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user

from clinic_app.domain.records import PatientDraft
from clinic_app.persistence.backup import BackupError, integrity_check
from clinic_app.persistence.engine import DatabaseLocationError
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.charting import ChartingService
from clinic_app.services.maintenance import backup_now, restore_from

PHRASE = "blue heron walks backwards"
NAME = "Zbigniewska"


def _open(path: Path, monkeypatch: pytest.MonkeyPatch, phrase: str = PHRASE) -> Database:
    monkeypatch.setenv("CLINIC_APP_DB_PASSPHRASE", phrase)
    return Database.open(f"sqlcipher:///{path}", backup_dir=path.parent / "bk")


def test_encrypted_file_holds_no_plaintext_and_reopens_with_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "enc.sqlite3"
    db = _open(path, monkeypatch)
    ChartingService(db, as_user(db, "t")).register_patient(
        PatientDraft("ENC-1", NAME, "Ola", date(1960, 1, 1)))
    db.close()
    raw = path.read_bytes() + (Path(str(path) + "-wal").read_bytes()
                               if Path(str(path) + "-wal").exists() else b"")
    assert NAME.encode() not in raw and b"SQLite format 3" not in raw[:16]
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT * FROM patient").fetchall()
    again = _open(path, monkeypatch)
    try:
        found = ChartingService(again, as_user(again, "t")).search_patients()
        assert found[0].draft.family_name == NAME
    finally:
        again.close()


def test_wrong_or_missing_passphrase_is_a_clear_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "enc.sqlite3"
    _open(path, monkeypatch).close()
    with pytest.raises(DatabaseDamagedError, match="passphrase is wrong"):
        _open(path, monkeypatch, phrase="not it")
    monkeypatch.delenv("CLINIC_APP_DB_PASSPHRASE")
    with pytest.raises(DatabaseLocationError, match="CLINIC_APP_DB_PASSPHRASE"):
        Database.open(f"sqlcipher:///{path}")


def test_encrypted_backup_and_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "enc.sqlite3"
    db = _open(path, monkeypatch)
    svc = ChartingService(db, as_user(db, "t"))
    svc.register_patient(PatientDraft("ENC-1", NAME, "Ola", date(1960, 1, 1)))
    result = backup_now(db, as_user(db, "admin"), tmp_path / "enc-backup.sqlite3")
    assert NAME.encode() not in result.path.read_bytes()
    assert integrity_check(result.path, key=PHRASE) == "ok"
    with pytest.raises(sqlite3.DatabaseError):
        integrity_check(result.path)
    svc.register_patient(PatientDraft("ENC-2", "Later", "Ola", date(1960, 1, 1)))
    restore_from(db, as_user(db, "admin"), result.path)
    restored = ChartingService(db, as_user(db, "t")).search_patients()
    assert [p.draft.mrn for p in restored] == ["ENC-1"]
    db.close()
    with pytest.raises(BackupError, match="another passphrase"):
        other = _open(tmp_path / "other.sqlite3", monkeypatch, phrase="different phrase")
        try:
            restore_from(other, as_user(other, "admin"), result.path)
        finally:
            other.close()


def test_passphrase_may_also_come_in_the_url(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINIC_APP_DB_PASSPHRASE", raising=False)
    path = tmp_path / "enc.sqlite3"
    db = Database.open(f"sqlcipher://:{PHRASE.replace(' ', '%20')}@/{path}")
    try:
        ChartingService(db, as_user(db, "t")).register_patient(PatientDraft("E-1", NAME, "Ola",
                                                               date(1960, 1, 1)))
    finally:
        db.close()
    assert integrity_check(path, key=PHRASE) == "ok"
    assert NAME.encode() not in path.read_bytes()
