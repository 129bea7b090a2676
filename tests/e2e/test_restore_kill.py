"""Kill -9 a restore at random moments: the database is always either the data before or
the restored backup, never a mix, and a restore that changed anything left a record that
it started (journal) and that it finished (an audit event committed with the swap)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from accounts import PASSWORD, as_user
from sqlalchemy import text

from clinic_app.config import data_dir
from clinic_app.domain.records import PatientDraft
from clinic_app.persistence import backup as backups
from clinic_app.persistence.uow import Database
from clinic_app.services.maintenance import backup_now

ROOT = Path(__file__).resolve().parents[2]
KILLS = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    return request.getfixturevalue("pg_server").create()


def _mrns(db: Database) -> frozenset[str]:
    with db.engine.connect() as conn:
        return frozenset(conn.execute(text("SELECT mrn FROM patient")).scalars())


def _add(db: Database, mrn: str) -> None:
    with db.unit_of_work("t") as uow:
        p = uow.patients.add(PatientDraft(mrn, "Kill", "Kari", date(1966, 6, 6)))
        uow.audit.record("create", "patient", p.id, p.id)


def _started_lines() -> int:
    journal = data_dir() / backups.JOURNAL_NAME
    if not journal.exists():
        return 0
    return sum("restore started:" in line for line in journal.read_text().splitlines())


def test_restore_killed_at_any_moment_is_all_or_nothing_and_recorded(
    url: str, tmp_path: Path
) -> None:
    db = Database.open(url)
    try:
        _add(db, "A-1")
        file_a = backup_now(db, as_user(db, "admin"), tmp_path / "a.bin").path
        _add(db, "B-2")
        file_b = backup_now(db, as_user(db, "admin"), tmp_path / "b.bin").path
    finally:
        db.close()
    sets = {file_a: frozenset({"A-1"}), file_b: frozenset({"A-1", "B-2"})}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_USER": "admin"}
    rng = random.Random(20261128)
    state = sets[file_b]
    swapped = 0
    for attempt in range(KILLS + 1):
        target = file_a if state == sets[file_b] else file_b
        started_before = _started_lines()
        proc = subprocess.Popen(
            [sys.executable, "-m", "clinic_app", "--db", url, "--user", "admin",
             "--password-stdin", "restore", str(target)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True)
        assert proc.stdin is not None
        proc.stdin.write(PASSWORD + "\n")  # signs in as the administrator as_user created
        proc.stdin.close()
        if attempt < KILLS:
            # Start-up takes seconds on a busy machine: aim at the restore itself, from
            # its first journal line to a little after it usually finishes.
            deadline = time.monotonic() + 120
            while _started_lines() == started_before and proc.poll() is None:
                assert time.monotonic() < deadline, "the restore never started"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
        proc.wait(120)
        db = Database.open(url)
        try:
            now = _mrns(db)
            assert now in (state, sets[target]), f"attempt {attempt}: a mix of two states"
            if now != state:
                swapped += 1
                with db.unit_of_work("t", read_only=True) as uow:
                    last = uow.audit.latest(1)[0]
                assert last.action == "restore" and f"restored from {target}" in last.detail
                assert _started_lines() == started_before + 1
            assert db.verify_audit().ok, db.verify_audit().problems
            # PostgreSQL notices a killed client within moments; until then the next
            # restore would (rightly) be refused for the open connection.
            deadline = time.monotonic() + 30
            while backups.other_sessions(db) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            db.close()
        if db.dialect == "sqlite":
            assert backups.integrity_check(Path(url.removeprefix("sqlite:///"))) == "ok"
        state = now
    assert swapped >= 1  # the last attempt runs to the end
    journal = (data_dir() / backups.JOURNAL_NAME).read_text()
    assert journal.count("restore started:") == KILLS + 1
