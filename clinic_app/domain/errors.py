"""Domain errors shared by every layer above the domain."""

from __future__ import annotations

from datetime import datetime


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
        # Charting records keep version and author in their stamp; the letterhead has only
        # a version.
        stamp = getattr(current, "stamp", None)
        found = getattr(stamp, "version", getattr(current, "version", None))
        who = getattr(stamp, "updated_by", None)
        when = getattr(stamp, "updated_at", None)
        if found is None or expected_version < 0:
            # Detected only at commit: which row and by whom is not known here.
            text = (f"{what} was changed by someone else while you were saving, so nothing "
                    "was saved. Reload it and apply your change again.")
        else:
            by = f" by {who}" if who else ""
            at = f" at {when:%Y-%m-%d %H:%M} UTC" if when is not None else ""
            text = (f"{what} was changed{by}{at} while you were editing: you edited version "
                    f"{expected_version}, the stored version is now {found}. Nothing was "
                    "saved. Reload it and apply your change again.")
        super().__init__(text)


class EnteredInErrorError(DomainError):
    """The record was marked entered in error: it is read-only everywhere.

    Says who marked it, when and why; ``current`` is the record as stored.
    """

    def __init__(self, what: str, by: str, at: datetime | None, reason: str | None,
                 current: object | None = None) -> None:  # fmt: skip
        self.what = what
        self.by = by
        self.at = at
        self.reason = reason or ""
        self.current = current
        when = f" on {at:%Y-%m-%d %H:%M} UTC" if at is not None else ""
        why = f" (reason: {self.reason})" if self.reason else ""
        super().__init__(f"{what} was marked entered in error by {by}{when}{why}; it can no "
                         "longer be changed. Nothing was saved.")


class PermissionDeniedError(DomainError, PermissionError):
    """The acting user's role does not allow this action."""
