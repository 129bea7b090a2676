"""Moving a whole clinic between SQLite and PostgreSQL (real files, the real server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accounts import as_user
from sqlalchemy import event, select, text

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import ClinicInfo, Role
from clinic_app.persistence import migrate
from clinic_app.persistence.engine import make_engine
from clinic_app.persistence.models import AuditRow, Base, PatientRow, UserRow
from clinic_app.persistence.move import MoveError, display_url, move_clinic, table_digests
from clinic_app.persistence.uow import (
    ClinicMovedError,
    ClinicMovingError,
    Database,
    DatabaseBusyError,
)
from clinic_app.services import security
from clinic_app.services.charting import ChartingService
from clinic_app.services.clinic import PNG_SIGNATURE, get_clinic, save_clinic
from clinic_app.services.demo import seed_demo
from clinic_app.services.moving import move_clinic as move_use_case

KEY = bytes(range(32))
ADMIN = Principal("admin", Role.ADMIN)


def _open(url: str) -> Database:
    return Database.open(url, audit_key=KEY)


def _rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in primary-key order, as Python values."""
    out = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            keys = list(table.primary_key.columns)
            out[table.name] = list(conn.execute(select(table).order_by(*keys)))
    return out


def _digests(db: Database) -> dict[str, tuple[int, str]]:
    with db.engine.connect() as conn, conn.begin():
        return table_digests(conn)


def _clinic(url: str) -> Database:
    """A demo clinic with users (one locked out), a letterhead and a record in error."""
    db = _open(url)
    security.create_first_admin(db, "admin", "Ada Admin", "correct horse battery")
    security.create_user(db, ADMIN, "tess", "Tess Therapist", Role.THERAPIST, "another long pw")
    for _ in range(5):
        with pytest.raises(security.AuthenticationError):
            security.authenticate(db, "tess", "wrong password!")
    seed_demo(db, ADMIN, patients=5)
    logo = PNG_SIGNATURE + b"logo"
    save_clinic(db, ADMIN, ClinicInfo("Backstep Physio", "1 Main St", "555", logo))
    svc = ChartingService(db, ADMIN)
    with db.engine.connect() as conn:
        pid, version = conn.execute(select(PatientRow.id, PatientRow.version).limit(1)).one()
    svc.mark_patient_in_error(pid, version, "registered twice")
    return db


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Database]:
    db = _clinic(_sqlite(tmp_path, "laptop.sqlite3"))
    yield db
    db.close()


def _last_event(db: Database) -> AuditRow:
    with db.unit_of_work("t", read_only=True) as uow:
        return uow.session.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).one()


def _write_something(db: Database) -> None:
    """Change the letterhead: one ordinary write."""
    current = get_clinic(db, ADMIN)
    save_clinic(db, ADMIN, ClinicInfo("Renamed", "", "", None, current.version))


