"""Validation of patient and episode input; every error names the field and the allowed range."""

from __future__ import annotations

import re
from datetime import date, timedelta

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.limits import EARLIEST_DAY, check_text
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
)

MRN_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EARLIEST_BIRTH = EARLIEST_DAY
MAX_NAME = 100
MAX_NOTE = 20_000
MAX_REASON = 2_000


def _text(field: str, value: str, max_len: int, required: bool = False) -> None:
    """A one-line field (names, phone, e-mail): no line breaks or invisible controls."""
    check_text(field, value, max_len, multiline=False, required=required)


def _notes(field: str, value: str, max_len: int = MAX_NOTE) -> None:
    check_text(field, value, max_len, multiline=True)


def _choice(field: str, value: object, kind: type) -> None:
    allowed = [m.value for m in kind]  # type: ignore[attr-defined]
    if value not in allowed:
        raise ValidationError(field, f"{value!r} is not a known value", ", ".join(allowed))


def validate_patient(d: PatientDraft, today: date | None = None) -> None:
    """Check a patient's details before they are stored."""
    today = today or date.today()
    if not MRN_PATTERN.match(d.mrn or ""):
        raise ValidationError(
            "MRN", f"{d.mrn!r} is not a valid record number",
            "2-40 capital letters, digits or hyphens",
        )
    _text("Family name", d.family_name, MAX_NAME, required=True)
    _text("Given name", d.given_name, MAX_NAME, required=True)
    if not isinstance(d.date_of_birth, date):
        raise ValidationError("Date of birth", "is required")
    if not EARLIEST_BIRTH <= d.date_of_birth <= today:
        raise ValidationError(
            "Date of birth", f"{d.date_of_birth.isoformat()} is out of range",
            f"{EARLIEST_BIRTH.isoformat()} to {today.isoformat()}",
        )
    _choice("Sex", d.sex, Sex)
    _text("Phone", d.phone, 60)
    _text("Email", d.email, 200)
    if d.email and not EMAIL_PATTERN.match(d.email):
        raise ValidationError("Email", f"{d.email!r} is not an e-mail address", "name@domain")
    _notes("Notes", d.notes)


def validate_episode(d: EpisodeDraft, date_of_birth: date, today: date | None = None) -> None:
    """Check an episode of care against itself and the patient's birth date."""
    today = today or date.today()
    _choice("Diagnosis", d.diagnosis, Diagnosis)
    _choice("Affected side", d.affected_side, Side)
    latest = today + timedelta(days=366)
    if not date_of_birth <= d.start_date <= latest:
        raise ValidationError(
            "Start date", f"{d.start_date.isoformat()} is out of range",
            f"{date_of_birth.isoformat()} (birth) to {latest.isoformat()}",
        )
    if d.surgery_date is not None and not date_of_birth <= d.surgery_date <= latest:
        raise ValidationError(
            "Surgery date", f"{d.surgery_date.isoformat()} is out of range",
            f"{date_of_birth.isoformat()} (birth) to {latest.isoformat()}",
        )
    if d.end_date is not None and d.end_date < d.start_date:
        raise ValidationError(
            "End date", f"{d.end_date.isoformat()} is before the start date",
            f"on or after {d.start_date.isoformat()}",
        )
    _text("Referring doctor", d.referring_doctor, 200)
    _notes("Notes", d.notes)


def validate_reason(reason: str) -> str:
    """An "entered in error" reason is required so the record explains itself."""
    text = (reason or "").strip()
    if len(text) < 3:
        raise ValidationError("Reason", "must say why the entry is in error", "3-2000 characters")
    _notes("Reason", text, MAX_REASON)
    return text
