"""Signed-in users for tests: the account row the sign-in service would have checked.

Services accept only a :class:`Principal` whose account exists, is active and has that role
(every unit of work re-reads it). ``as_user`` creates the account on first use, directly in
the database, so that tests neither pay for argon2 on every call nor add sign-in events to
the audit trail they inspect.
"""

from __future__ import annotations

from clinic_app.domain.permissions import Principal
from clinic_app.domain.records import Role
from clinic_app.persistence.uow import Database
from clinic_app.services.security import HASHER

PASSWORD = "test password 1"
_hash: list[str] = []


def password_hash() -> str:
    """One argon2id hash of :data:`PASSWORD`, computed once per test run."""
    if not _hash:
        _hash.append(HASHER.hash(PASSWORD))
    return _hash[0]


def as_user(db: Database, username: str = "tester", role: Role = Role.ADMIN,
            full_name: str = "") -> Principal:
    """The principal of ``username`` (created with ``role`` and :data:`PASSWORD` if new)."""
    name = username.strip().lower()
    with db.unit_of_work("test-setup") as uow:
        row = uow.users.row(name)
        if row is None:
            uow.users.add(name, full_name, role, password_hash())
        else:
            role, full_name = Role(row.role), row.full_name
    return Principal(name, role, full_name)
