"""Validation of patient and episode input; every error names the field and the allowed range."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.limits import EARLIEST_DAY, check_text
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Sex,
    Side,
    SurgeryType,
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


def _problems(*checks: Callable[[], None]) -> list[ValidationError]:
    """Run every check; the problems they raise, in order (so a form can list them all)."""
    found: list[ValidationError] = []
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            found.append(exc)
    return found


def _raise_first(problems: list[ValidationError]) -> None:
    if problems:
        raise problems[0]


def patient_problems(d: PatientDraft, today: date | None = None) -> list[ValidationError]:
    """Every problem of a patient's details, in the order of the form's fields."""
    today = today or date.today()

    def mrn() -> None:
        if not MRN_PATTERN.match(d.mrn or ""):
            raise ValidationError(
                "MRN", f"{d.mrn!r} is not a valid record number",
                "2-40 capital letters, digits or hyphens",
            )

    def born() -> None:
        if not isinstance(d.date_of_birth, date):
            raise ValidationError("Date of birth", "is required")
        if not EARLIEST_BIRTH <= d.date_of_birth <= today:
            raise ValidationError(
                "Date of birth", f"{d.date_of_birth.isoformat()} is out of range",
                f"{EARLIEST_BIRTH.isoformat()} to {today.isoformat()}",
            )

    def email() -> None:
        _text("Email", d.email, 200)
        if d.email and not EMAIL_PATTERN.match(d.email):
            raise ValidationError("Email", f"{d.email!r} is not an e-mail address",
                                  "name@domain")

    return _problems(
        mrn,
        lambda: _text("Family name", d.family_name, MAX_NAME, required=True),
        lambda: _text("Given name", d.given_name, MAX_NAME, required=True),
        born,
        lambda: _choice("Sex", d.sex, Sex),
        lambda: _text("Phone", d.phone, 60),
        email,
        lambda: _notes("Notes", d.notes),
    )


def validate_patient(d: PatientDraft, today: date | None = None) -> None:
    """Check a patient's details before they are stored (the first problem is raised)."""
    _raise_first(patient_problems(d, today))


def episode_problems(d: EpisodeDraft, date_of_birth: date,
                     today: date | None = None) -> list[ValidationError]:
    """Every problem of an episode of care, checked against itself and the birth date."""
    latest = (today or date.today()) + timedelta(days=366)

    def day(field: str, value: date | None, required: bool = False) -> None:
        if value is None and required:
            raise ValidationError(field, "is required")
        if value is not None and not date_of_birth <= value <= latest:
            raise ValidationError(
                field, f"{value.isoformat()} is out of range",
                f"{date_of_birth.isoformat()} (birth) to {latest.isoformat()}",
            )

    def end() -> None:
        if d.end_date is not None and d.start_date is not None and d.end_date < d.start_date:
            raise ValidationError(
                "End date", f"{d.end_date.isoformat()} is before the start date",
                f"on or after {d.start_date.isoformat()}",
            )

    return _problems(
        lambda: _choice("Diagnosis", d.diagnosis, Diagnosis),
        lambda: _choice("Affected side", d.affected_side, Side),
        lambda: day("Start date", d.start_date, required=True),
        lambda: day("Surgery date", d.surgery_date),
        end,
        lambda: _surgery_type(d),
        lambda: _text("Referring doctor", d.referring_doctor, 200),
        lambda: _text("Treating therapist", d.treating_therapist, 100),
        lambda: _notes("Notes", d.notes),
    )


def _surgery_type(d: EpisodeDraft) -> None:
    if d.surgery_type is None:
        return
    _choice("Surgery type", d.surgery_type, SurgeryType)
    if d.surgery_date is None:
        raise ValidationError("Surgery type", "needs a surgery date",
                              "enter the Surgery date, or leave Surgery type empty")


def validate_episode(d: EpisodeDraft, date_of_birth: date, today: date | None = None) -> None:
    """Check an episode of care against itself and the patient's birth date."""
    _raise_first(episode_problems(d, date_of_birth, today))


def validate_reason(reason: str) -> str:
    """An "entered in error" reason is required so the record explains itself."""
    text = (reason or "").strip()
    if len(text) < 3:
        raise ValidationError("Reason", "must say why the entry is in error", "3-2000 characters")
    _notes("Reason", text, MAX_REASON)
    return text
