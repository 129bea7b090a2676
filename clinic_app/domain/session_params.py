"""Catalogue and validation of retro-walking (backward walking) session parameters.

Ranges, and why they were chosen:

* Duration 0-180 min: retro-walking bouts in knee rehabilitation trials last 10-40 min;
  180 min leaves room for long group sessions while catching typos (e.g. seconds typed).
* Distance 0-10 000 m: well above any plausible backward-walking session.
* Speed 0-3 m/s (0-10.8 km/h): backward walking is typically 0.3-1.5 m/s; backward running
  stays below 3 m/s. Stored in SI (m/s); :func:`kmh_to_ms`/:func:`ms_to_kmh` convert.
* Incline -15 to +25 %: clinical treadmills typically offer about -3 % to +15 % and incline
  trainers more; overground slopes and hills up to 25 % can be walked backwards (retro uphill
  walking is used for quadriceps loading). Negative = downhill.
* Pain before/after: NPRS, whole numbers 0-10 (Farrar et al. Pain 2001).
* RPE: Borg CR10 scale 0-10 (Borg G. Borg's Perceived Exertion and Pain Scales, 1998). CR10
  allows half steps and values above 10 ("absolute maximum"); we cap at 10 for charting.
* Heart rate 30-230 bpm: covers trained bradycardia to maximal heart rates.

Speed, distance and duration must agree within 20 % when all three are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import check_number
from clinic_app.domain.records import Assistance, Surface, WalkMode, WalkSessionDraft

KMH_PER_MS = 3.6
SPEED_TOLERANCE = 0.20  # relative disagreement allowed between speed and distance/duration
MAX_FUTURE = timedelta(days=1)
MAX_TEXT = 20_000

FIELD_LABELS: dict[str, str] = {
    "performed_at": "Date/time",
    "mode": "Mode",
    "surface": "Surface",
    "duration_min": "Duration",
    "distance_m": "Distance",
    "speed_m_s": "Speed",
    "incline_pct": "Incline",
    "assistance": "Assistance",
    "pain_before": "Pain before",
    "pain_after": "Pain after",
    "rpe": "RPE",
    "heart_rate": "Heart rate",
    "adverse_events": "Adverse events",
    "subjective": "Subjective",
    "objective": "Objective",
    "assessment": "Assessment",
    "plan": "Plan",
}
"""Draft attribute -> label shown in forms and used as ``ValidationError.field``."""

CHOICE_LABELS: dict[str, dict[str, str]] = {
    "mode": {WalkMode.OVERGROUND: "Overground", WalkMode.TREADMILL: "Treadmill"},
    "surface": {
        Surface.FLAT: "Flat floor",
        Surface.CARPET: "Carpet",
        Surface.GRASS: "Grass",
        Surface.TREADMILL_BELT: "Treadmill belt",
        Surface.OTHER: "Other",
    },
    "assistance": {
        Assistance.INDEPENDENT: "Independent",
        Assistance.SUPERVISED: "Supervised",
        Assistance.HANDRAIL: "Handrail",
        Assistance.ASSISTED: "Assisted",
    },
}
"""Controlled vocabularies: draft attribute -> {stored value: display label}."""

_CHOICE_ENUMS: dict[str, type[StrEnum]] = {
    "mode": WalkMode,
    "surface": Surface,
    "assistance": Assistance,
}


@dataclass(frozen=True)
class SessionParam:
    """A numeric session parameter: label, unit, allowed range, precision."""

    attr: str
    label: str
    unit: str
    min_value: float
    max_value: float
    decimals: int
    integer_only: bool = False
    note: str = ""

    @cached_property
    def allowed(self) -> str:
        """The allowed range as text (built once, on first use)."""
        sfx = f" {self.unit}" if self.unit else ""
        whole = ", whole numbers" if self.integer_only else ""
        return f"{self.min_value:g} to {self.max_value:g}{sfx}{whole}"


_PARAMS = (
    SessionParam("duration_min", "Duration", "min", 0, 180, 0),
    SessionParam("distance_m", "Distance", "m", 0, 10_000, 0),
    SessionParam("speed_m_s", "Speed", "m/s", 0, 3, 2, note="enter km/h or m/s; stored in m/s"),
    SessionParam("incline_pct", "Incline", "%", -15, 25, 1, note="negative = downhill"),
    SessionParam("pain_before", "Pain before", "NPRS", 0, 10, 0, integer_only=True),
    SessionParam("pain_after", "Pain after", "NPRS", 0, 10, 0, integer_only=True),
    SessionParam("rpe", "RPE", "Borg CR10", 0, 10, 1),
    SessionParam("heart_rate", "Heart rate", "bpm", 30, 230, 0, integer_only=True),
)
SESSION_PARAMS: dict[str, SessionParam] = {p.attr: p for p in _PARAMS}
"""Numeric session parameters by draft attribute."""


def kmh_to_ms(kmh: float) -> float:
    """km/h -> m/s."""
    return check_number("Speed", kmh, "a number in km/h") / KMH_PER_MS


def ms_to_kmh(ms: float) -> float:
    """m/s -> km/h."""
    return check_number("Speed", ms, "a number in m/s") * KMH_PER_MS


def validate_param(attr: str, value: object) -> float:
    """Check one numeric parameter (by draft attribute) and return it as float."""
    try:
        p = SESSION_PARAMS[attr]
    except KeyError:
        raise ValidationError(
            "parameter", f"{attr!r} is not a numeric session parameter", ", ".join(SESSION_PARAMS)
        ) from None
    number = check_number(p.label, value, p.allowed)
    if not p.min_value <= number <= p.max_value:
        raise ValidationError(p.label, f"{number:g} is out of range", p.allowed)
    if p.integer_only and not number.is_integer():
        raise ValidationError(p.label, f"{number:g} is not a whole number", p.allowed)
    return number


# Stored values of each vocabulary, computed once: validation runs per imported row.
_CHOICE_VALUES: dict[str, frozenset[str]] = {
    attr: frozenset(m.value for m in kind) for attr, kind in _CHOICE_ENUMS.items()
}


def _check_choice(attr: str, value: object) -> None:
    if not isinstance(value, str) or value not in _CHOICE_VALUES[attr]:
        allowed = [m.value for m in _CHOICE_ENUMS[attr]]  # built only for the message
        raise ValidationError(
            FIELD_LABELS[attr], f"{value!r} is not a known value", ", ".join(allowed)
        )


_TEXT_ATTRS = ("adverse_events", "subjective", "objective", "assessment", "plan")
# Looked up once, not per call: a CSV import validates a million sessions.
_RANGES = tuple((p.attr, p.min_value, p.max_value, p.integer_only) for p in _PARAMS)
_TREADMILL, _BELT = WalkMode.TREADMILL, Surface.TREADMILL_BELT


def validate_walk_session(draft: WalkSessionDraft, now: datetime | None = None) -> None:
    """Check a session draft; raise ValidationError naming the form field and allowed range.

    ``now`` (aware) defaults to the current time; it is a parameter for testing.
    """
    when = draft.performed_at
    label = FIELD_LABELS["performed_at"]
    if not isinstance(when, datetime):
        raise ValidationError(label, "is required", "a date and time")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(label, "has no time zone", "a date and time with a time zone")
    now = now or datetime.now().astimezone()
    if when > now + MAX_FUTURE:
        latest = (now + MAX_FUTURE).isoformat(timespec="minutes")
        raise ValidationError(
            label, f"{when.isoformat(timespec='minutes')} is in the future", f"up to {latest}"
        )
    for attr in _CHOICE_ENUMS:
        _check_choice(attr, getattr(draft, attr))
    treadmill = draft.mode == _TREADMILL
    if treadmill != (draft.surface == _BELT):
        allowed = (
            "treadmill_belt"
            if treadmill
            else ", ".join(s.value for s in Surface if s != Surface.TREADMILL_BELT)
        )
        raise ValidationError(
            FIELD_LABELS["surface"], f"{draft.surface} does not fit mode {draft.mode}", allowed
        )
    values: dict[str, float] = {}
    for attr, low, high, whole in _RANGES:
        raw = getattr(draft, attr)
        if raw is None:
            continue
        cls = raw.__class__  # fast paths: a plain number inside the range
        if cls is float:
            if low <= raw <= high and (not whole or raw.is_integer()):
                values[attr] = raw
                continue
        elif cls is int:
            number = float(raw)
            if low <= number <= high:  # an int is whole
                values[attr] = number
                continue
        values[attr] = validate_param(attr, raw)  # anything else: the full check
    for attr in _TEXT_ATTRS:
        text = getattr(draft, attr)
        if not isinstance(text, str):
            raise ValidationError(FIELD_LABELS[attr], "must be text", f"0-{MAX_TEXT} characters")
        if len(text) > MAX_TEXT:
            raise ValidationError(
                FIELD_LABELS[attr],
                f"is {len(text)} characters long",
                f"at most {MAX_TEXT} characters",
            )
    _check_speed_consistency(values)


def _check_speed_consistency(values: dict[str, float]) -> None:
    if not {"duration_min", "distance_m", "speed_m_s"} <= values.keys():
        return
    minutes, metres, speed = values["duration_min"], values["distance_m"], values["speed_m_s"]
    if minutes == 0:
        if metres > 0 or speed > 0:
            raise ValidationError(
                "Duration",
                "is 0 but a distance/speed is recorded",
                "more than 0 min when distance or speed is given",
            )
        return
    implied = metres / (minutes * 60.0)
    low, high = implied * (1 - SPEED_TOLERANCE), implied * (1 + SPEED_TOLERANCE)
    if not (low <= speed <= high or math.isclose(speed, implied, abs_tol=1e-9)):
        raise ValidationError(
            "Speed",
            f"{speed:g} m/s does not match distance/duration ({metres:g} m in {minutes:g} min "
            f"= {implied:.2f} m/s)",
            f"{low:.2f} to {high:.2f} m/s (within {SPEED_TOLERANCE:.0%})",
        )
