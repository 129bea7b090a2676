"""The start-up integrity check in the background (the desktop app's ``Database.open``).

On an up-to-date SQLite file the app shows its data while ``PRAGMA quick_check`` runs in a
thread; no write may reach the file before the check passed, and once it found damage the
database refuses every unit of work, reads included.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from accounts import as_user
from db_damage import damage_table, seeded_file

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import PatientDraft, Role, Sex
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.charting import ChartingService
from clinic_app.services.maintenance import backup_now


def test_damage_found_in_the_background_stops_every_unit_of_work(tmp_path: Path) -> None:
    path = seeded_file(tmp_path)
    damage_table(path, "walk_session")
    before = path.read_bytes()
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    try:
        with pytest.raises(DatabaseDamagedError, match="damaged.*restore"):
            db.require_intact()
        assert db.integrity_checked
        admin = Principal("admin", Role.ADMIN)  # signed in earlier (see seeded_file)
        svc = ChartingService(db, admin)
        with pytest.raises(DatabaseDamagedError):  # no write after the damage was found
            svc.register_patient(PatientDraft(
                mrn="NEW-1", family_name="Late", given_name="Ann",
                date_of_birth=date(1970, 1, 1), sex=Sex.FEMALE))
        with pytest.raises(DatabaseDamagedError):  # nor reads: the data cannot be trusted
            svc.search_patients("")
        with pytest.raises(DatabaseDamagedError):  # nor a backup of the damaged file
            backup_now(db, admin, tmp_path / "copy.sqlite3")
        assert not (tmp_path / "copy.sqlite3").exists()
    finally:
        db.close()
    assert path.read_bytes() == before  # nothing was written to the damaged file


def test_a_synchronous_open_refuses_the_same_file(tmp_path: Path) -> None:
    path = seeded_file(tmp_path)
    damage_table(path, "walk_session")
    with pytest.raises(DatabaseDamagedError, match="restore"):
        Database.open(f"sqlite:///{path}")


def test_writes_on_a_healthy_file_wait_for_the_check_then_go_ahead(tmp_path: Path) -> None:
    path = seeded_file(tmp_path)
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    try:
        svc = ChartingService(db, as_user(db, "tester"))
        assert len(svc.search_patients("")) == 3  # reads do not wait
        patient = svc.register_patient(PatientDraft(
            mrn="NEW-1", family_name="Early", given_name="Bo",
            date_of_birth=date(1980, 5, 6), sex=Sex.MALE))
        assert db.integrity_checked  # the write waited for the check to pass
        assert svc.get_patient(patient.id).draft.family_name == "Early"
    finally:
        db.close()


def test_pending_migration_checks_first(tmp_path: Path) -> None:
    """A file that still needs migrating is checked before it is touched, in any mode."""
    path = tmp_path / "empty.sqlite3"
    sqlite3.connect(path).close()
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    try:
        assert db.integrity_checked and db.migration is not None
    finally:
        db.close()


def test_close_leaves_no_check_running(tmp_path: Path) -> None:
    path = seeded_file(tmp_path)
    conn = sqlite3.connect(path)  # ballast, so that the check takes a moment
    conn.execute("CREATE TABLE ballast (b BLOB)")
    conn.executemany("INSERT INTO ballast VALUES (randomblob(4000))", [()] * 20_000)
    conn.commit()
    conn.close()
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    db.close()
    assert db.integrity_checked  # the thread has ended
    assert db._check_thread is not None and not db._check_thread.is_alive()


def test_what_runs_before_sign_in_does_not_wait_for_the_check(tmp_path: Path) -> None:
    """The sign-in dialog asks whether an administrator exists on the GUI thread: a read."""
    import threading

    from clinic_app.services.security import needs_first_admin

    path = seeded_file(tmp_path)
    db = Database.open(f"sqlite:///{path}")
    db._checked.clear()  # as if a long check were still running
    try:
        answer: list[bool] = []
        asking = threading.Thread(target=lambda: answer.append(needs_first_admin(db)))
        asking.start()
        asking.join(30)
        assert answer == [False]  # answered while the check "runs" (the seed has an admin)
        with pytest.raises(TimeoutError):
            db.require_intact(timeout=0.01)  # whereas a write would still be waiting
    finally:
        db._checked.set()
        db.close()


def test_a_check_that_cannot_run_counts_as_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: if the check itself breaks, nothing is written to an unverified file."""
    path = seeded_file(tmp_path)

    def broken_check(self: Database, remember_connection: bool = False) -> None:
        raise OSError("I/O error reading the file")

    monkeypatch.setattr(Database, "quick_check", broken_check)
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    try:
        with pytest.raises(DatabaseDamagedError, match="could not be checked.*I/O error"):
            db.require_intact()
        with pytest.raises(DatabaseDamagedError):
            ChartingService(db, Principal("admin", Role.ADMIN)).search_patients("")
    finally:
        db.close()
