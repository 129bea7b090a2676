"""User accounts: argon2id passwords, first-run admin, sign-in with lockout, user admin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clinic_app.domain.errors import DomainError, ValidationError
from clinic_app.domain.limits import MIN_PASSWORD
from clinic_app.domain.permissions import Action, Principal, as_principal, require
from clinic_app.domain.records import Role, User
from clinic_app.persistence.uow import Database

# OWASP's argon2id minimum: 19 MiB memory, 2 iterations, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32,
                        salt_len=16)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
REFUSED = (f"Wrong user name or password. After {MAX_FAILURES} wrong passwords an account is "
           f"locked for {LOCKOUT.seconds // 60} minutes; an administrator can unlock it.")
NOT_SIGNED_IN = "(sign-in)"
_log = logging.getLogger(__name__)


class AuthenticationError(DomainError):
    """Sign-in refused. The message never says whether the user name exists."""


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError("Password", f"has {len(password)} characters",
                              f"at least {MIN_PASSWORD} characters")
    if len(password) > 256:
        raise ValidationError("Password", "is too long", "at most 256 characters")


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not (2 <= len(name) <= 100) or not all(c.isalnum() or c in "._-" for c in name):
        raise ValidationError("User name", f"{username!r} is not valid",
                              "2-100 letters, digits, '.', '_' or '-'")
    return name


def _check_full_name(full_name: str) -> str:
    name = full_name.strip()
    if len(name) > 200:
        raise ValidationError("Full name", f"has {len(name)} characters", "at most 200 characters")
    return name


def needs_first_admin(db: Database) -> bool:
    """True until the first administrator account exists (a read: asked before sign-in)."""
    with db.unit_of_work(NOT_SIGNED_IN, read_only=True) as uow:
        return uow.users.count() == 0


def create_first_admin(db: Database, username: str, full_name: str, password: str) -> Principal:
    """Create the first administrator; refused once any account exists."""
    name = _check_username(username)
    full_name = _check_full_name(full_name)
    _check_password(password)
    hashed = HASHER.hash(password)
    with db.unit_of_work(name) as uow:
        uow.users.lock_accounts()
        if uow.users.count() > 0:
            raise DomainError("An administrator already exists; sign in instead.")
        user = uow.users.add(name, full_name, Role.ADMIN, hashed)
        uow.audit.record("create", "user", user.id, detail=f"first administrator {name}")
    return Principal(name, Role.ADMIN, full_name)


def authenticate(db: Database, username: str, password: str,
                 now: datetime | None = None) -> Principal:
    """Check a password; after MAX_FAILURES wrong tries the account locks for LOCKOUT.

    Every refusal (unknown, deactivated or locked account, wrong password) gives the same
    message after the same work, so the answer never tells whether a user name exists.

    While the start-up integrity check still runs, a correct password signs in at once: the
    account is read (reads never wait for the check) and the sign-in's own writes -- its
    audit event and the reset failure count -- are stored by
    :meth:`Database.when_checked` once the check has passed, before any other write. Any
    refusal takes the ordinary path, which waits for the check and records the failure.
    """
    now = now or datetime.now(UTC)
    if not db.integrity_checked:
        early = _accepted_before_check(db, username, password, now)
        if early is not None:
            return early
    name = username.strip().lower()
    valid = 2 <= len(name) <= 100  # longer than the column: cannot exist, never queried
    shown = name if len(name) <= 40 else name[:40] + "…"
    refused = False
    # Attempts are audited as "(sign-in)": nobody is signed in until the password matched.
    with db.unit_of_work(NOT_SIGNED_IN) as uow:
        account = uow.users.account(name, lock=True) if valid else None
        if account is None or not account.active or not account.password_hash:
            HASHER.hash(password)  # same cost either way: no timing hint that the name exists
            uow.audit.record("login_failed", "user", detail=f"unknown or inactive: {shown!r}")
            refused = True
        elif not account.intact:
            # A forged account (e.g. an administrator added to a backup with sqlite3) or one
            # whose role or password was edited in the database: never sign it in. The
            # refusal reads like any other (no hint which names exist); the audit trail and
            # `audit verify` tell the administrator.
            HASHER.hash(password)
            uow.audit.record("login_failed", "user", account.id,
                             detail="account record changed outside Backstep")
            refused = True
        elif account.locked_until is not None and account.locked_until > now:
            HASHER.hash(password)
            uow.audit.record("login_failed", "user", account.id, detail="account locked")
            refused = True
        else:
            try:
                HASHER.verify(account.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                locked_until = uow.users.record_failure(account.username, now, MAX_FAILURES,
                                                        LOCKOUT)
                if locked_until is not None:
                    uow.audit.record("lockout", "user", account.id,
                                     detail=f"locked until {locked_until}")
                else:
                    uow.audit.record("login_failed", "user", account.id,
                                     detail="wrong password")
                refused = True
            else:
                rehashed = (HASHER.hash(password)
                            if HASHER.check_needs_rehash(account.password_hash) else None)
                uow.users.record_login(account.username, rehashed)
                uow.audit.actor = account.username  # signed in from here on
                uow.audit.record("login", "user", account.id)
                principal = Principal(account.username, account.role, account.full_name)
    # The failure counter is committed before the refusal is raised.
    if refused:
        raise AuthenticationError(REFUSED)
    return principal


def _accepted_before_check(db: Database, username: str, password: str,
                           now: datetime) -> Principal | None:
    """The principal if ``password`` is right for an active, intact, unlocked account, with
    the sign-in's writes deferred until the integrity check passed; ``None`` otherwise (the
    caller then takes the ordinary, recorded path)."""
    name = username.strip().lower()
    if not 2 <= len(name) <= 100:
        return None
    with db.unit_of_work(NOT_SIGNED_IN, read_only=True) as uow:
        account = uow.users.account(name)
    if (account is None or not account.active or not account.password_hash
            or not account.intact
            or (account.locked_until is not None and account.locked_until > now)):
        return None
    try:
        HASHER.verify(account.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    rehashed = HASHER.hash(password) if HASHER.check_needs_rehash(account.password_hash) \
        else None

    def record() -> None:
        try:
            with db.unit_of_work(NOT_SIGNED_IN) as uow:
                uow.users.record_login(account.username, rehashed)
                uow.audit.actor = account.username
                uow.audit.record("login", "user", account.id,
                                 detail=f"signed in at {now.isoformat(timespec='seconds')}, "
                                        "recorded once the start-up integrity check passed")
        except Exception as exc:  # noqa: BLE001 - the check thread has nobody to tell
            _log.error("A sign-in accepted during the start-up integrity check could not be "
                       "recorded (%s).", type(exc).__name__)

    db.when_checked(record)
    return Principal(account.username, account.role, account.full_name)


def create_user(db: Database, admin: Principal, username: str, full_name: str, role: Role,
                password: str) -> User:
    """Add an account (administrators only; the administrator must still be active)."""
    require(as_principal(admin), Action.ADMIN)
    name = _check_username(username)
    full_name = _check_full_name(full_name)
    _check_password(password)
    hashed = HASHER.hash(password)
    with db.unit_of_work(admin) as uow:
        if uow.users.account(name) is not None:
            raise ValidationError("User name", f"{name} is already taken", "a new user name")
        user = uow.users.add(name, full_name, role, hashed)
        uow.audit.record("create", "user", user.id, after={"username": name, "role": role})
    return user


def set_active(db: Database, admin: Principal, username: str, active: bool) -> None:
    """Deactivate or reactivate an account (accounts are never deleted)."""
    require(as_principal(admin), Action.ADMIN)
    with db.unit_of_work(admin) as uow:
        account = uow.users.account(username, lock=True)
        if account is None:
            raise ValidationError("User name", f"{username} does not exist", "an existing user")
        if account.username == admin.username and not active:
            raise ValidationError("User name", "you cannot deactivate yourself", "another user")
        uow.users.set_active(account.username, active)
        uow.audit.record("update", "user", account.id, after={"active": active})


def reset_password(db: Database, admin: Principal, username: str, password: str) -> None:
    """Set a new password and lift any lockout."""
    require(as_principal(admin), Action.ADMIN)
    _check_password(password)
    hashed = HASHER.hash(password)
    with db.unit_of_work(admin) as uow:
        account = uow.users.account(username, lock=True)
        if account is None:
            raise ValidationError("User name", f"{username} does not exist", "an existing user")
        uow.users.set_password(account.username, hashed)
        uow.audit.record("update", "user", account.id, detail="password reset, lockout lifted")


def list_users(db: Database, admin: Principal) -> list[User]:
    """Every account, for the administrators' user list."""
    require(as_principal(admin), Action.ADMIN)
    with db.unit_of_work(admin) as uow:
        return uow.users.all()
