"""Verdicts are printed with the precision that decided them, and the unaffected knee is the
reference, not a result (domain wording used by the report)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from clinic_app.domain.measures import get_measure
from clinic_app.domain.progress import (
    MeasureSeries,
    Point,
    episode_findings,
    format_against,
    format_change,
    format_result,
    interpret,
    summarize_episode,
)
from clinic_app.domain.records import Side

D0 = date(2026, 3, 3)
QUAD = get_measure("quad_lsi")


def pts(*pairs: tuple[int, float]) -> tuple[Point, ...]:
    return tuple(Point(D0 + timedelta(days=d), v) for d, v in pairs)


def test_a_value_just_under_the_criterion_is_not_printed_as_the_criterion() -> None:
    assert QUAD.format_value(89.96) == "90.0 %"  # display precision alone would mislead
    assert format_result(QUAD, 89.96) == "89.96 %"
    assert format_result(QUAD, 90.0) == "90.0 %"
    assert format_result(QUAD, 90.04) == "90.04 %"  # "above" is never printed as the bound
    assert format_result(QUAD, 85.0) == "85.0 %"
    # further than three extra decimals: rounded towards its own side, never onto the bound
    assert format_result(QUAD, 89.99999) == "89.9999 %"
    text = interpret(QUAD, pts((0, 70.0), (30, 89.96)))
    assert "to 89.96 %" in text and "Not yet at the return-to-sport criterion" in text


def test_a_change_just_under_the_mcid_shows_why_it_is_not_reached() -> None:
    lefs = get_measure("lefs")  # MCID 9 points, shown as whole points
    assert lefs.format_value(8.6, signed=True) == "+9 points"
    assert format_change(lefs, 8.6) == "+8.6 points"
    assert format_change(lefs, 9.0) == "+9 points"
    assert format_change(lefs, -8.6) == "-8.6 points"
    text = interpret(lefs, pts((0, 40.0), (30, 48.6)))
    assert "(+8.6 points)" in text and "less than the minimal clinically important" in text


@given(st.floats(min_value=0, max_value=200, allow_nan=False))
def test_printed_value_never_contradicts_the_verdict(value: float) -> None:
    printed = float(format_against(QUAD, value, 90.0).removesuffix(" %"))
    assert (printed >= 90.0) == (value >= 90.0 - 1e-9)


def test_the_unaffected_knee_is_the_reference_not_a_result() -> None:
    series = [
        MeasureSeries("knee_extension_rom", pts((0, -8), (30, -3)), Side.LEFT),
        MeasureSeries("knee_extension_rom", pts((0, 2), (30, 0)), Side.RIGHT),
    ]
    f = episode_findings(series, Side.LEFT)
    assert f.worsened == () and f.met == ()
    assert f.improved == ("Knee extension (left)",)
    assert f.reference == ("Knee extension (right)",)
    text = summarize_episode(series, affected=Side.LEFT)
    assert "Worsened" not in text and "Criteria met" not in text
    assert text.endswith("The right (unaffected) knee is the reference for the affected left "
                         "knee: Knee extension (right).")
    # with both knees affected, both are results
    both = episode_findings(series, Side.BILATERAL)
    assert both.worsened == ("Knee extension (right)",) and both.reference == ()
