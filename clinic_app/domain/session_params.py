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

Messages about speed are written in the unit the person typed (:class:`SpeedUnit`: the
session editor lets them choose km/h or m/s; files carry m/s), with the precision that unit
is shown in, and a suggested range never leaves the allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cached_property

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.limits import MAX_AHEAD, instant_floor, instant_problem, text_problem
from clinic_app.domain.measures import check_number
from clinic_app.domain.records import Assistance, Surface, WalkMode, WalkSessionDraft

KMH_PER_MS = 3.6
SPEED_TOLERANCE = 0.20  # relative disagreement allowed between speed and distance/duration
_EDGE = 1e-6  # relative slack at the tolerance's edges: a suggested rounded end must pass
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


NPRS_ANCHORS = "0 = no pain, 10 = worst imaginable pain; lower is better"
RPE_ANCHORS = "0 = nothing at all, 10 = extremely strong (maximal); half steps allowed"

_PARAMS = (
    SessionParam("duration_min", "Duration", "min", 0, 180, 0),
    SessionParam("distance_m", "Distance", "m", 0, 10_000, 0),
    SessionParam("speed_m_s", "Speed", "m/s", 0, 3, 2, note="enter km/h or m/s; stored in m/s"),
    SessionParam("incline_pct", "Incline", "%", -15, 25, 1, note="negative = downhill"),
    SessionParam("pain_before", "Pain before", "NPRS", 0, 10, 0, integer_only=True,
                 note=NPRS_ANCHORS),
    SessionParam("pain_after", "Pain after", "NPRS", 0, 10, 0, integer_only=True,
                 note=NPRS_ANCHORS),
    SessionParam("rpe", "RPE", "Borg CR10", 0, 10, 1, note=RPE_ANCHORS),
    SessionParam("heart_rate", "Heart rate", "bpm", 30, 230, 0, integer_only=True),
)
SESSION_PARAMS: dict[str, SessionParam] = {p.attr: p for p in _PARAMS}
"""Numeric session parameters by draft attribute."""


class SpeedUnit(StrEnum):
    """A unit speeds are typed and shown in; values are stored in m/s whatever the unit."""

    KMH = "km/h"
    MS = "m/s"

    @property
    def per_ms(self) -> float:
        """How many of this unit make 1 m/s."""
        return KMH_PER_MS if self is SpeedUnit.KMH else 1.0

    @property
    def decimals(self) -> int:
        """Decimals a speed in this unit is shown with (0.1 km/h is about 0.03 m/s)."""
        return 1 if self is SpeedUnit.KMH else 2

    def show(self, speed_m_s: float, decimals: int | None = None) -> str:
        """``speed_m_s`` in this unit: ``"3.0 km/h"`` with the unit's decimals, or with at
        most ``decimals`` and no trailing zeros (a value as the person typed it)."""
        value = speed_m_s * self.per_ms
        if decimals is None:
            return f"{value:.{self.decimals}f} {self}"
        return f"{_fmt(value, decimals)} {self}"

    def allowed(self) -> str:
        """The allowed speed range in this unit."""
        p = SESSION_PARAMS["speed_m_s"]
        low, high = p.min_value * self.per_ms, p.max_value * self.per_ms
        return f"{_fmt(low, self.decimals)} to {_fmt(high, self.decimals)} {self}"  # 0 to 3 m/s


