"""Domain errors shared by every layer above the domain."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for errors a user can act on."""


class ValidationError(DomainError, ValueError):
    """A value is outside what the field allows.

    ``field`` names the field (as the user sees it in forms), ``allowed`` describes
    the allowed range or set, so a message can always say both.
    """

    def __init__(self, field: str, message: str, allowed: str | None = None) -> None:
        self.field = field
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class NotFoundError(DomainError, LookupError):
    """The record asked for does not exist."""


class ConflictError(DomainError):
    """Another user or workstation changed the record since it was read.

    ``current`` carries the record as it is now stored, so the caller can show
    both versions; nothing is overwritten.
    """

    def __init__(self, what: str, expected_version: int, current: object | None = None) -> None:
        self.what = what
        self.expected_version = expected_version
        self.current = current
        found = getattr(current, "version", "?")
        super().__init__(
            f"{what} was changed by someone else (you edited version {expected_version}, "
            f"the stored version is {found}). Reload it and apply your change again."
        )


class PermissionDeniedError(DomainError, PermissionError):
    """The acting user's role does not allow this action."""
