"""Retro-walking session validation: ranges, labels, time zone, speed consistency."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import Assistance, Surface, WalkMode, WalkSessionDraft
from clinic_app.domain.session_params import (
    FIELD_LABELS,
    SESSION_PARAMS,
    kmh_to_ms,
    ms_to_kmh,
    validate_param,
    validate_walk_session,
)

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def draft(**kw: object) -> WalkSessionDraft:
    base: dict[str, object] = dict(
        performed_at=NOW - timedelta(hours=2), mode=WalkMode.TREADMILL,
        surface=Surface.TREADMILL_BELT, duration_min=10.0, distance_m=600.0, speed_m_s=1.0,
        incline_pct=5.0, assistance=Assistance.HANDRAIL, pain_before=3, pain_after=2, rpe=4.5,
        heart_rate=110,
    )
    base.update(kw)
    return WalkSessionDraft(**base)  # type: ignore[arg-type]


def rejects(d: WalkSessionDraft, field: str, *fragments: str) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        validate_walk_session(d, now=NOW)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    for f in fragments:
        assert f in str(err.value)
    return err.value


def test_valid_session_passes() -> None:
    validate_walk_session(draft(), now=NOW)
    validate_walk_session(
        draft(mode=WalkMode.OVERGROUND, surface=Surface.GRASS, speed_m_s=None, incline_pct=None),
        now=NOW,
    )
    validate_walk_session(WalkSessionDraft(performed_at=NOW), now=NOW)  # everything optional


def test_every_draft_field_has_a_form_label() -> None:
    assert {f.name for f in dataclasses.fields(WalkSessionDraft)} == set(FIELD_LABELS)
    assert all(SESSION_PARAMS[a].label == FIELD_LABELS[a] for a in SESSION_PARAMS)


@pytest.mark.parametrize(
    ("attr", "low", "high", "allowed"),
    [
        ("duration_min", 0, 180, "0 to 180 min"),
        ("distance_m", 0, 10_000, "0 to 10000 m"),
        ("speed_m_s", 0, 3, "0 to 3 m/s"),
        ("incline_pct", -15, 25, "-15 to 25 %"),
        ("pain_before", 0, 10, "0 to 10 NPRS, whole numbers"),
        ("pain_after", 0, 10, "0 to 10 NPRS, whole numbers"),
        ("rpe", 0, 10, "0 to 10 Borg CR10"),
        ("heart_rate", 30, 230, "30 to 230 bpm, whole numbers"),
    ],
)
def test_ranges_are_inclusive_and_named(attr: str, low: float, high: float, allowed: str) -> None:
    label = FIELD_LABELS[attr]
    assert validate_param(attr, low) == low
    assert validate_param(attr, high) == high
    # Leave duration/distance/speed out so the consistency check does not interfere.
    free = {"duration_min": None, "distance_m": None, "speed_m_s": None}
    for bad in (low - 1, high + 1, math.nan, math.inf, True, "5"):
        rejects(draft(**{**free, attr: bad}), label, f"allowed: {allowed}")


def test_whole_numbers_for_pain_and_heart_rate() -> None:
    rejects(draft(pain_before=3.5), "Pain before", "not a whole number")
    rejects(draft(heart_rate=72.5), "Heart rate", "not a whole number")
    validate_walk_session(draft(pain_after=4.0, heart_rate=72.0), now=NOW)


def test_time_zone_and_future() -> None:
    rejects(draft(performed_at=datetime(2026, 3, 3, 9, 0)), "Date/time", "time zone")
    rejects(draft(performed_at=NOW + timedelta(days=1, minutes=1)), "Date/time", "future")
    validate_walk_session(draft(performed_at=NOW + timedelta(hours=23)), now=NOW)
    cet = timezone(timedelta(hours=1))
    validate_walk_session(draft(performed_at=datetime(2026, 3, 3, 13, 0, tzinfo=cet)), now=NOW)
    rejects(draft(performed_at=None), "Date/time", "required")


def test_speed_must_match_distance_over_duration() -> None:
    # 600 m in 10 min = 1.00 m/s; 20 % tolerance -> 0.80 to 1.20 m/s.
    validate_walk_session(draft(speed_m_s=1.19), now=NOW)
    validate_walk_session(draft(speed_m_s=0.81), now=NOW)
    err = rejects(draft(speed_m_s=1.21), "Speed", "0.80 to 1.20 m/s", "600 m in 10 min")
    assert err.allowed == "0.80 to 1.20 m/s for this distance and duration, within 20%"
    rejects(draft(speed_m_s=0.79), "Speed", "0.80 to 1.20 m/s")
    validate_walk_session(draft(speed_m_s=2.5, distance_m=None), now=NOW)  # nothing to compare
    rejects(draft(duration_min=0.0), "Duration", "more than 0 min")
    validate_walk_session(draft(duration_min=0.0, distance_m=0.0, speed_m_s=0.0), now=NOW)


def test_choices_and_surface_consistency() -> None:
    rejects(draft(mode="sideways"), "Mode", "overground, treadmill")
    rejects(draft(assistance="carried"), "Assistance", "independent")
    rejects(draft(surface=Surface.GRASS), "Surface", "treadmill_belt")
    rejects(draft(mode=WalkMode.OVERGROUND), "Surface", "flat")


def test_text_fields() -> None:
    rejects(draft(plan="x" * 20_001), "Plan", "at most 20,000 characters")
    rejects(draft(subjective=None), "Subjective", "must be text")
    validate_walk_session(draft(adverse_events="Dizzy after 5 min; stopped."), now=NOW)


def test_speed_unit_helpers() -> None:
    assert kmh_to_ms(3.6) == pytest.approx(1.0)
    assert ms_to_kmh(1.5) == pytest.approx(5.4)
    with pytest.raises(ValidationError, match="Speed"):
        kmh_to_ms(math.nan)


@settings(max_examples=2000, deadline=None)
@given(st.floats(0, 100, allow_nan=False))
def test_kmh_roundtrip(kmh: float) -> None:
    assert ms_to_kmh(kmh_to_ms(kmh)) == pytest.approx(kmh, rel=1e-12, abs=1e-12)


@settings(max_examples=2000, deadline=None)
@given(
    minutes=st.floats(1, 180),
    speed=st.floats(0.05, 3.0),
    factor=st.floats(0.5, 1.5),
    incline=st.floats(-15, 25),
    pain=st.integers(0, 10),
    hr=st.integers(30, 230),
)
def test_speed_consistency_property(
    minutes: float, speed: float, factor: float, incline: float, pain: int, hr: int
) -> None:
    """Any in-range session passes iff the stated speed is within 20 % of distance/duration."""
    distance = speed * minutes * 60
    fits = distance <= 10_000
    stated = min(3.0, speed * factor)
    d = draft(duration_min=minutes, distance_m=distance if fits else 10_000.0,
              speed_m_s=stated, incline_pct=incline, pain_before=pain, heart_rate=hr)
    implied = d.distance_m / (minutes * 60)  # type: ignore[operator]
    consistent = 0.8 * implied <= stated <= 1.2 * implied
    if consistent:
        validate_walk_session(d, now=NOW)
    elif abs(stated - implied) > 0.2 * implied * (1 + 1e-9):
        err = rejects(d, "Speed", "implies", "but speed is")
        assert err.allowed is not None and "within 20%" in err.allowed
