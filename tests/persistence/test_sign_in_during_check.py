"""Signing in while the start-up integrity check still runs (a large SQLite file).

A correct password signs in at once; the sign-in's audit event and reset failure count are
stored as soon as the check passed, before anything the user then writes, and never without
the check. The check's duration is held by the test (the real background thread runs the
real ``quick_check`` once released).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from accounts import PASSWORD, as_user
from db_damage import damage_table, seeded_file

from clinic_app.domain.records import AuditEvent, PatientDraft, Sex
from clinic_app.persistence.uow import Database, DatabaseDamagedError
from clinic_app.services.charting import ChartingService
from clinic_app.services.security import AuthenticationError, authenticate


@pytest.fixture
def release(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The background check waits for this event, then runs the real quick_check."""
    gate = threading.Event()
    real = Database.quick_check

    def held(self: Database, remember_connection: bool = False) -> None:
        if threading.current_thread() is self._check_thread:
            assert gate.wait(60)
        real(self, remember_connection)

    monkeypatch.setattr(Database, "quick_check", held)
    yield gate
    gate.set()


def _clinic(tmp_path: Path) -> Path:
    path = seeded_file(tmp_path)
    db = Database.open(f"sqlite:///{path}")
    as_user(db, "kim")
    db.close()
    return path


def _events(db: Database) -> list[AuditEvent]:
    with db.unit_of_work("t", read_only=True) as uow:
        return list(reversed(uow.audit.latest(1000)))


def test_sign_in_does_not_wait_and_is_recorded_before_the_first_write(
        tmp_path: Path, release: threading.Event) -> None:
    db = Database.open(f"sqlite:///{_clinic(tmp_path)}", check_in_background=True)
    try:
        before = len(_events(db))
        kim = authenticate(db, "Kim", PASSWORD)
        assert kim.username == "kim"
        assert not db.integrity_checked  # signed in while the check still runs
        assert len(_events(db)) == before  # nothing written to the unchecked file
        saved: list[object] = []
        writer = threading.Thread(target=lambda: saved.append(
            ChartingService(db, kim).register_patient(PatientDraft(
                mrn="NEW-1", family_name="Early", given_name="Bo",
                date_of_birth=date(1980, 5, 6), sex=Sex.MALE))))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive() and not saved  # the user's first write waits too
        release.set()
        writer.join(60)
        assert saved
        new = _events(db)[before:]
        assert [(e.actor, e.action) for e in new][:2] == [("kim", "login"), ("kim", "create")]
        assert "recorded once the start-up integrity check passed" in new[0].detail
    finally:
        db.close()


def test_a_wrong_password_waits_for_the_check_and_is_recorded(
        tmp_path: Path, release: threading.Event) -> None:
    db = Database.open(f"sqlite:///{_clinic(tmp_path)}", check_in_background=True)
    try:
        before = len(_events(db))
        failed: list[BaseException] = []

        def attempt() -> None:
            try:
                authenticate(db, "kim", "not the password")
            except AuthenticationError as exc:
                failed.append(exc)

        trying = threading.Thread(target=attempt)
        trying.start()
        trying.join(0.3)
        assert trying.is_alive()  # refusals take the ordinary, recorded path
        release.set()
        trying.join(60)
        assert failed
        new = _events(db)[before:]
        assert [(e.action, e.detail) for e in new] == [("login_failed", "wrong password")]
        with db.unit_of_work("t", read_only=True) as uow:
            account = uow.users.account("kim")
        assert account is not None and account.failed_logins == 1
    finally:
        db.close()


def test_closing_before_the_check_ends_still_records_the_sign_in(
        tmp_path: Path, release: threading.Event) -> None:
    path = _clinic(tmp_path)
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    before = len(_events(db))
    authenticate(db, "kim", PASSWORD)
    threading.Timer(0.2, release.set).start()
    db.close()  # waits for the check rather than dropping the pending record
    again = Database.open(f"sqlite:///{path}")
    try:
        assert [(e.actor, e.action) for e in _events(again)[before:]] == [("kim", "login")]
    finally:
        again.close()


def test_damage_found_after_the_sign_in_writes_nothing(
        tmp_path: Path, release: threading.Event, caplog: pytest.LogCaptureFixture) -> None:
    path = _clinic(tmp_path)
    damage_table(path, "walk_session")
    untouched = path.read_bytes()
    db = Database.open(f"sqlite:///{path}", check_in_background=True)
    try:
        authenticate(db, "kim", PASSWORD)
        release.set()
        with pytest.raises(DatabaseDamagedError):
            db.require_intact()
        db._deferred_done.wait(60)
    finally:
        db.close()
    assert any("could not be recorded (DatabaseDamagedError)" in r.getMessage()
               for r in caplog.records)
    assert PASSWORD not in caplog.text and "kim" not in caplog.text
    assert path.read_bytes() == untouched  # the sign-in was not written to the damaged file