def _fmt(value: float, decimals: int) -> str:
    """``value`` with at most ``decimals`` decimals and no trailing zeros (``-0`` is ``0``)."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


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
_FLOOR = instant_floor()


def validate_walk_session(
    draft: WalkSessionDraft, now: datetime | None = None, *, born: date | None = None,
    episode_start: date | None = None, speed_unit: SpeedUnit = SpeedUnit.MS,
) -> None:
    """Check a session draft; raise the first problem :func:`walk_session_problems` finds."""
    problems = walk_session_problems(draft, now, born=born, episode_start=episode_start,
                                     speed_unit=speed_unit)
    if problems:
        raise problems[0]


def walk_session_problems(  # noqa: C901 - one flat pass, run per imported row
    draft: WalkSessionDraft, now: datetime | None = None, *, born: date | None = None,
    episode_start: date | None = None, speed_unit: SpeedUnit = SpeedUnit.MS,
) -> list[ValidationError]:
    """Every problem of a session draft, in form order; each names its field and range.

    ``now`` (aware) defaults to the current time; ``born`` and ``episode_start`` bound the
    date when known; ``speed_unit`` is the unit speed messages are written in.
    """
    problems: list[ValidationError] = []
    when = draft.performed_at
    floor = _FLOOR if born is None and episode_start is None else instant_floor(born,
                                                                                episode_start)
    now = now or datetime.now().astimezone()
    # the common case in two comparisons; anything else gets the full check and its message
    if not (when.__class__ is datetime and when.utcoffset() is not None
            and floor <= when <= now + MAX_AHEAD):
        problem = instant_problem(FIELD_LABELS["performed_at"], when, now, born=born,
                                  episode_start=episode_start)
        if problem is not None:
            problems.append(problem)
    for attr in _CHOICE_ENUMS:
        value = getattr(draft, attr)
        if not isinstance(value, str) or value not in _CHOICE_VALUES[attr]:
            allowed = [m.value for m in _CHOICE_ENUMS[attr]]  # built only for the message
            problems.append(ValidationError(
                FIELD_LABELS[attr], f"{value!r} is not a known value", ", ".join(allowed)))
    treadmill = draft.mode == _TREADMILL
    if treadmill != (draft.surface == _BELT):
        fitting = (
            "treadmill_belt"
            if treadmill
            else ", ".join(s.value for s in Surface if s != Surface.TREADMILL_BELT)
        )
        problems.append(ValidationError(
            FIELD_LABELS["surface"], f"{draft.surface} does not fit mode {draft.mode}", fitting))
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
        try:
            if attr == "speed_m_s":
                values[attr] = _check_speed(raw, speed_unit)
            else:
                values[attr] = validate_param(attr, raw)  # anything else: the full check
        except ValidationError as exc:
            problems.append(exc)
    for attr in _TEXT_ATTRS:
        text = getattr(draft, attr)
        if text.__class__ is str and not text:
            continue
        bad = text_problem(FIELD_LABELS[attr], text, MAX_TEXT)
        if bad is not None:
            problems.append(bad)
    mismatch = _speed_mismatch(values, speed_unit)
    if mismatch is not None:
        problems.append(mismatch)
    return problems


def _check_speed(raw: object, unit: SpeedUnit) -> float:
    """A speed in m/s checked against its range, the message in ``unit``."""
    allowed = unit.allowed()
    number = check_number("Speed", raw, allowed)
    p = SESSION_PARAMS["speed_m_s"]
    if not p.min_value <= number <= p.max_value:
        # As few decimals as show it outside the range: 10.801 km/h must not read "10.8".
        low, high = p.min_value * unit.per_ms, p.max_value * unit.per_ms
        places = unit.decimals + 1
        while places < 6 and low <= round(number * unit.per_ms, places) <= high:
            places += 1
        raise ValidationError("Speed", f"{unit.show(number, places)} is out of range", allowed)
    return number


def _ceil(value: float, decimals: int) -> float:
    """``value`` rounded up to ``decimals`` (float noise such as 250.00000000000003 is not)."""
    scale = 10**decimals
    return math.ceil(value * scale - 1e-7) / scale


def _floor(value: float, decimals: int) -> float:
    scale = 10**decimals
    return math.floor(value * scale + 1e-7) / scale


def _speed_mismatch(values: dict[str, float], unit: SpeedUnit) -> ValidationError | None:
    """Distance, duration and speed that disagree: which ones, what they imply, and a fix.

    The suggested range is the speeds that fit within :data:`SPEED_TOLERANCE` and the
    allowed speed range, rounded inwards to the shown precision; when no allowed speed
    fits (the distance is too long for the time), distance or duration are blamed instead.
    """
    if not {"duration_min", "distance_m", "speed_m_s"} <= values.keys():
        return None
    minutes, metres, speed = values["duration_min"], values["distance_m"], values["speed_m_s"]
    if minutes == 0:
        if metres > 0 or speed > 0:
            return ValidationError(
                "Duration",
                "is 0 but a distance/speed is recorded",
                "more than 0 min when distance or speed is given",
            )
        return None
    implied = metres / (minutes * 60.0)
    low, high = implied * (1 - SPEED_TOLERANCE), implied * (1 + SPEED_TOLERANCE)
    # Below half of 0.01 m/s (the finest step a speed is shown in) nothing disagrees.
    if low * (1 - _EDGE) <= speed <= high * (1 + _EDGE) or abs(speed - implied) < 0.005:
        return None
    k, dec = unit.per_ms, unit.decimals
    said = (f"Distance {_fmt(metres, 1)} m in {_fmt(minutes, 1)} min implies "
            f"{unit.show(implied)}, but speed is {unit.show(speed, dec + 1)}")
    p = SESSION_PARAMS["speed_m_s"]
    fit_low = _ceil(max(low, p.min_value) * k, dec)
    fit_high = _floor(min(high, p.max_value) * k, dec)
    if fit_low <= fit_high:
        return ValidationError(
            "Speed", said,
            f"{fit_low:.{dec}f} to {fit_high:.{dec}f} {unit} for this distance and "
            f"duration, within {SPEED_TOLERANCE:.0%}",
        )
    # No allowed speed fits: the distance (or the duration) must be what is wrong.
    d = SESSION_PARAMS["distance_m"]
    dist_low = int(_ceil(max(speed / (1 + SPEED_TOLERANCE) * minutes * 60.0, d.min_value), 0))
    dist_high = int(_floor(min(speed / (1 - SPEED_TOLERANCE) * minutes * 60.0, d.max_value), 0))
    if speed > 0 and dist_low <= dist_high:
        return ValidationError(
            "Distance", said + f" (above the highest allowed speed, {unit.allowed()})",
            f"{dist_low} to {dist_high} m in {_fmt(minutes, 1)} min at this speed",
        )
    return ValidationError(
        "Duration", said + f" (above the highest allowed speed, {unit.allowed()})",
        f"a duration and distance that give a speed from {unit.allowed()}",
    )
