"""Messages in the unit the person typed, every problem at once, and hostile input refused."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.limits import day_problem, instant_problem, text_problem
from clinic_app.domain.records import (
    Diagnosis,
    EpisodeDraft,
    PatientDraft,
    Side,
    TestResultDraft,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import validate_test_result
from clinic_app.domain.session_params import (
    SpeedUnit,
    kmh_to_ms,
    validate_walk_session,
    walk_session_problems,
)
from clinic_app.domain.validation import validate_episode, validate_patient

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 3)
BORN = date(1988, 3, 14)
START = date(2025, 1, 6)


def session(**kw: object) -> WalkSessionDraft:
    base: dict[str, object] = dict(performed_at=NOW - timedelta(hours=2), duration_min=10.0,
                                   distance_m=500.0, speed_m_s=kmh_to_ms(3.0))
    base.update(kw)
    return WalkSessionDraft(**base)  # type: ignore[arg-type]


def only(problems: list[ValidationError]) -> ValidationError:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- speed messages in the user's unit --------------------------------------------------


def test_out_of_range_speed_is_told_in_km_h() -> None:
    err = only(walk_session_problems(session(speed_m_s=kmh_to_ms(40), distance_m=None),
                                     NOW, speed_unit=SpeedUnit.KMH))
    assert str(err) == "Speed: 40 km/h is out of range (allowed: 0 to 10.8 km/h)"
    err = only(walk_session_problems(session(speed_m_s=5.0, distance_m=None), NOW))
    assert str(err) == "Speed: 5 m/s is out of range (allowed: 0 to 3 m/s)"


def test_just_above_the_limit_never_reads_as_the_limit() -> None:
    err = only(walk_session_problems(session(speed_m_s=kmh_to_ms(10.84), distance_m=None),
                                     NOW, speed_unit=SpeedUnit.KMH))
    assert "10.84 km/h is out of range" in str(err)
    err = only(walk_session_problems(session(speed_m_s=kmh_to_ms(10.801), distance_m=None),
                                     NOW, speed_unit=SpeedUnit.KMH))
    assert "10.801 km/h is out of range" in str(err)


def test_disagreement_names_the_values_and_what_they_imply() -> None:
    err = only(walk_session_problems(session(speed_m_s=kmh_to_ms(5.0)), NOW,
                                     speed_unit=SpeedUnit.KMH))
    assert err.field == "Speed"
    assert str(err).startswith(
        "Speed: Distance 500 m in 10 min implies 3.0 km/h, but speed is 5 km/h")
    assert err.allowed == "2.4 to 3.6 km/h for this distance and duration, within 20%"
    err = only(walk_session_problems(session(speed_m_s=kmh_to_ms(5.0)), NOW))
    assert "implies 0.83 m/s, but speed is 1.389 m/s" in str(err)
    assert err.allowed is not None and err.allowed.startswith("0.67 to 1.00 m/s")


def test_no_suggestion_above_the_maximum() -> None:
    # 1000 m in 5 min = 3.33 m/s: the old message suggested 2.67-4.00 m/s (max is 3).
    d = session(duration_min=5.0, distance_m=1000.0, speed_m_s=2.0)
    err = only(walk_session_problems(d, NOW))
    assert err.field == "Speed" and err.allowed is not None
    assert err.allowed.startswith("2.67 to 3.00 m/s")
    # 3000 m in 5 min = 10 m/s: no allowed speed fits, so the distance is what is wrong.
    d = session(duration_min=5.0, distance_m=3000.0, speed_m_s=1.0)
    err = only(walk_session_problems(d, NOW, speed_unit=SpeedUnit.KMH))
    assert err.field == "Distance"
    assert "implies 36.0 km/h, but speed is 3.6 km/h" in str(err)
    assert err.allowed == "250 to 375 m in 5 min at this speed"


_RANGE = re.compile(r"^(-?[\d.]+) to (-?[\d.]+) (km/h|m/s) for this distance")


@settings(max_examples=1500, deadline=None)
@given(minutes=st.floats(0.5, 180), metres=st.floats(0, 10_000), speed=st.floats(0, 3),
       unit=st.sampled_from(list(SpeedUnit)))
def test_a_suggested_speed_is_allowed_and_accepted(
    minutes: float, metres: float, speed: float, unit: SpeedUnit
) -> None:
    """Whatever disagrees, a suggested speed range lies inside 0-3 m/s and its ends pass."""
    problems = walk_session_problems(
        session(duration_min=minutes, distance_m=metres, speed_m_s=speed), NOW, speed_unit=unit)
    for p in problems:
        assert p.allowed is not None
        m = _RANGE.match(p.allowed)
        if p.field != "Speed" or m is None:
            continue
        assert m.group(3) == str(unit)
        low, high = float(m.group(1)), float(m.group(2))
        assert 0 <= low <= high <= 3 * unit.per_ms
        for typed in (low, high):
            fixed = session(duration_min=minutes, distance_m=metres,
                            speed_m_s=typed / unit.per_ms)
            assert walk_session_problems(fixed, NOW, speed_unit=unit) == []


def test_every_problem_is_listed_in_form_order() -> None:
    d = session(performed_at=datetime(1899, 5, 1, tzinfo=UTC), pain_before=12,
                speed_m_s=kmh_to_ms(40), heart_rate=20, plan="\x1b[2J")
    problems = walk_session_problems(d, NOW, speed_unit=SpeedUnit.KMH)
    assert [p.field for p in problems] == ["Date/time", "Speed", "Pain before", "Heart rate",
                                           "Plan"]
    with pytest.raises(ValidationError, match="^Date/time"):
        validate_walk_session(d, NOW)


# --- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-05:00",
                                  "2099-06-01T10:00:00+00:00", "1899-12-31T09:59:00+00:00"])
def test_session_dates_out_of_range_are_refused(text: str) -> None:
    err = only(walk_session_problems(session(performed_at=datetime.fromisoformat(text)), NOW))
    assert err.field == "Date/time" and err.allowed is not None
    assert err.allowed.startswith("between 1900-01-01 and 2026-03-04")


def test_session_before_birth_or_episode_start_is_refused() -> None:
    old = session(performed_at=datetime(1950, 1, 1, 9, tzinfo=UTC))
    err = only(walk_session_problems(old, NOW, born=BORN))
    assert "is before the patient's birth date 1988-03-14" in str(err)
    assert err.allowed is not None and err.allowed.startswith(
        "between the patient's birth date 1988-03-14 and")
    err = only(walk_session_problems(session(performed_at=datetime(2024, 12, 1, tzinfo=UTC)),
                                     NOW, born=BORN, episode_start=START))
    assert "before the episode start 2025-01-06" in str(err)
    # just after midnight at UTC+2 on the start day is still that day for the clinic
    early = datetime(2025, 1, 6, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert walk_session_problems(session(performed_at=early), NOW, episode_start=START) == []


@pytest.mark.parametrize(("day", "born", "start", "words"), [
    (date(2099, 1, 1), BORN, START, "more than a day in the future"),
    (date(9999, 12, 31), BORN, START, "more than a day in the future"),
    (date(1899, 12, 31), None, None, "is before 1900-01-01"),
    (date(1900, 6, 1), BORN, None, "before the patient's birth date 1988-03-14"),
    (date(2024, 12, 31), BORN, START, "before the episode start 2025-01-06"),
])
def test_test_dates_out_of_range_are_refused(
    day: date, born: date | None, start: date | None, words: str
) -> None:
    with pytest.raises(ValidationError) as err:
        validate_test_result(TestResultDraft("tug", day, 9.0), born=born, episode_start=start,
                             today=TODAY)
    assert err.value.field == "Performed on" and words in str(err.value)
    assert validate_test_result(TestResultDraft("tug", TODAY, 9.0), born=BORN,
                                episode_start=START, today=TODAY) == 9.0
    assert day_problem("Performed on", TODAY + timedelta(days=1), today=TODAY) is None


# --- text ------------------------------------------------------------------------------


def test_test_notes_are_capped_like_session_text() -> None:
    with pytest.raises(ValidationError, match="Notes: is 131,000 characters long"):
        validate_test_result(TestResultDraft("tug", TODAY, 9.0, notes="n" * 131_000),
                             today=TODAY)
    validate_test_result(TestResultDraft("tug", TODAY, 9.0, notes="n" * 20_000), today=TODAY)


@pytest.mark.parametrize("bad", ["\x1b[31m", "\x07", "\u202e", "\u202a", "\u2066",
                                 "\u200f", "\u061c", "\x00", "\x85", "\n", "\t"])
def test_control_and_bidi_characters_are_refused_in_names(bad: str) -> None:
    draft = PatientDraft("P-1", f"Smith{bad}son", "Ann", BORN)
    with pytest.raises(ValidationError) as err:
        validate_patient(draft, TODAY)
    assert err.value.field == "Family name"
    assert f"U+{ord(bad[0]):04X}" in str(err.value) and "position 6" in str(err.value)
    with pytest.raises(ValidationError, match="^Given name"):
        validate_patient(PatientDraft("P-1", "Smith", f"A{bad}", BORN), TODAY)


def test_multi_line_text_keeps_line_breaks_and_marks_but_not_overrides() -> None:
    assert text_problem("Notes", "line 1\n\tline 2\r\n\u200fשלום", 100) is None
    validate_patient(PatientDraft("P-1", "Müller-Łukasiewicz", "José María", BORN,
                                  notes="Seen by\nDr. Ünal"), TODAY)
    for bad in ("\u202e", "\x1b", "\x07", "\u2067"):
        with pytest.raises(ValidationError, match="^Notes"):
            validate_patient(PatientDraft("P-1", "Smith", "Ann", BORN, notes=f"a{bad}b"), TODAY)
        with pytest.raises(ValidationError, match="^Plan"):
            validate_walk_session(session(plan=f"walk{bad}"), NOW)
        with pytest.raises(ValidationError, match="^Referring doctor"):
            validate_episode(EpisodeDraft(Diagnosis.ACL_RECONSTRUCTION, Side.LEFT, START,
                                          referring_doctor=f"Dr{bad}"), BORN, TODAY)


def test_instant_problem_never_converts_out_of_range_years() -> None:
    for text in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-12:00"):
        assert instant_problem("Date/time", datetime.fromisoformat(text), NOW) is not None
