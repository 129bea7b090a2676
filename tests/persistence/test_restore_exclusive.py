"""A restore while another process writes loses no acknowledged write, and is audited
before and after (database events plus the data folder's append-only journal)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user
from sqlalchemy import text

from clinic_app.config import data_dir
from clinic_app.domain.records import PatientDraft
from clinic_app.persistence import backup as backups
from clinic_app.persistence.uow import Database
from clinic_app.services.maintenance import backup_now, restore_from

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 4


class Writer:
    """``tests/e2e/restore_writer.py`` in its own process; collects its acknowledgements."""

    def __init__(self, url: str, prefix: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
               "CLINIC_APP_USER": "restore-writer"}
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/e2e/restore_writer.py"), url, prefix],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.acked: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, what = line.strip().partition(" ")
            with self._changed:
                (self.acked if kind == "ACK" else self.errors).append(what)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Block until ``count`` writes are acknowledged (the writer must keep running)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.acked) < count:
                assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
                left = deadline - time.monotonic()
                assert left > 0, f"writer acknowledged only {len(self.acked)} writes"
                self._changed.wait(min(left, 1.0))

    def stop(self) -> set[str]:
        """Kill the writer; return every write it acknowledged."""
        self.proc.kill()
        self.proc.wait(30)
        self._reader.join(30)
        return set(self.acked)


def _add(db: Database, mrn: str) -> None:
    with db.unit_of_work("t") as uow:
        p = uow.patients.add(PatientDraft(mrn, "Base", "Berit", date(1970, 1, 1)))
        uow.audit.record("create", "patient", p.id, p.id)


def _mrns(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.execute(text("SELECT mrn FROM patient")).scalars())


def _backup_mrns(path: Path) -> set[str]:
    """Patients in a backup file, read without the app: SQLite file or PostgreSQL dump."""
    if path.name.endswith(".json.gz"):
        return {row["mrn"] for table, row in backups.pg_dump_rows(path) if table == "patient"}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT mrn FROM patient")}
    finally:
        conn.close()


def test_restore_while_another_process_writes_loses_no_acknowledged_write(
    db: Database, tmp_path: Path
) -> None:
    _add(db, "BASE-1")
    as_user(db, "restore-writer")  # the writer's account is in the backup: it writes on after
    base = backup_now(db, as_user(db, "admin"), tmp_path / "base.bin").path
    writer = Writer(db.url, "W")
    safeties: list[Path] = []
    try:
        writer.wait_for(20)
        for _ in range(ROUNDS):
            # The PostgreSQL refusal ("others are connected") is tested below; here the
            # locks alone must keep the writer's acknowledged work.
            admin = as_user(db, "admin")
            safeties.append(restore_from(db, admin, base, refuse_connected=False).path)
            writer.wait_for(len(writer.acked) + 10)  # it goes on writing into the restored DB
    finally:
        acked = writer.stop()
    found = _mrns(db).union(*(_backup_mrns(p) for p in safeties))
    lost = acked - found
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged patients are nowhere"
    assert "BASE-1" in _mrns(db)
    assert db.verify_audit().ok


def test_restore_is_audited_before_and_after_and_journaled(db: Database, tmp_path: Path) -> None:
    _add(db, "BASE-1")
    base = backup_now(db, as_user(db, "admin"), tmp_path / "base.bin").path
    _add(db, "LATER-2")
    safety = restore_from(db, as_user(db, "admin"), base).path
    with db.unit_of_work("t", read_only=True) as uow:
        after = uow.audit.latest(1)[0]
    assert after.action == "restore" and after.actor == "admin"
    assert f"restored from {base}" in after.detail and "started at" in after.detail
    assert str(safety) in after.detail
    # The start was committed in the database being replaced, before its safety backup.
    copy = (Database.open(f"sqlite:///{safety}", state_dir=tmp_path / "other")
            if db.dialect == "sqlite" else None)
    if copy is not None:
        try:
            with copy.unit_of_work("t", read_only=True) as uow:
                started = uow.audit.latest(1)[0]
        finally:
            copy.close()
        assert started.action == "restore" and "restore started from" in started.detail
    else:
        events = [row for table, row in backups.pg_dump_rows(safety)
                  if table == "audit_event"]
        last = max(events, key=lambda e: e["seq"])
        assert last["action"] == "restore" and "restore started from" in last["detail"]
    journal = (data_dir() / backups.JOURNAL_NAME).read_text().splitlines()
    assert [line.split(" ", 2)[1] for line in journal] == ["restore", "restore"]
    assert "restore started:" in journal[0] and "restore finished:" in journal[1]
    assert str(safety) in journal[1]
    assert db.verify_audit().ok


def test_postgresql_restore_is_refused_while_someone_else_is_connected(
    clean_pg_url: str, tmp_path: Path
) -> None:
    db = Database.open(clean_pg_url)
    try:
        base = backup_now(db, as_user(db, "admin"), tmp_path / "base.json.gz").path
        writer = Writer(clean_pg_url, "PGW")
        try:
            writer.wait_for(5)
            before = _mrns(db)
            with pytest.raises(backups.RestoreRefusedError) as refused:
                restore_from(db, as_user(db, "admin"), base)
            writer.wait_for(len(writer.acked) + 5)
        finally:
            acked = writer.stop()
        message = str(refused.value)
        assert "Backstep restore-writer@" in message and "Nothing was changed" in message
        assert before <= _mrns(db) and acked <= _mrns(db)
        assert not list((data_dir() / "backups").glob("before-restore-*"))
        # Once the writer is gone (the server notices within moments), the restore goes ahead.
        deadline = time.monotonic() + 30
        while backups.other_sessions(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        restore_from(db, as_user(db, "admin"), base)
        assert not (_mrns(db) & acked)
    finally:
        db.close()


def test_postgresql_connections_say_who_is_working(clean_pg_url: str) -> None:
    db = Database.open(clean_pg_url, app_user="frontdesk")
    watcher = Database.open(clean_pg_url, app_user="watcher")
    try:
        with db.unit_of_work("t", read_only=True):
            assert any("Backstep frontdesk@" in who for who in backups.other_sessions(watcher))
        db.name_connections("alice")  # signed in
        with db.unit_of_work("alice", read_only=True):
            seen = backups.other_sessions(watcher)
        assert any(who.startswith("Backstep alice@") for who in seen), seen
    finally:
        watcher.close()
        db.close()
