"""The benches act as a signed-in administrator, as every use case requires."""

from __future__ import annotations

from clinic_app.domain.permissions import Principal
from clinic_app.persistence.uow import Database

USERNAME = "bench"
PASSWORD = "bench password 1"
NO_PASSWORD = "!no-password"  # matches no argon2 hash: nobody signs in with it


def bench_user(db: Database) -> Principal:
    """Sign in the bench administrator through the sign-in service (created on first use).

    A clinic first used by a bench that bypasses the sign-in (:func:`bench_account`) has the
    account without a usable password: it is given the bench password through the
    administrators' password reset, acting as that account, before signing in."""
    from clinic_app.services import security

    if security.needs_first_admin(db):
        security.create_first_admin(db, USERNAME, "Bench Admin", PASSWORD)
    else:
        with db.unit_of_work("bench-setup", read_only=True) as uow:
            account = uow.users.account(USERNAME)
        if account is not None and account.password_hash == NO_PASSWORD:
            security.reset_password(db, bench_account(db), USERNAME, PASSWORD)
    return security.authenticate(db, USERNAME, PASSWORD)


def ensure_bench_user(db: Database) -> None:
    """The bench administrator exists with the bench password, written only if not yet so
    (a database opened with its integrity check in the background is then never written,
    so closing it does not wait for the check)."""
    with db.unit_of_work("bench-setup", read_only=True) as uow:
        account = uow.users.account(USERNAME)
    if account is None or account.password_hash == NO_PASSWORD:
        bench_user(db)


def bench_account(db: Database) -> Principal:
    """The bench administrator without a password check, for the start-up timings that
    bypass the sign-in dialog: the account row exists (every unit of work re-reads it), but
    it has no usable password, so nobody can sign in with it."""
    from clinic_app.domain.records import Role

    with db.unit_of_work("bench-setup") as uow:
        if uow.users.row(USERNAME) is None:
            uow.users.add(USERNAME, "Bench Admin", Role.ADMIN, NO_PASSWORD)
    return Principal(USERNAME, Role.ADMIN, "Bench Admin")
