"""The benches act as a signed-in administrator, as every use case requires."""

from __future__ import annotations

from clinic_app.domain.permissions import Principal
from clinic_app.persistence.uow import Database

USERNAME = "bench"
PASSWORD = "bench password 1"


def bench_user(db: Database) -> Principal:
    """Sign in the bench administrator through the sign-in service (created on first use)."""
    from clinic_app.services import security

    if security.needs_first_admin(db):
        security.create_first_admin(db, USERNAME, "Bench Admin", PASSWORD)
    return security.authenticate(db, USERNAME, PASSWORD)


def bench_account(db: Database) -> Principal:
    """The bench administrator without a password check, for the start-up timings that
    bypass the sign-in dialog: the account row exists (every unit of work re-reads it), but
    it has no usable password, so nobody can sign in with it."""
    from clinic_app.domain.records import Role

    with db.unit_of_work("bench-setup") as uow:
        if uow.users.row(USERNAME) is None:
            uow.users.add(USERNAME, "Bench Admin", Role.ADMIN, "!no-password")
    return Principal(USERNAME, Role.ADMIN, "Bench Admin")
