"""Accounts, sign-in lockout and role permissions enforced in the services themselves."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from clinic_app.domain.errors import DomainError, PermissionDeniedError, ValidationError
from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import (
    ClinicInfo,
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Role,
    Side,
)
from clinic_app.persistence.uow import Database
from clinic_app.services import security
from clinic_app.services.charting import ChartingService
from clinic_app.services.clinic import save_clinic
from clinic_app.services.maintenance import backup_now

PW = "correct horse battery"


def test_first_admin_then_sign_in(db: Database) -> None:
    assert security.needs_first_admin(db)
    admin = security.create_first_admin(db, "Admin", "Clinic Admin", PW)
    assert admin == Principal("admin", Role.ADMIN, "Clinic Admin")
    assert not security.needs_first_admin(db)
    with pytest.raises(DomainError):
        security.create_first_admin(db, "second", "", PW)
    assert security.authenticate(db, "ADMIN ", PW) == admin


def test_passwords_are_argon2id_with_owasp_parameters(db: Database) -> None:
    security.create_first_admin(db, "admin", "", PW)
    with db.unit_of_work("t") as uow:
        stored = uow.users.row("admin").password_hash  # type: ignore[union-attr]
    assert stored.startswith("$argon2id$")
    params = PasswordHasher().check_needs_rehash  # noqa: F841 - only to show the library parses it
    assert "m=19456,t=2,p=1" in stored
    assert PW not in stored


def test_short_password_rejected_with_field_and_range(db: Database) -> None:
    with pytest.raises(ValidationError) as err:
        security.create_first_admin(db, "admin", "", "short")
    assert err.value.field == "Password" and "at least 10" in str(err.value)
    assert security.needs_first_admin(db)


def test_lockout_after_five_failures_and_admin_unlock(db: Database) -> None:
    admin = security.create_first_admin(db, "admin", "", PW)
    security.create_user(db, admin, "kim", "Kim Physio", Role.THERAPIST, "kims password 1")
    t0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
    for _ in range(5):
        with pytest.raises(security.AuthenticationError, match="Wrong user name or password"):
            security.authenticate(db, "kim", "guess", now=t0)
    # Even the right password is refused while locked (with the same words as always).
    with pytest.raises(security.AuthenticationError, match="Wrong user name or password"):
        security.authenticate(db, "kim", "kims password 1", now=t0 + timedelta(minutes=5))
    assert security.authenticate(db, "kim", "kims password 1",
                                 now=t0 + timedelta(minutes=16)).role == Role.THERAPIST
    for _ in range(5):
        with pytest.raises(security.AuthenticationError):
            security.authenticate(db, "kim", "guess", now=t0)
    security.reset_password(db, admin, "kim", "a brand new pass")
    assert security.authenticate(db, "kim", "a brand new pass", now=t0).username == "kim"
    with db.unit_of_work("t") as uow:
        actions = [e.action for e in uow.audit.latest(100)]
    assert actions.count("lockout") == 2 and "login_failed" in actions


def test_unknown_and_deactivated_users_get_the_same_answer(db: Database) -> None:
    admin = security.create_first_admin(db, "admin", "", PW)
    security.create_user(db, admin, "desk", "Front Desk", Role.FRONT_DESK, "desk password 1")
    security.set_active(db, admin, "desk", False)
    for name in ("nobody", "desk"):
        with pytest.raises(security.AuthenticationError, match="^Wrong user name or password"):
            security.authenticate(db, name, "desk password 1")


def test_roles_are_enforced_in_services(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    admin = security.create_first_admin(db, "admin", "", PW)
    security.create_user(db, admin, "kim", "", Role.THERAPIST, "kims password 1")
    security.create_user(db, admin, "desk", "", Role.FRONT_DESK, "desk password 1")
    therapist = security.authenticate(db, "kim", "kims password 1")
    desk = security.authenticate(db, "desk", "desk password 1")
    p = ChartingService(db, therapist).register_patient(
        PatientDraft("R-1", "Silva", "Lucía", date(1979, 3, 3)))
    front = ChartingService(db, desk)
    assert front.search_patients()[0].id == p.id  # front desk may look patients up
    with pytest.raises(PermissionDeniedError, match="front desk"):
        front.register_patient(PatientDraft("R-2", "Costa", "Rafael", date(1980, 1, 1)))
    with pytest.raises(PermissionDeniedError):
        front.open_episode(p.id, EpisodeDraft(Diagnosis.KNEE_OSTEOARTHRITIS, Side.LEFT,
                                              date(2026, 1, 5)))
    with pytest.raises(PermissionDeniedError):
        save_clinic(db, therapist, ClinicInfo("Knee Clinic"))
    with pytest.raises(PermissionDeniedError):
        backup_now(db, therapist, tmp_path / "x.bin")
    with pytest.raises(PermissionDeniedError):
        security.create_user(db, therapist, "eve", "", Role.ADMIN, "eves password 1")
    save_clinic(db, admin, ClinicInfo("Knee Clinic"))
    assert ChartingService(db, therapist).count_patients() == 1


def _refusal(db: Database, name: str, password: str, now: datetime) -> str:
    with pytest.raises(security.AuthenticationError) as err:
        security.authenticate(db, name, password, now=now)
    return str(err.value)


def test_lockout_does_not_tell_which_user_names_exist(db: Database) -> None:
    """Six wrong passwords for a real account and for an unknown name: the same answers."""
    admin = security.create_first_admin(db, "admin", "", PW)
    security.create_user(db, admin, "kim", "", Role.THERAPIST, "kims password 1")
    t0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
    real = [_refusal(db, "kim", "guess", t0) for _ in range(6)]
    unknown = [_refusal(db, "kimberly", "guess", t0) for _ in range(6)]
    assert real == unknown
    # Locked now, kim's right password gets the same words as a wrong one for anybody.
    assert _refusal(db, "kim", "kims password 1", t0) == unknown[-1]
    assert "locked for 15 minutes" in unknown[-1]


def test_a_hand_made_principal_cannot_act(db: Database) -> None:
    """A Principal naming no account (or the wrong role) is refused by the unit of work."""
    security.create_first_admin(db, "admin", "", PW)
    draft = PatientDraft("F-1", "Forged", "Fay", date(1970, 1, 1))
    for forged in (Principal("ghost", Role.ADMIN), Principal("admin", Role.THERAPIST)):
        with pytest.raises(PermissionDeniedError, match="sign in again"):
            ChartingService(db, forged).register_patient(draft)
    with pytest.raises(PermissionDeniedError, match="Sign in first"):
        ChartingService(db, "admin")  # type: ignore[arg-type]  # a bare name: no rights
    assert ChartingService(db, security.authenticate(db, "admin", PW)).count_patients() == 0


def test_a_deactivated_users_open_session_stops_writing_at_once(db: Database) -> None:
    admin = security.create_first_admin(db, "admin", "", PW)
    security.create_user(db, admin, "kim", "", Role.THERAPIST, "kims password 1")
    kim = ChartingService(db, security.authenticate(db, "kim", "kims password 1"))
    kim.register_patient(PatientDraft("D-1", "Before", "Ann", date(1970, 1, 1)))
    security.set_active(db, admin, "kim", False)
    with pytest.raises(PermissionDeniedError, match="no longer active"):
        kim.register_patient(PatientDraft("D-2", "After", "Ann", date(1970, 1, 1)))
    with pytest.raises(PermissionDeniedError, match="no longer active"):
        kim.search_patients("")  # nor reads patient data
    assert ChartingService(db, admin).count_patients() == 1


def test_a_user_name_longer_than_the_column_is_just_a_wrong_sign_in(db: Database) -> None:
    security.create_first_admin(db, "admin", "", PW)
    with pytest.raises(security.AuthenticationError, match="Wrong user name or password"):
        security.authenticate(db, "x" * 150, PW)


def test_two_workstations_cannot_both_create_the_first_administrator(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from clinic_app.persistence.repositories import UserRepository

    # Every creator counts the accounts, then waits (up to 2 s) for the others to have
    # counted too: without a lock they would all have seen "no user yet".
    counted = threading.Barrier(4)
    real_count = UserRepository.count

    def count_then_wait(self: UserRepository) -> int:
        n = real_count(self)
        with contextlib.suppress(threading.BrokenBarrierError):
            counted.wait(timeout=2)
        return n

    monkeypatch.setattr(UserRepository, "count", count_then_wait)
    outcomes: list[str] = []

    def create(name: str) -> None:
        try:
            security.create_first_admin(db, name, "", PW)
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=create, args=(f"admin{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.undo()
    assert outcomes.count("created") == 1
    with db.unit_of_work("t", read_only=True) as uow:
        assert uow.users.count() == 1
