"""Progression rules, goal status and adherence, each rule driven by a table of histories."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Change,
    Dose,
    GoalDraft,
    GoalStatus,
    PrescriptionDraft,
    ProgressionRules,
    SessionFacts,
    adherence,
    assess_goal,
    rules_from_text,
    rules_to_text,
    suggest_next_dose,
    validate_goal,
    validate_prescription,
    validate_rules,
)
from clinic_app.domain.progress import Point
from clinic_app.domain.records import Assistance

D0 = date(2026, 3, 2)
START = Dose(duration_min=10, speed_m_s=2.0 / KMH_PER_MS, incline_pct=0.0, spotter=True)
AT_TARGET = replace(START, duration_min=20)
FAST = replace(AT_TARGET, speed_m_s=3.0 / KMH_PER_MS, spotter=False)


def s(day: int, pb: int | None = 2, pa: int | None = 2, rpe: float | None = 3,
      dose: Dose = START, adverse: bool = False, home: bool = False,
      assistance: Assistance = Assistance.SUPERVISED) -> SessionFacts:
    return SessionFacts(D0 + timedelta(days=day), dose.duration_min, dose.speed_m_s,
                        dose.incline_pct, pb, pa, rpe, adverse, assistance, home)


IND = Assistance.INDEPENDENT

# (id, current dose, history, expected change, variable, expected dose fields, reason)
CASES = [
    ("no sessions", START, [], Change.START, None, {},
     "Start at the prescribed dose: no session yet"),
    ("one session only", START, [s(0)], Change.HOLD, None, {},
     "Hold: 1 of 2 sessions at this dose so far"),
    ("two good sessions: duration first", START, [s(0, 2, 2, 3), s(2, 1, 2, 4)],
     Change.PROGRESS, "duration", {"duration_min": 12},
     "Duration +2 min: last 2 sessions pain +0/+1, RPE 3\u20134, no adverse events"),
    ("pain +2 is within the limit", START, [s(0, 1, 3), s(2, 0, 2)], Change.PROGRESS,
     "duration", {"duration_min": 12},
     "Duration +2 min: last 2 sessions pain +2/+2, RPE 3, no adverse events"),
    ("older session at another dose does not count", START,
     [s(0, dose=replace(START, duration_min=8)), s(2)], Change.HOLD, None, {},
     "Hold: 1 of 2 sessions at this dose so far"),
    ("RPE above target holds", START, [s(0), s(2, rpe=5)], Change.HOLD, None, {},
     "Hold: RPE 5 on 4 Mar 2026 (target \u2264 4)"),
    ("pain not recorded holds", START, [s(0), s(2, pb=None)], Change.HOLD, None, {},
     "Hold: pain before/after not recorded on 4 Mar 2026"),
    ("adverse event in an earlier session of the window holds", START,
     [s(0, adverse=True), s(2)], Change.HOLD, None, {},
     "Hold: adverse event on 2 Mar 2026"),
    ("adverse event last session steps back duration", START, [s(0), s(2, adverse=True)],
     Change.STEP_BACK, "duration", {"duration_min": 8},
     "Duration \u22122 min: adverse event on 4 Mar 2026"),
    ("pain rise above the limit steps back", START, [s(0), s(2, 1, 4)], Change.STEP_BACK,
     "duration", {"duration_min": 8},
     "Duration \u22122 min: pain +3 on 4 Mar 2026 (limit +2)"),
    ("step back never below the shortest duration", replace(START, duration_min=5),
     [s(0, adverse=True, dose=replace(START, duration_min=5))], Change.STEP_BACK, None, {},
     "Hold at the lowest dose: adverse event on 2 Mar 2026"),
    ("duration capped at its target", replace(START, duration_min=19),
     [s(0, dose=replace(START, duration_min=19)), s(1, dose=replace(START, duration_min=19))],
     Change.PROGRESS, "duration", {"duration_min": 20},
     "Duration +1 min: last 2 sessions pain +0/+0, RPE 3, no adverse events"),
    ("at duration target: speed next, spotter kept before M independent", AT_TARGET,
     [s(0, dose=AT_TARGET, assistance=IND), s(2, 1, 2, dose=AT_TARGET, assistance=IND)],
     Change.PROGRESS, "speed", {"speed_m_s": pytest.approx(2.1 / KMH_PER_MS), "spotter": True},
     "Speed +0.1 km/h: last 2 sessions pain +0/+1, RPE 3, no adverse events"),
    ("spotter removed after M independent sessions", AT_TARGET,
     [s(0, dose=AT_TARGET, assistance=IND), s(1, dose=AT_TARGET, assistance=IND),
      s(2, dose=AT_TARGET, assistance=IND)], Change.PROGRESS, "spotter", {"spotter": False},
     "Without a spotter: 3 independent sessions, last 2 sessions pain +0/+0, RPE 3, "
     "no adverse events"),
    ("speed at target: incline next", FAST, [s(0, dose=FAST), s(1, dose=FAST)],
     Change.PROGRESS, "incline", {"incline_pct": 1.0},
     "Incline +1 %: last 2 sessions pain +0/+0, RPE 3, no adverse events"),
    ("step back undoes incline first and brings the spotter back",
     replace(FAST, incline_pct=2), [s(0, 0, 3, dose=replace(FAST, incline_pct=2))],
     Change.STEP_BACK, "incline", {"incline_pct": 1.0, "spotter": True},
     "Incline \u22121 %, spotter back: pain +3 on 2 Mar 2026 (limit +2)"),
    ("step back undoes speed when there is no incline", FAST,
     [s(0, dose=FAST, adverse=True)], Change.STEP_BACK, "speed",
     {"speed_m_s": pytest.approx(2.9 / KMH_PER_MS)},
     "Speed \u22120.1 km/h, spotter back: adverse event on 2 Mar 2026"),
    ("home sessions do not drive progression", START, [s(0), s(1, home=True),
                                                       s(2, home=True)],
     Change.HOLD, None, {}, "Hold: 1 of 2 sessions at this dose so far"),
    ("adverse event reported from home steps back", START, [s(0), s(2), s(3, adverse=True,
                                                                        home=True)],
     Change.STEP_BACK, "duration", {"duration_min": 8},
     "Duration \u22122 min: adverse event reported from home on 5 Mar 2026"),
    ("everything reached holds", replace(FAST, incline_pct=5),
     [s(0, dose=replace(FAST, incline_pct=5)), s(1, dose=replace(FAST, incline_pct=5))],
     Change.HOLD, None, {}, "Hold: every target of the progression reached"),
]


@pytest.mark.parametrize(("name", "dose", "history", "change", "variable", "expect", "reason"),
                         CASES, ids=[c[0] for c in CASES])
def test_progression_table(name: str, dose: Dose, history: list[SessionFacts], change: Change,
                           variable: str | None, expect: dict[str, object],
                           reason: str) -> None:
    got = suggest_next_dose(START, history, ProgressionRules(), current=dose)
    assert (got.change, got.variable, got.reason) == (change, variable, reason)
    changed = {k: getattr(got.dose, k) for k in expect}
    assert changed == expect
    others = {"duration_min", "speed_m_s", "incline_pct"} - set(expect)
    if got.variable != "spotter" and got.change != Change.STEP_BACK:
        assert got.dose.spotter == dose.spotter
    for k in others:  # one variable at a time
        assert getattr(got.dose, k) == getattr(dose, k)


def test_window_and_limits_come_from_the_rules() -> None:
    rules = ProgressionRules(window_sessions=3, pain_rise_limit=1)
    hist = [s(0), s(1), s(2, 0, 2)]
    got = suggest_next_dose(START, hist, rules)
    assert got.change == Change.STEP_BACK and "limit +1" in got.reason
    got = suggest_next_dose(START, hist[:2], rules)
    assert got.reason == "Hold: 2 of 3 sessions at this dose so far"


def test_spotter_rule_with_custom_m() -> None:
    rules = ProgressionRules(spotter_independent_sessions=5)
    hist = [s(i, dose=AT_TARGET, assistance=IND) for i in range(4)]
    assert suggest_next_dose(AT_TARGET, hist, rules).variable == "speed"
    hist.append(s(5, dose=AT_TARGET, assistance=IND))
    assert suggest_next_dose(AT_TARGET, hist, rules).variable == "spotter"


def test_rules_round_trip_and_validation() -> None:
    r = ProgressionRules(window_sessions=3, speed_step_kmh=0.2)
    assert rules_from_text(rules_to_text(r)) == r
    with pytest.raises(ValidationError, match="Pain rise limit.*0 to 10, whole numbers"):
        validate_rules(ProgressionRules(pain_rise_limit=11))
    with pytest.raises(ValidationError, match="Speed step.*km/h"):
        validate_rules(ProgressionRules(speed_step_kmh=5))


# (results, today, target, status)
GOALS = [
    ("met", [(0, 40.0), (14, 60.0), (28, 71.0)], 28, 70.0, GoalStatus.MET),
    ("on track", [(0, 40.0), (14, 50.0), (28, 60.0)], 28, 80.0, GoalStatus.ON_TRACK),
    ("behind", [(0, 40.0), (14, 42.0), (28, 44.0)], 28, 80.0, GoalStatus.BEHIND),
    ("too few", [(0, 40.0), (14, 50.0)], 28, 80.0, GoalStatus.NOT_ASSESSED),
    ("date passed", [(0, 40.0), (14, 50.0), (28, 60.0)], 60, 90.0, GoalStatus.BEHIND),
]


@pytest.mark.parametrize(("name", "results", "today", "target", "status"), GOALS,
                         ids=[g[0] for g in GOALS])
def test_goal_status(name: str, results: list[tuple[int, float]], today: int, target: float,
                     status: GoalStatus) -> None:
    goal = GoalDraft("lefs", target, D0 + timedelta(days=56))
    series = [Point(D0 + timedelta(days=d), v) for d, v in results]
    got = assess_goal(goal, series, D0 + timedelta(days=today))
    assert got.status == status, got.reason


def test_goal_direction_lower_is_better() -> None:
    goal = GoalDraft("tug", 9.0, D0 + timedelta(days=42))
    series = [Point(D0 + timedelta(days=d), v) for d, v in ((0, 14.0), (7, 13.0), (14, 12.0))]
    got = assess_goal(goal, series, D0 + timedelta(days=14))
    assert got.status == GoalStatus.ON_TRACK and got.projected == pytest.approx(8.0)
    assert "8.0 s" in got.reason


def test_goal_validation_names_field_and_range() -> None:
    with pytest.raises(ValidationError, match="Target.*0 to 80"):
        validate_goal(GoalDraft("lefs", 95, D0))
    with pytest.raises(ValidationError, match="Target date"):
        validate_goal(GoalDraft("lefs", 60, None))
    with pytest.raises(ValidationError, match="Goal"):
        validate_goal(GoalDraft(text="   "))
    assert validate_goal(GoalDraft(text=" climb stairs ")).text == "climb stairs"
    with pytest.raises(ValidationError, match="Target date.*before the episode"):
        validate_goal(GoalDraft("lefs", 60, D0), start=D0 + timedelta(days=1))


def test_prescription_validation() -> None:
    with pytest.raises(ValidationError, match="Speed.*km/h"):
        validate_prescription(PrescriptionDraft(replace(START, speed_m_s=4.0)))
    with pytest.raises(ValidationError, match="Sessions per week"):
        validate_prescription(PrescriptionDraft(START, sessions_per_week=0))
    assert validate_prescription(PrescriptionDraft(START)).sessions_per_week == 3


def test_adherence_per_week_capped() -> None:
    # Mon 2 Mar .. Sun 15 Mar: two full weeks at 3 / week
    hist = [s(0), s(2), s(4), s(5, home=True), s(8, home=True)]
    a = adherence(hist, 3, D0, D0 + timedelta(days=13))
    assert [(w.done, w.clinic, w.home, w.prescribed) for w in a.weeks] == [(4, 3, 1, 3),
                                                                           (1, 0, 1, 3)]
    assert a.percent == pytest.approx(100 * 4 / 6)
    assert a.describe() == "4 of 6 prescribed sessions done (67 %), 5 in all over 2 weeks"


def test_adherence_partial_week_pro_rata() -> None:
    a = adherence([], 3, D0 + timedelta(days=4), D0 + timedelta(days=6))  # Fri..Sun
    assert [w.prescribed for w in a.weeks] == [2]
