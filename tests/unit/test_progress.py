"""Progress maths and the plain-language sentences used by the GUI and PDF report."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.progress import (
    AclCriteria,
    ChangeClass,
    MeasureSeries,
    PhaseId,
    Point,
    acl_phase,
    change_from_baseline,
    classify_change,
    format_date,
    interpret,
    mcid_reached,
    summarize_episode,
    trend,
    weeks_since,
)
from clinic_app.domain.records import Side

D0 = date(2026, 3, 3)
LEFS, QUAD = MEASURES["lefs"], MEASURES["quad_lsi"]
# The maths of a lower-is-better measure with an MCID; the catalogue's TUG has none for knees.
TUG = replace(MEASURES["tug"], mcid=0.8)


def pts(*pairs: tuple[int, float]) -> list[Point]:
    """Points from (days after D0, value)."""
    return [Point(D0 + timedelta(days=d), v) for d, v in pairs]


# --- change and MCID -------------------------------------------------------------------


def test_change_from_baseline_uses_earliest_and_latest_dates() -> None:
    c = change_from_baseline(pts((30, 9.8), (0, 14.2), (10, 12.0)))
    assert c is not None
    assert (c.baseline.value, c.latest.value) == (14.2, 9.8)
    assert c.absolute == pytest.approx(-4.4)
    assert c.percent == pytest.approx(-4.4 / 14.2 * 100)
    assert change_from_baseline(pts((0, 0.0), (7, 5.0))).percent is None  # type: ignore[union-attr]
    assert change_from_baseline(pts((0, 14.2))) is None
    assert change_from_baseline([]) is None
    with pytest.raises(ValidationError, match="series"):
        change_from_baseline(pts((0, math.nan), (1, 2.0)))


def test_mcid_reached_is_direction_aware() -> None:
    assert mcid_reached(TUG, 14.2, 13.4) is True  # 0.8 s faster
    assert mcid_reached(TUG, 14.2, 13.5) is False
    assert mcid_reached(TUG, 13.4, 14.2) is False  # slower is worse
    assert mcid_reached(LEFS, 40, 49) is True  # exactly 9 points
    assert mcid_reached(LEFS, 40, 48) is False
    assert mcid_reached(LEFS, 49, 40) is False
    assert mcid_reached(MEASURES["nprs"], 6, 4) is True  # less pain
    assert mcid_reached(QUAD, 60, 95) is None  # no MCID published


def test_classify_change() -> None:
    assert classify_change(TUG, 14.2, 9.8) is ChangeClass.IMPROVED_MCID
    assert classify_change(TUG, 14.2, 13.9) is ChangeClass.IMPROVED
    assert classify_change(TUG, 14.2, 14.23) is ChangeClass.UNCHANGED  # below 0.1 s display
    assert classify_change(TUG, 9.8, 10.0) is ChangeClass.WORSENED
    assert classify_change(TUG, 9.8, 14.2) is ChangeClass.WORSENED_MCID
    assert classify_change(QUAD, 60, 95) is ChangeClass.IMPROVED  # no MCID -> never *_MCID


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(MEASURES)), st.data())
def test_mcid_symmetry_property(mid: str, data: st.DataObject) -> None:
    """Swapping baseline and latest never makes both directions clinically important gains."""
    m = MEASURES[mid]
    a = data.draw(st.floats(m.min_value, m.max_value))
    b = data.draw(st.floats(m.min_value, m.max_value))
    ab, ba = mcid_reached(m, a, b), mcid_reached(m, b, a)
    if m.mcid is None:
        assert ab is None and ba is None
    else:
        assert not (ab and ba)
        assert ab == ((b - a if m.higher_is_better else a - b) >= m.mcid - 1e-9)


# --- trend -----------------------------------------------------------------------------


def test_trend_slope_is_per_week() -> None:
    line = pts(*((7 * w, 10.0 + 2.0 * w) for w in range(5)))
    t = trend(line)
    assert t is not None
    assert t.slope_per_week == pytest.approx(2.0)
    assert t.intercept == pytest.approx(10.0)
    assert (t.n_points, t.first, t.last) == (5, D0, D0 + timedelta(days=28))
    daily = pts(*((d, 1.0 * d) for d in range(10)))
    assert trend(daily).slope_per_week == pytest.approx(7.0)  # type: ignore[union-attr]


def test_trend_needs_three_points_on_two_dates() -> None:
    assert trend(pts((0, 1.0), (7, 2.0))) is None
    assert trend(pts((0, 1.0), (0, 2.0), (0, 3.0))) is None
    t = trend(pts((0, 1.0), (0, 3.0), (7, 4.0)))  # same-day pair is skipped
    assert t is not None and t.slope_per_week == pytest.approx(2.0)


def test_trend_ignores_one_outlier_where_least_squares_does_not() -> None:
    series = pts(*((7 * w, 20.0 - 0.5 * w) for w in range(8)))
    series.append(Point(D0 + timedelta(days=21), 200.0))  # e.g. a typo: 200 s instead of 20 s
    t = trend(series)
    assert t is not None and t.slope_per_week == pytest.approx(-0.5)
    xs = [(p.when - D0).days / 7 for p in series]
    ys = [p.value for p in series]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    ols = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    assert abs(ols - -0.5) > 1.0  # the naive slope would be badly off


@settings(max_examples=2000, deadline=None)
@given(
    n=st.integers(5, 12),
    slope=st.floats(-5, 5),
    start=st.floats(0, 100),
    outlier_at=st.integers(0, 11),
    outlier=st.floats(-1e4, 1e4),
    step_days=st.integers(1, 14),
)
def test_trend_robust_to_one_outlier_property(
    n: int, slope: float, start: float, outlier_at: int, outlier: float, step_days: int
) -> None:
    series = pts(*((step_days * i, start + slope * step_days * i / 7) for i in range(n)))
    k = outlier_at % n
    series[k] = Point(series[k].when, outlier)
    t = trend(reversed(series))  # order of input must not matter
    assert t is not None
    assert t.slope_per_week == pytest.approx(slope, abs=1e-6)


# --- weeks and ACL phases --------------------------------------------------------------


def test_weeks_since() -> None:
    assert weeks_since(date(2026, 1, 1), date(2026, 1, 15)) == 2.0
    assert weeks_since(date(2026, 1, 15), date(2026, 1, 1)) == -2.0
    assert weeks_since(date(2026, 1, 1), date(2026, 1, 4)) == pytest.approx(3 / 7)
    with pytest.raises(ValidationError, match="Surgery date"):
        weeks_since("2026-01-01", date(2026, 1, 4))  # type: ignore[arg-type]


ALL_EARLY = dict(full_extension=True, effusion_trace_or_less=True, no_quad_lag=True)


def test_acl_phase_needs_time_and_criteria() -> None:
    assert acl_phase(-2).id is PhaseId.PRE_OP
    assert acl_phase(0).id is PhaseId.EARLY
    # Time alone is not enough ...
    p = acl_phase(30)
    assert p.id is PhaseId.EARLY and p.next_phase is PhaseId.STRENGTH
    assert "full knee extension" in p.unmet_for_next
    # ... and criteria alone are not either.
    assert acl_phase(1.5, AclCriteria(**ALL_EARLY)).id is PhaseId.EARLY
    assert acl_phase(2, AclCriteria(**ALL_EARLY)).id is PhaseId.STRENGTH
    running = AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=80.0)
    assert acl_phase(11.9, running).id is PhaseId.STRENGTH
    assert acl_phase(12, running).id is PhaseId.RUNNING
    assert acl_phase(12, AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=79.9)).id is (
        PhaseId.STRENGTH
    )


def test_acl_return_to_sport_not_before_nine_months_and_90_percent() -> None:
    ready = AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=92.0, hop_lsi=90.0)
    early = acl_phase(38, ready)
    assert early.id is PhaseId.RUNNING
    assert early.unmet_for_next == ("at least 39 weeks after surgery (now 38.0)",)
    done = acl_phase(39, ready)
    assert (done.id, done.number, done.next_phase, done.unmet_for_next) == (
        PhaseId.RETURN_TO_SPORT, 4, None, (),
    )
    weak = acl_phase(52, AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=89.9, hop_lsi=95))
    assert weak.id is PhaseId.RUNNING
    assert weak.unmet_for_next == ("quadriceps LSI 89.9 % (needs at least 90 %)",)
    no_hop = acl_phase(52, AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=95))
    assert "hop LSI not measured (needs at least 90 %)" in no_hop.unmet_for_next


def test_acl_phase_bad_input() -> None:
    with pytest.raises(ValidationError, match="Weeks after surgery"):
        acl_phase(math.nan)
    with pytest.raises(ValidationError, match=r"quadriceps LSI: 250 is out of range .*0 to 200 %"):
        acl_phase(20, AclCriteria(**ALL_EARLY, normal_gait=True, quad_lsi=250))


@settings(max_examples=2000, deadline=None)
@given(
    w1=st.floats(-10, 150),
    w2=st.floats(-10, 150),
    flags=st.tuples(*(st.booleans() for _ in range(4))),
    quad=st.one_of(st.none(), st.floats(0, 200)),
    hop=st.one_of(st.none(), st.floats(0, 200)),
)
def test_acl_phase_never_goes_back_with_time(
    w1: float, w2: float, flags: tuple[bool, ...], quad: float | None, hop: float | None
) -> None:
    c = AclCriteria(*flags, quad_lsi=quad, hop_lsi=hop)
    lo, hi = sorted((w1, w2))
    assert acl_phase(lo, c).number <= acl_phase(hi, c).number


# --- interpretation --------------------------------------------------------------------


def test_interpret_the_design_example() -> None:
    text = interpret(TUG, pts((0, 14.2), (31, 9.8)))
    assert text == (
        "TUG improved from 14.2 s to 9.8 s (-4.4 s) since 3 Mar 2026; this exceeds the "
        "minimal clinically important difference of 0.8 s. Now below the fall-risk cut-off "
        "(older adults) of 13.5 s."
    )
    assert interpret(TUG, pts((31, 9.8), (0, 14.2))) == text  # input order does not matter
    # the catalogue's TUG: no knee MCID, the knee-OA detectable change is named in its source
    assert "no minimal clinically important difference is established" in interpret(
        "tug", pts((31, 9.8), (0, 14.2)))


def test_interpret_worsening_and_crossing_a_cut_off() -> None:
    text = interpret(TUG, pts((0, 12.0), (14, 14.0)))
    assert text.startswith("TUG worsened from 12.0 s to 14.0 s (+2.0 s) since 3 Mar 2026;")
    assert "this worsening exceeds the minimal clinically important difference of 0.8 s" in text
    assert text.endswith("Now above the fall-risk cut-off (older adults) of 13.5 s.")
    still = interpret(TUG, pts((0, 16.0), (14, 15.5)))
    assert "less than the minimal clinically important difference" in still
    assert still.endswith("Still above the fall-risk cut-off (older adults) of 13.5 s.")


def test_interpret_higher_is_better_goal_and_no_mcid() -> None:
    text = interpret(QUAD, pts((0, 70.0), (60, 92.5)))
    assert text.startswith("Quad LSI improved from 70.0 % to 92.5 % (+22.5 %)")
    assert "no minimal clinically important difference is established" in text
    assert text.endswith("Now meets the return-to-sport criterion (at least 90 %).")
    lefs = interpret(LEFS, pts((0, 55), (30, 40)))
    assert lefs.startswith("LEFS worsened from 55 points to 40 points (-15 points)")
    ext = interpret("knee_extension_rom", pts((0, -8), (30, -2)), label="Knee extension (left)")
    assert ext.startswith("Knee extension (left) improved from -8° to -2° (+6°)")
    assert ext.endswith("Not yet at the full-extension goal (at least 0°).")


def test_interpret_no_points_one_point_unchanged() -> None:
    assert interpret(TUG, []) == "No TUG results recorded yet."
    assert interpret(TUG, pts((0, 14.2))) == (
        "TUG: 14.2 s on 3 Mar 2026 (baseline; no follow-up yet). Above the fall-risk cut-off "
        "(older adults) of 13.5 s."
    )
    assert interpret("nprs", pts((0, 5), (7, 5))) == "NPRS unchanged at 5 points since 3 Mar 2026."
    assert format_date(date(2026, 12, 25)) == "25 Dec 2026"
    # 13.5 s itself is in the fall-risk band: ">= 13.5 s" (Shumway-Cook A et al. 2000, Phys
    # Ther, Predicting the probability for falls in community-dwelling older adults using the
    # Timed Up & Go Test; Barry E et al. 2014, BMC Geriatr, systematic review and meta-analysis)
    assert interpret(TUG, pts((0, 14.0), (7, 13.5))).endswith(
        "Still at the fall-risk cut-off (older adults) of 13.5 s."
    )
    assert interpret(TUG, pts((0, 13.0), (7, 13.5))).endswith(
        "Now at the fall-risk cut-off (older adults) of 13.5 s."
    )


@settings(max_examples=2000, deadline=None)
@given(a=st.floats(1, 300), b=st.floats(1, 300))
def test_interpret_direction_property(a: float, b: float) -> None:
    """For TUG (lower is better) the verb follows the sign of the displayed change."""
    assume(abs(round(a, 1) - round(b, 1)) >= 0.2)  # clear of display rounding
    text = interpret(TUG, [Point(D0, a), Point(D0 + timedelta(days=7), b)])
    assert ("improved" in text) == (b < a)
    assert ("worsened" in text) == (b > a)
    assert ("Now below" in text) == (a >= 13.5 > b)


def test_summarize_episode() -> None:
    text = summarize_episode(
        [
            MeasureSeries("tug", tuple(pts((0, 14.2), (31, 9.8)))),
            MeasureSeries("quad_lsi", tuple(pts((0, 70.0), (60, 92.5)))),
            MeasureSeries("bwt_3m", tuple(pts((0, 5.0), (31, 5.5)))),
            MeasureSeries(
                "knee_flexion_rom",
                tuple(
                    pts(
                        (0, 90),
                    )
                ),
                Side.LEFT,
            ),
            MeasureSeries("lefs", ()),
        ],
        surgery_date=D0 - timedelta(weeks=4),
    )
    assert text == (
        "Results from 3 Mar 2026 to 2 May 2026 (13 weeks after surgery). Improved, but by less "
        "than the MCID or with no MCID established: TUG and Quad LSI. Worsened: 3MBWT. "
        "Baseline only, no follow-up yet: Knee flexion (left). Criteria met: Quad LSI "
        "(return-to-sport criterion). Attention: 3MBWT above the fall-risk cut-off "
        "(older adults)."
    )
    assert summarize_episode([]) == "No test results recorded in this period."