def _same_except_move_event(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> None:
    for name, rows in before.items():
        if name == "audit_event":
            assert after[name][:-1] == rows, name
            assert len(after[name]) == len(rows) + 1
        else:
            assert after[name] == rows, name


def test_round_trip_sqlite_postgresql_sqlite_keeps_every_row(
        source: Database, pg_server: Any, tmp_path: Path) -> None:
    original = _rows(source)
    assert original["app_user"] and original["audit_event"] and original["clinic"]
    assert any(r.entered_in_error for r in original["patient"])
    tess = next(r for r in original["app_user"] if r.username == "tess")
    assert tess.locked_until is not None and tess.password_hash.startswith("$argon2")

    pg_url = pg_server.create()
    result = move_use_case(source, ADMIN, pg_url)
    assert all(c.ok for c in result.tables)
    assert {c.table for c in result.tables} == {t.name for t in Base.metadata.sorted_tables}
    pg = _open(pg_url)
    try:
        _same_except_move_event(original, _rows(pg))
        assert pg.verify_audit().ok and source.verify_audit().ok
        assert _last_event(pg).detail == f"moved from {display_url(source.url)}"
        assert _last_event(source).detail == f"moved to {display_url(pg_url)}"
        with pg.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        # The moved users sign in with their passwords; the lock-out came along.
        assert security.authenticate(pg, "admin", "correct horse battery").role == Role.ADMIN
        with pytest.raises(security.AuthenticationError, match="locked"):
            security.authenticate(pg, "tess", "another long pw")
        # The serial key of the letterhead continues after the copied id.
        _write_something(pg)

        on_pg = _rows(pg)
        back_url = _sqlite(tmp_path, "back.sqlite3")
        move_clinic(pg, back_url, "admin")
        back = _open(back_url)
        try:
            _same_except_move_event(on_pg, _rows(back))
            assert back.verify_audit().ok and pg.verify_audit().ok
            for name in ("patient", "episode", "walk_session", "test_result", "app_user"):
                assert _rows(back)[name] == original[name], name
        finally:
            back.close()
        with pytest.raises(ClinicMovedError, match="moved to sqlite:///"):
            _write_something(pg)
    finally:
        pg.close()
    with pytest.raises(ClinicMovedError, match="moved to postgresql://"):
        _write_something(source)
    assert get_clinic(source, ADMIN).name == "Backstep Physio"  # still readable
    with pytest.raises(ClinicMovedError):
        seed_demo(source, ADMIN, patients=1)


def test_encrypted_sqlite_moves_to_postgresql(tmp_path: Path, pg_server: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sqlcipher3")
    monkeypatch.setenv("CLINIC_APP_DB_PASSPHRASE", "a long clinic passphrase")
    db = _open(f"sqlcipher:///{tmp_path / 'secret.sqlite3'}")
    try:
        seed_demo(db, as_user(db, "admin"), patients=2)
        before = _rows(db)
        pg_url = pg_server.create()
        move_clinic(db, pg_url, "admin")
        pg = _open(pg_url)
        _same_except_move_event(before, _rows(pg))
        back_url = f"sqlcipher:///{tmp_path / 'secret-back.sqlite3'}"
        move_clinic(pg, back_url, "admin")
        pg.close()
        back = _open(back_url)
        assert back.verify_audit().ok
        assert _rows(back)["walk_session"] == before["walk_session"]
        back.close()
    finally:
        db.close()


def test_a_target_that_is_not_empty_is_refused(source: Database, pg_server: Any) -> None:
    pg_url = pg_server.create()
    other = _open(pg_url)
    seed_demo(other, as_user(other, "admin"), patients=3)
    before = _digests(source)
    with pytest.raises(MoveError, match="already holds 3 patient"):
        move_clinic(source, pg_url, "admin")
    other.close()
    assert _digests(source) == before
    _write_something(source)  # not marked as moved


def test_the_database_in_use_is_not_a_target(source: Database) -> None:
    with pytest.raises(MoveError, match="in use"):
        move_clinic(source, source.url, "admin")


def test_only_an_administrator_moves_the_clinic(source: Database, pg_server: Any) -> None:
    from clinic_app.domain.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        move_use_case(source, Principal("tess", Role.THERAPIST), pg_server.create())


def test_sqlite_writes_are_refused_while_the_clinic_moves(source: Database,
                                                          pg_server: Any) -> None:
    other = _open(source.url)  # a second workstation process on the same file
    # Shorter than the app's 10 s wait for the write lock, so the test stays quick.
    event.listen(other.engine, "connect",
                 lambda conn, _rec: conn.execute("PRAGMA busy_timeout = 200"))
    other.engine.dispose()  # (its pooled connections were made before the listener)
    refused: list[Exception] = []

    def progress(phase: str, table: str, done: int, total: int) -> None:
        if table == "walk_session" and done and not refused:
            with pytest.raises(DatabaseBusyError) as caught:
                _write_something(other)
            refused.append(caught.value)
            with other.unit_of_work("t", read_only=True) as uow:  # reading goes on
                assert uow.session.scalar(text("SELECT count(*) FROM patient"))
            assert get_clinic(other, ADMIN).name == "Backstep Physio"

    move_clinic(source, pg_server.create(), "admin", progress, batch=10)
    assert refused
    with pytest.raises(ClinicMovedError):
        _write_something(other)
    other.close()


def test_postgresql_writes_are_refused_while_the_clinic_moves(
        source: Database, pg_server: Any, tmp_path: Path) -> None:
    pg_url = pg_server.create()
    move_clinic(source, pg_url, "admin")
    pg, other = _open(pg_url), _open(pg_url)
    refused: list[Exception] = []

    def progress(phase: str, table: str, done: int, total: int) -> None:
        if table == "walk_session" and done and not refused:
            with pytest.raises(ClinicMovingError, match="being moved") as caught:
                _write_something(other)
            refused.append(caught.value)

    move_clinic(pg, _sqlite(tmp_path, "again.sqlite3"), "admin", progress, batch=10)
    assert refused
    with pytest.raises(ClinicMovedError, match="again.sqlite3"):
        _write_something(other)
    pg.close()
    other.close()


def _pg_tables_with_rows(url: str) -> list[str]:
    db = Database(url, make_engine(url), KEY)
    try:
        with db.engine.connect() as conn:
            names = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            return [n for n in names
                    if conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar()]
    finally:
        db.close()


def _kill_mid_move(source_url: str, target_url: str, when: str) -> None:
    """Run a slow move in a child process and kill -9 it once ``when`` has started."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("move_child.py")), source_url,
         target_url], stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert child.stdout is not None
    try:
        for line in child.stdout:
            assert line != "DONE\n", "the move finished before it could be killed"
            if line.startswith(when) and not line.endswith(" 0\n"):
                os.kill(child.pid, signal.SIGKILL)
                break
        else:
            raise AssertionError("the move stopped before it could be killed")
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("when", ["copying walk_session", "checking test_result"])
def test_a_killed_move_to_postgresql_leaves_the_source_as_it_was(
        source: Database, pg_server: Any, when: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_APP_AUDIT_KEY", KEY.hex())
    before = _digests(source)
    pg_url = pg_server.create()
    _kill_mid_move(source.url, pg_url, when)
    assert _digests(source) == before
    assert _last_event(source).action != "move"
    assert _pg_tables_with_rows(pg_url) == []
    _write_something(source)  # the source takes writes again
    # The same target takes the move once more.
    assert all(c.ok for c in move_clinic(source, pg_url, "admin").tables)


def test_a_killed_move_from_postgresql_leaves_the_server_as_it_was(
        source: Database, pg_server: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_APP_AUDIT_KEY", KEY.hex())
    pg_url = pg_server.create()
    move_clinic(source, pg_url, "admin")
    pg = _open(pg_url)
    try:
        before = _digests(pg)
        back_url = _sqlite(tmp_path, "back.sqlite3")
        _kill_mid_move(pg_url, back_url, "copying test_result")
        assert _digests(pg) == before
        _write_something(pg)  # the move lock died with the mover
        result = move_clinic(pg, back_url, "admin")  # the half-written file was rolled back
        assert all(c.ok for c in result.tables)
    finally:
        pg.close()


def test_move_command_line(source: Database, pg_server: Any, capsys: Any,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from clinic_app.cli import run as run_cli

    def run(argv: list[str]) -> int:
        """As a script signs in: ``echo "$PW" | clinic-app --user admin --password-stdin``."""
        monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
        return run_cli(["--user", "admin", "--password-stdin", *argv])

    monkeypatch.setenv("CLINIC_APP_AUDIT_KEY", KEY.hex())
    url = source.url
    source.close()
    pg_url = pg_server.create()
    missing = pg_url + "_missing"
    assert run(["--db", url, "move", "--to", missing]) == 2
    err = capsys.readouterr().err
    assert "cannot be opened" in err and "does not exist" in err and "Traceback" not in err
    assert run(["--db", url, "move", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "walk_session" in out and "DIFFERENT" not in out and "same" in out
    assert run(["--db", url, "demo", "--patients", "1"]) == 2
    assert "moved to postgresql://" in capsys.readouterr().err
    assert run(["--db", pg_url, "audit", "verify"]) == 0


def test_lockout_stamp_survives_as_an_aware_time(source: Database, pg_server: Any) -> None:
    pg_url = pg_server.create()
    move_clinic(source, pg_url, "admin")
    pg = _open(pg_url)
    with pg.engine.connect() as conn:
        until = conn.execute(select(UserRow.locked_until).where(UserRow.username == "tess"))
        stamp = until.scalar()
    pg.close()
    assert stamp is not None and stamp - datetime.now(UTC) < timedelta(minutes=16)
