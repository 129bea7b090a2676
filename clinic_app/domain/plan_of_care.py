"""Plan of care for a retro-walking episode: goals, the prescription and dose progression.

* Goals are a measure with a target value and date, or a free-text functional goal. A
  measured goal is *met* when the latest result reaches the target, *on track* when the
  Theil-Sen trend of the results (:func:`clinic_app.domain.progress.trend`) projected to the
  target date reaches it, otherwise *behind*.
* The prescription is the dose of retro-walking the patient is on (mode, surface, speed,
  duration, incline, assistance, spotter, an optional dual task) and how often per week.
* :class:`ProgressionRules` is plain data (the clinic edits it in Settings);
  :func:`suggest_next_dose` applies it to the session history and returns the next dose with
  a one-line reason. It changes one variable at a time - duration up to its target, then the
  spotter (only after enough independent sessions), then speed, then incline - progresses
  only after the last N clinic sessions at the current dose met the rules, and steps back
  after an adverse event or a pain rise above the limit.

The rules follow the usual graded retro-walking progression (a flat, clear path with a spotter
first; then longer, faster, uphill) and the common pain-monitoring model for exercise in knee
conditions: a rise of up to 2 points on the 0-10 NPRS during or after exercise is acceptable
(Thomee R. Phys Ther 1997;77:1690-1703; Silbernagel KG et al. Am J Sports Med
2007;35:897-906). The suggestion is decision support; the therapist accepts or overrides it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from clinic_app.domain.charts import EpisodeChart
from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import Measure, check_number, get_measure
from clinic_app.domain.progress import Point, format_date, trend
from clinic_app.domain.records import (
    Assistance,
    ClinicInfo,
    Patient,
    Side,
    Stamp,
    Surface,
    WalkMode,
)

KMH_PER_MS = 3.6
_EPS = 1e-9


# --- goals ------------------------------------------------------------------------------


class GoalStatus(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    NOT_ASSESSED = "not_assessed"  # too few results for a trend, or a free-text goal

    @property
    def label(self) -> str:
        return {"met": "Met", "on_track": "On track", "behind": "Behind",
                "not_assessed": "Not assessed"}[self.value]


@dataclass(frozen=True)
class GoalDraft:
    """A goal: ``measure_id`` + ``target_value`` + ``target_date``, or a functional ``text``.

    ``text`` may accompany a measured goal as its wording ("walk to the shop without pain").
    ``side`` picks the limb of a sided measure (the affected side when None).
    """

    measure_id: str | None = None
    target_value: float | None = None
    target_date: date | None = None
    text: str = ""
    side: Side | None = None
    achieved: bool = False  # a functional goal the therapist marked as achieved
    achieved_on: date | None = None  # the day it was achieved (set with ``achieved``)

    @property
    def measured(self) -> bool:
        return self.measure_id is not None


@dataclass(frozen=True)
class GoalAssessment:
    status: GoalStatus
    reason: str
    projected: float | None = None  # the trend's value on the target date


def validate_goal(d: GoalDraft, start: date | None = None,
                  today: date | None = None) -> GoalDraft:
    """Check a goal; the message names the field and what it allows.

    Only a goal in words is marked achieved by the therapist (a measured goal is met by
    its results), and then with the day it was achieved: not before the episode started
    (``start``), not after ``today``."""
    text = d.text.strip()
    if len(text) > 500:
        raise ValidationError("Goal", f"{len(text)} characters", "up to 500 characters")
    if d.measure_id is None:
        if not text:
            raise ValidationError("Goal", "neither a measure nor a functional goal was given",
                                  "a measure with target and date, or a goal in words")
        if d.target_value is not None:
            raise ValidationError("Target", "a target needs a measure", "no target without a "
                                  "measure")
        return replace(d, text=text, achieved_on=_achieved_on(d, start, today))
    if d.achieved:
        raise ValidationError("Achieved", "a measured goal is met by its results",
                              "only a goal in words is marked achieved")
    m = get_measure(d.measure_id)
    if d.target_value is None:
        raise ValidationError("Target", "missing", m.allowed)
    value = check_number("Target", d.target_value, m.allowed)
    if not m.min_value <= value <= m.max_value:
        raise ValidationError("Target", f"{value:g} is out of range", m.allowed)
    if d.target_date is None:
        raise ValidationError("Target date", "missing", "a calendar date")
    if start is not None and d.target_date < start:
        raise ValidationError("Target date", f"{format_date(d.target_date)} is before the "
                              "episode started", f"on or after {format_date(start)}")
    return replace(d, text=text, target_value=value, achieved_on=None)


def _achieved_on(d: GoalDraft, start: date | None, today: date | None) -> date | None:
    """The checked day a goal in words was achieved (None when it is not achieved)."""
    if not d.achieved:
        return None
    if d.achieved_on is None:
        raise ValidationError("Date achieved", "missing", "a calendar date")
    if start is not None and d.achieved_on < start:
        raise ValidationError("Date achieved", f"{format_date(d.achieved_on)} is before the "
                              "episode started", f"on or after {format_date(start)}")
    if today is not None and d.achieved_on > today:
        raise ValidationError("Date achieved", f"{format_date(d.achieved_on)} is in the "
                              "future", f"up to today, {format_date(today)}")
    return d.achieved_on


def _reached(m: Measure, value: float, target: float) -> bool:
    return value >= target - _EPS if m.higher_is_better else value <= target + _EPS


def assess_goal(goal: GoalDraft, series: Iterable[Point], today: date) -> GoalAssessment:
    """Status of a goal from the measure's results up to ``today``.

    Met when the latest result reaches the target; otherwise the Theil-Sen trend (>= 3
    results on >= 2 dates) is projected to the target date: reaching the target there is on
    track, falling short (or a target date already past) is behind.
    """
    if goal.measure_id is None or goal.target_value is None or goal.target_date is None:
        if goal.achieved:
            when = f" on {format_date(goal.achieved_on)}" if goal.achieved_on else ""
            return GoalAssessment(GoalStatus.MET, f"achieved{when} (judged by the therapist)")
        return GoalAssessment(GoalStatus.NOT_ASSESSED, "functional goal: judged by the therapist")
    m = get_measure(goal.measure_id)
    target = goal.target_value
    pts = sorted((p for p in series if p.when <= today), key=lambda p: p.when)
    if not pts:
        return GoalAssessment(GoalStatus.NOT_ASSESSED, "no result yet")
    latest = pts[-1]
    if _reached(m, latest.value, target):
        return GoalAssessment(GoalStatus.MET, f"{m.format_value(latest.value)} on "
                              f"{format_date(latest.when)} reaches {m.format_value(target)}")
    if today > goal.target_date:
        return GoalAssessment(GoalStatus.BEHIND, f"target date {format_date(goal.target_date)} "
                              f"passed at {m.format_value(latest.value)}")
    t = trend(pts)
    if t is None:
        return GoalAssessment(GoalStatus.NOT_ASSESSED,
                              f"{len(pts)} result(s): a trend needs 3 on 2 dates")
    weeks = (goal.target_date - t.first).days / 7.0
    projected = t.intercept + t.slope_per_week * weeks
    projected_text = m.format_value(projected)
    if _reached(m, projected, target):
        return GoalAssessment(GoalStatus.ON_TRACK, f"trend reaches {projected_text} by "
                              f"{format_date(goal.target_date)}", projected)
    return GoalAssessment(GoalStatus.BEHIND, f"trend reaches only {projected_text} by "
                          f"{format_date(goal.target_date)}", projected)


# --- prescription -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dose:
    """One retro-walking dose. Speed in m/s (None: self-paced overground), incline in %."""

    duration_min: float
    speed_m_s: float | None = None
    incline_pct: float = 0.0
    mode: WalkMode = WalkMode.OVERGROUND
    surface: Surface = Surface.FLAT
    assistance: Assistance = Assistance.SUPERVISED
    spotter: bool = True
    dual_task: str = ""

    def describe(self) -> str:
        """``"12 min at 2.5 km/h, 2 % incline, with a spotter"``."""
        parts = [f"{self.duration_min:g} min"]
        if self.speed_m_s is not None:
            parts[0] += f" at {self.speed_m_s * KMH_PER_MS:.1f} km/h"
        else:
            parts[0] += " at a comfortable pace"
        if self.incline_pct > 0:
            parts.append(f"{self.incline_pct:g} % incline")
        parts.append("with a spotter" if self.spotter else "without a spotter")
        if self.dual_task:
            parts.append(f"dual task: {self.dual_task}")
        return ", ".join(parts)


@dataclass(frozen=True)
class PrescriptionDraft:
    dose: Dose
    sessions_per_week: int = 3  # clinic and home sessions together
    notes: str = ""


def validate_prescription(p: PrescriptionDraft) -> PrescriptionDraft:
    """Check every dose value against its range; the message names the field."""
    d = p.dose
    dur = check_number("Duration", d.duration_min, "1 to 120 min")
    if not 1 <= dur <= 120:
        raise ValidationError("Duration", f"{dur:g} min is out of range", "1 to 120 min")
    if d.speed_m_s is not None:
        speed = check_number("Speed", d.speed_m_s, "0.1 to 10.8 km/h")
        if not 0.1 / KMH_PER_MS - _EPS <= speed <= 3.0 + _EPS:
            raise ValidationError("Speed", f"{speed * KMH_PER_MS:.1f} km/h is out of range",
                                  "0.1 to 10.8 km/h")
    incline = check_number("Incline", d.incline_pct, "0 to 15 %")
    if not 0 <= incline <= 15:
        raise ValidationError("Incline", f"{incline:g} % is out of range", "0 to 15 %")
    if isinstance(p.sessions_per_week, bool) or not isinstance(p.sessions_per_week, int) \
            or not 1 <= p.sessions_per_week <= 14:
        raise ValidationError("Sessions per week", f"{p.sessions_per_week!r}",
                              "1 to 14, whole numbers")
    if len(d.dual_task) > 200:
        raise ValidationError("Dual task", f"{len(d.dual_task)} characters", "up to 200")
    return p


@dataclass(frozen=True)
class Goal:
    id: UUID
    episode_id: UUID
    draft: GoalDraft
    stamp: Stamp


@dataclass(frozen=True)
class Prescription:
    id: UUID
    episode_id: UUID
    draft: PrescriptionDraft
    stamp: Stamp


@dataclass(frozen=True)
class SafetyDraft:
    """Recorded with a session: the safety checklist (None = not checked), whether the
    patient did it at home and reported it, and the suggested dose and any override."""

    home: bool = False
    path_clear: bool | None = None
    surface_checked: bool | None = None
    spotter_present: bool | None = None
    suggestion: str = ""
    overridden: bool = False
    override_reason: str = ""


@dataclass(frozen=True)
class SessionSafety:
    id: UUID
    session_id: UUID
    draft: SafetyDraft
    stamp: Stamp


@dataclass(frozen=True)
class EpisodePlanRecords:
    """Every stored plan-of-care record of one episode, entered in error included: what
    an export writes (the goals, the prescription and each session's checklist row)."""

    goals: tuple[Goal, ...] = ()
    prescriptions: tuple[Prescription, ...] = ()
    safety: tuple[SessionSafety, ...] = ()

    def __len__(self) -> int:
        return len(self.goals) + len(self.prescriptions) + len(self.safety)


def validate_safety(d: SafetyDraft) -> SafetyDraft:
    """An override needs its reason; texts are bounded."""
    reason = d.override_reason.strip()
    if d.overridden and not reason:
        raise ValidationError("Override reason", "missing", "a short reason why the suggested "
                              "dose was not used")
    if len(reason) > 500:
        raise ValidationError("Override reason", f"{len(reason)} characters",
                              "up to 500 characters")
    if len(d.suggestion) > 500:
        raise ValidationError("Suggestion", f"{len(d.suggestion)} characters",
                              "up to 500 characters")
    return replace(d, override_reason=reason)


# --- progression rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressionRules:
    """The clinic's progression rules. Defaults and their rationale are in the README."""

    window_sessions: int = 2  # N: clinic sessions at the current dose that must meet the rules
    pain_rise_limit: int = 2  # NPRS points pain after may exceed pain before
    rpe_target: float = 4.0  # Borg CR10: "somewhat hard"
    duration_target_min: float = 20.0
    duration_step_min: float = 2.0
    speed_step_kmh: float = 0.1
    speed_target_kmh: float = 3.0
    incline_step_pct: float = 1.0
    incline_max_pct: float = 5.0
    min_duration_min: float = 5.0  # a step back never goes below this
    spotter_independent_sessions: int = 3  # M: independent sessions before the spotter goes


RULE_LIMITS: dict[str, tuple[str, float, float, bool]] = {
    "window_sessions": ("Sessions that must meet the rules", 1, 10, True),
    "pain_rise_limit": ("Pain rise limit", 0, 10, True),
    "rpe_target": ("RPE target", 0, 10, False),
    "duration_target_min": ("Duration target", 1, 120, False),
    "duration_step_min": ("Duration step", 0.5, 30, False),
    "speed_step_kmh": ("Speed step", 0.05, 2, False),
    "speed_target_kmh": ("Speed target", 0.5, 10.8, False),
    "incline_step_pct": ("Incline step", 0.5, 5, False),
    "incline_max_pct": ("Incline maximum", 0, 15, False),
    "min_duration_min": ("Shortest duration", 1, 60, False),
    "spotter_independent_sessions": ("Independent sessions before removing the spotter",
                                     0, 20, True),
}
"""Field -> (label, minimum, maximum, whole numbers) for the settings editor and checks."""

RULE_UNITS = {"duration_target_min": "min", "duration_step_min": "min", "min_duration_min":
              "min", "speed_step_kmh": "km/h", "speed_target_kmh": "km/h",
              "incline_step_pct": "%", "incline_max_pct": "%"}


def validate_rules(r: ProgressionRules) -> ProgressionRules:
    """Check every rule against its range (message: the rule's label and range)."""
    for f in fields(r):
        label, lo, hi, whole = RULE_LIMITS[f.name]
        unit = RULE_UNITS.get(f.name, "")
        suffix = (f" {unit}" if unit else "") + (", whole numbers" if whole else "")
        allowed = f"{lo:g} to {hi:g}{suffix}"
        value = getattr(r, f.name)
        number = check_number(label, value, allowed)
        if not lo <= number <= hi or (whole and number != int(number)):
            raise ValidationError(label, f"{number:g} is out of range", allowed)
    if r.min_duration_min > r.duration_target_min:
        raise ValidationError("Shortest duration", f"{r.min_duration_min:g} min is above the "
                              "duration target", f"up to {r.duration_target_min:g} min")
    return r


def rules_to_text(r: ProgressionRules) -> str:
    """The rules as one short line (``"2;2;4;20;..."`` in field order) for a clinic setting."""
    return ";".join(f"{getattr(r, f.name):g}" for f in fields(r))


def rules_from_text(text: str) -> ProgressionRules:
    """Rules stored by :func:`rules_to_text`; missing trailing values take their defaults
    (a rule added later), then every value is checked."""
    parts = [p for p in text.split(";") if p.strip()]
    names = [f.name for f in fields(ProgressionRules)]
    if len(parts) > len(names):
        raise ValidationError("Progression rules", "more values than rules",
                              f"{len(names)} values")
    values: dict[str, float | int] = {}
    for name, raw in zip(names, parts, strict=False):
        number = float(raw)
        values[name] = int(number) if RULE_LIMITS[name][3] else number
    return validate_rules(ProgressionRules(**values))  # type: ignore[arg-type]


# --- session history -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFacts:
    """What the rules need from one session (oldest first in a history)."""

    when: date
    duration_min: float | None
    speed_m_s: float | None
    incline_pct: float | None
    pain_before: int | None
    pain_after: int | None
    rpe: float | None
    adverse_event: bool
    assistance: Assistance = Assistance.SUPERVISED
    home: bool = False  # self-reported at home: counts for adherence, not for progression


class Change(StrEnum):
    START = "start"
    PROGRESS = "progress"
    HOLD = "hold"
    STEP_BACK = "step_back"


@dataclass(frozen=True)
class Suggestion:
    dose: Dose
    change: Change
    variable: str | None  # "duration", "spotter", "speed", "incline" or None
    reason: str


def _same(a: float | None, b: float | None, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol


def _at_dose(s: SessionFacts, d: Dose) -> bool:
    """The session was done at ``d`` (within display resolution)."""
    return (_same(s.duration_min, d.duration_min, 0.05)
            and _same(s.speed_m_s, d.speed_m_s, 0.01 / KMH_PER_MS)
            and _same(s.incline_pct or 0.0, d.incline_pct, 0.05))


def dose_differs(d: Dose, duration_min: float | None, speed_m_s: float | None,
                 incline_pct: float | None) -> bool:
    """True when a session's duration, speed or incline is not the dose ``d``."""
    return not _at_dose(SessionFacts(date.min, duration_min, speed_m_s, incline_pct, None, None,
                                     None, False), d)


def _pain_rise(s: SessionFacts) -> int | None:
    if s.pain_before is None or s.pain_after is None:
        return None
    return s.pain_after - s.pain_before


def _signed(n: int) -> str:
    return f"{n:+d}"


def _num(x: float) -> str:
    return f"{x:g}"


def _window_text(window: Sequence[SessionFacts]) -> str:
    rises = "/".join(_signed(r) for r in (_pain_rise(s) for s in window) if r is not None)
    rpes = [s.rpe for s in window if s.rpe is not None]
    lo, hi = (min(rpes), max(rpes)) if rpes else (0.0, 0.0)
    rpe_text = _num(lo) if lo == hi else f"{_num(lo)}\u2013{_num(hi)}"
    n = len(window)
    who = "last session" if n == 1 else f"last {n} sessions"
    return f"{who} pain {rises}, RPE {rpe_text}, no adverse events"


def _unmet(s: SessionFacts, r: ProgressionRules) -> str | None:
    """Why ``s`` did not meet the rules, or None when it did."""
    when = format_date(s.when)
    rise = _pain_rise(s)
    if s.adverse_event:
        return f"adverse event on {when}"
    if rise is None:
        return f"pain before/after not recorded on {when}"
    if rise > r.pain_rise_limit:
        return f"pain {_signed(rise)} on {when} (limit {_signed(r.pain_rise_limit)})"
    if s.rpe is None:
        return f"RPE not recorded on {when}"
    if s.rpe > r.rpe_target + _EPS:
        return f"RPE {_num(s.rpe)} on {when} (target \u2264 {_num(r.rpe_target)})"
    return None


def _round_speed(ms: float) -> float:
    return round(ms * KMH_PER_MS, 2) / KMH_PER_MS


def _step_back(d: Dose, r: ProgressionRules, why: str) -> Suggestion:
    """Undo the most advanced variable, and bring the spotter back."""
    spotter = "" if d.spotter else ", spotter back"
    base = replace(d, spotter=True)
    if d.incline_pct > _EPS:
        new = max(0.0, round(d.incline_pct - r.incline_step_pct, 2))
        return Suggestion(replace(base, incline_pct=new), Change.STEP_BACK, "incline",
                          f"Incline \u2212{_num(d.incline_pct - new)} %{spotter}: {why}")
    if d.speed_m_s is not None and d.duration_min >= r.duration_target_min - _EPS:
        kmh = d.speed_m_s * KMH_PER_MS
        new_kmh = max(0.1, round(kmh - r.speed_step_kmh, 2))
        if new_kmh < kmh - _EPS:
            return Suggestion(replace(base, speed_m_s=new_kmh / KMH_PER_MS), Change.STEP_BACK,
                              "speed", f"Speed \u2212{_num(round(kmh - new_kmh, 2))} km/h"
                              f"{spotter}: {why}")
    new_dur = max(r.min_duration_min, round(d.duration_min - r.duration_step_min, 1))
    if new_dur < d.duration_min - _EPS:
        return Suggestion(replace(base, duration_min=new_dur), Change.STEP_BACK, "duration",
                          f"Duration \u2212{_num(round(d.duration_min - new_dur, 1))} min"
                          f"{spotter}: {why}")
    return Suggestion(base, Change.STEP_BACK, None if d.spotter else "spotter",
                      f"Hold at the lowest dose{spotter}: {why}")


def suggest_next_dose(
    prescription: Dose, history: Sequence[SessionFacts], rules: ProgressionRules | None = None,
    current: Dose | None = None,
) -> Suggestion:
    """The dose for the next session and a one-line reason.

    ``current`` is the dose the patient is on now (the last clinic session's, falling back to
    the prescription); ``history`` is oldest first. Only clinic sessions drive progression:
    home sessions are self-reported; an adverse event reported from home still steps back.
    """
    r = rules or ProgressionRules()
    dose = current or prescription
    ordered = sorted(history, key=lambda s: s.when)
    if ordered and ordered[-1].home and ordered[-1].adverse_event:
        return _step_back(dose, r, f"adverse event reported from home on "
                          f"{format_date(ordered[-1].when)}")
    clinic = [s for s in ordered if not s.home]
    if not clinic:
        return Suggestion(dose, Change.START, None,
                          "Start at the prescribed dose: no session yet")
    last = clinic[-1]
    rise = _pain_rise(last)
    if last.adverse_event:
        return _step_back(dose, r, f"adverse event on {format_date(last.when)}")
    if rise is not None and rise > r.pain_rise_limit:
        return _step_back(dose, r, f"pain {_signed(rise)} on {format_date(last.when)} "
                          f"(limit {_signed(r.pain_rise_limit)})")
    n = r.window_sessions
    at_dose = 0
    for s in reversed(clinic):
        if not _at_dose(s, dose):
            break
        at_dose += 1
    if at_dose < n:
        return Suggestion(dose, Change.HOLD, None,
                          f"Hold: {at_dose} of {n} sessions at this dose so far")
    window = clinic[-n:]
    for s in window:
        why = _unmet(s, r)
        if why is not None:
            return Suggestion(dose, Change.HOLD, None, f"Hold: {why}")
    evidence = _window_text(window)
    if dose.duration_min < r.duration_target_min - _EPS:
        new = min(r.duration_target_min, round(dose.duration_min + r.duration_step_min, 1))
        return Suggestion(replace(dose, duration_min=new), Change.PROGRESS, "duration",
                          f"Duration +{_num(round(new - dose.duration_min, 1))} min: {evidence}")
    independent = sum(1 for s in clinic if s.assistance == Assistance.INDEPENDENT
                      and not s.adverse_event)
    if dose.spotter and independent >= r.spotter_independent_sessions:
        return Suggestion(replace(dose, spotter=False), Change.PROGRESS, "spotter",
                          f"Without a spotter: {independent} independent sessions, {evidence}")
    if dose.speed_m_s is not None:
        kmh = dose.speed_m_s * KMH_PER_MS
        if kmh < r.speed_target_kmh - _EPS:
            new_kmh = min(r.speed_target_kmh, round(kmh + r.speed_step_kmh, 2))
            return Suggestion(replace(dose, speed_m_s=_round_speed(new_kmh / KMH_PER_MS)),
                              Change.PROGRESS, "speed",
                              f"Speed +{_num(round(new_kmh - kmh, 2))} km/h: {evidence}")
    if dose.incline_pct < r.incline_max_pct - _EPS:
        new = min(r.incline_max_pct, round(dose.incline_pct + r.incline_step_pct, 2))
        return Suggestion(replace(dose, incline_pct=new), Change.PROGRESS, "incline",
                          f"Incline +{_num(round(new - dose.incline_pct, 2))} %: {evidence}")
    spotter_note = (f"; spotter stays until {r.spotter_independent_sessions} independent "
                    f"sessions ({independent} so far)") if dose.spotter else ""
    return Suggestion(dose, Change.HOLD, None,
                      f"Hold: every target of the progression reached{spotter_note}")


# --- adherence -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekAdherence:
    week_start: date  # Monday
    done: int
    clinic: int
    home: int
    prescribed: int


@dataclass(frozen=True)
class Adherence:
    weeks: tuple[WeekAdherence, ...]

    @property
    def done(self) -> int:
        return sum(w.done for w in self.weeks)

    @property
    def prescribed(self) -> int:
        return sum(w.prescribed for w in self.weeks)

    @property
    def percent(self) -> float | None:
        """Sessions done of those prescribed, each week capped at its prescription (extra
        sessions in one week do not make up for a missed week)."""
        if not self.prescribed:
            return None
        return 100.0 * sum(min(w.done, w.prescribed) for w in self.weeks) / self.prescribed

    def describe(self) -> str:
        """``"41 of 46 prescribed sessions done (89 %), 60 in all over 16 weeks"``."""
        pct = self.percent
        if pct is None:
            return "no sessions prescribed yet"
        kept = sum(min(w.done, w.prescribed) for w in self.weeks)
        weeks = len(self.weeks)
        return (f"{kept} of {self.prescribed} prescribed sessions done ({pct:.0f} %), "
                f"{self.done} in all over {weeks} week{'s' if weeks != 1 else ''}")


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def adherence(sessions: Iterable[SessionFacts], per_week: int, since: date,
              until: date) -> Adherence:
    """Sessions done vs prescribed per calendar week (Monday to Sunday) from ``since`` to
    ``until``; a partial first or last week is prescribed pro rata (rounded up)."""
    if until < since:
        return Adherence(())
    rows: list[WeekAdherence] = []
    week = _monday(since)
    items = [s for s in sessions if since <= s.when <= until]
    while week <= until:
        end = week + timedelta(days=6)
        days = (min(end, until) - max(week, since)).days + 1
        prescribed = math.ceil(per_week * days / 7 - _EPS)
        in_week = [s for s in items if week <= s.when <= end]
        home = sum(1 for s in in_week if s.home)
        rows.append(WeekAdherence(week, len(in_week), len(in_week) - home, home, prescribed))
        week += timedelta(days=7)
    return Adherence(tuple(rows))


# --- the plan of care of one episode, as the record, the reports and the CLI show it --------


def is_adverse(text: str) -> bool:
    """A session's adverse-event field records one when it holds anything but "none"."""
    t = text.strip().casefold().rstrip(".")
    return bool(t) and t not in {"none", "no", "nil", "-", "n/a"}


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    assessment: GoalAssessment


@dataclass(frozen=True)
class PlanOfCare:
    """An episode's plan of care evaluated on a day (records entered in error left out)."""

    episode_id: UUID
    prescription: Prescription | None
    goals: tuple[GoalView, ...]
    rules: ProgressionRules
    suggestion: Suggestion | None  # None without a prescription
    adherence: Adherence | None  # None without a prescription
    safety: dict[UUID, SessionSafety]  # by session id
    sessions: int  # clinic sessions attended
    home_sessions: int
    adverse_events: int
    spotter_sessions: int
    goals_in_error: tuple[Goal, ...] = ()  # kept as history, never assessed


def facts_of(performed: date, duration_min: float | None, speed_m_s: float | None,
             incline_pct: float | None, pain_before: int | None, pain_after: int | None,
             rpe: float | None, adverse_events: str, assistance: Assistance,
             safety: SafetyDraft | None) -> SessionFacts:
    """What the rules need from a stored session and its checklist row."""
    return SessionFacts(performed, duration_min, speed_m_s, incline_pct, pain_before,
                        pain_after, rpe, is_adverse(adverse_events), assistance,
                        safety is not None and safety.home)


def current_dose(prescription: Dose, last: SessionFacts | None,
                 spotter_present: bool | None) -> Dose:
    """The dose the patient is on: the last clinic session's, else the prescription."""
    if last is None or last.duration_min is None:
        return prescription
    return replace(prescription, duration_min=last.duration_min, speed_m_s=last.speed_m_s
                   if last.speed_m_s is not None else prescription.speed_m_s,
                   incline_pct=last.incline_pct or 0.0,
                   spotter=prescription.spotter if spotter_present is None else spotter_present)


@dataclass(frozen=True)
class PlanDocument:
    """What the home-programme handout and the discharge summary print for one episode."""

    clinic: ClinicInfo
    patient: Patient
    chart: EpisodeChart  # the episode with its sessions and tests (entered in error left out)
    plan: PlanOfCare
    therapist: str
    generated_at: datetime  # aware
    document_id: str = ""


def describe_goal(g: GoalDraft) -> str:
    """``"3MBWT 4.0 s by 1 Jun 2026 (walk backwards in the kitchen)"`` or the words."""
    if g.measure_id is None or g.target_value is None or g.target_date is None:
        return g.text
    m = get_measure(g.measure_id)
    text = f"{m.short_name} {m.format_value(g.target_value)} by {format_date(g.target_date)}"
    return f"{text} ({g.text})" if g.text else text


def plan_summary_text(plan: PlanOfCare) -> str:
    """One line for the record: adherence, goals by status and adverse events."""
    parts = []
    if plan.adherence is not None:
        parts.append(f"Adherence {plan.adherence.describe()}")
    if plan.goals:
        counts: dict[str, int] = {}
        for v in plan.goals:
            counts[v.assessment.status.label.lower()] = counts.get(
                v.assessment.status.label.lower(), 0) + 1
        parts.append("Goals: " + ", ".join(f"{n} {label}" for label, n in counts.items()))
    if plan.home_sessions:
        parts.append(f"{plan.home_sessions} home session(s)")
    if plan.adverse_events:
        parts.append(f"{plan.adverse_events} adverse event(s)")
    return "  ·  ".join(parts)
