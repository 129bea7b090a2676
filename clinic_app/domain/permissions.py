"""Who may do what. Services call :func:`require` before every use case.

Roles (issue 7): *admin* manages users, letterhead, backups and sees the audit trail and can
do everything a therapist can; *therapist* charts patients, sessions and tests and exports
reports; *front desk* is read-only (finds patients and sees their record, changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clinic_app.domain.errors import PermissionDeniedError
from clinic_app.domain.records import Role


class Action(StrEnum):
    READ = "read the patient record"
    WRITE_PATIENT = "register or change patients"
    WRITE_CLINICAL = "record or change sessions, episodes and tests"
    EXPORT = "export or print reports"
    COHORTS = "see the clinic's recovery cohorts and outcomes"
    ADMIN = "manage users, letterhead, backups and the audit trail"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.THERAPIST: frozenset({Action.READ, Action.WRITE_PATIENT, Action.WRITE_CLINICAL,
                               Action.EXPORT, Action.COHORTS}),
    Role.FRONT_DESK: frozenset({Action.READ}),
}

#: Roles that treat patients: the treating therapist of an episode holds one of them.
CLINICAL_ROLES: frozenset[Role] = frozenset(
    r for r, allowed in ALLOWED.items() if Action.WRITE_CLINICAL in allowed)


@dataclass(frozen=True)
class Principal:
    """The signed-in user a use case acts for.

    Only the sign-in service (``services.security``) makes these from a checked password;
    every unit of work re-reads the account and refuses a principal whose account is missing,
    deactivated or now has another role, so a hand-made one cannot reach patient data.
    """

    username: str
    role: Role
    full_name: str = ""

    @property
    def label(self) -> str:
        return self.full_name or self.username


class NotSignedInError(PermissionDeniedError):
    """A use case was called without a signed-in user (e.g. with a bare name)."""


def as_principal(actor: object) -> Principal:
    """``actor`` if it is a signed-in :class:`Principal`; a bare name is refused.

    There is no anonymous or "system" actor for patient data: the command line signs in a
    Backstep user exactly as the window does.
    """
    if not isinstance(actor, Principal):
        raise NotSignedInError("Sign in first: this needs a Backstep user and password.")
    return actor


def can(principal: Principal, action: Action) -> bool:
    return action in ALLOWED[principal.role]


def require(principal: Principal, action: Action) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` may do ``action``."""
    if not can(principal, action):
        raise PermissionDeniedError(
            f"{principal.label} ({principal.role.value.replace('_', ' ')}) may not "
            f"{action.value}."
        )
