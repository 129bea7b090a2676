"""Progress maths and plain-language interpretation for the GUI and the PDF report.

* change from baseline (first result) to latest, absolute and percent;
* whether the change reaches the measure's MCID, direction-aware;
* a robust trend (Theil-Sen slope, median of pairwise slopes; Sen PK, J Am Stat Assoc
  1968;63:1379-1389), expressed per week;
* weeks since surgery and the ACL-reconstruction rehabilitation phase.

ACL phases follow the criterion-based progression of the KNGF guideline (van Melick N et al.
Evidence-based clinical practice update: practice guidelines for anterior cruciate ligament
rehabilitation. Br J Sports Med 2016;50:1506-1515) with the milestones of Adams D et al.
(J Orthop Sports Phys Ther 2012;42(7):601-614: full extension, trace effusion or less and no
quadriceps lag before progressing; quadriceps index >= 80 % before running) and Grindem H et al.
(Br J Sports Med 2016;50:804-808: return to sport not before 9 months and with >= 90 %
quadriceps and hop symmetry). Week thresholds are earliest times; criteria must also be met.
The phase is decision support only; the treating clinician decides.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import combinations

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.measures import Band, Measure, check_number, get_measure
from clinic_app.domain.records import Side

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English month abbreviations: dates read the same whatever the workstation's locale."""
_EPS = 1e-9


@dataclass(frozen=True)
class Point:
    """One result of a measure on a date."""

    when: date
    value: float


@dataclass(frozen=True)
class Change:
    """Change from the baseline (earliest) point to the latest point."""

    baseline: Point
    latest: Point
    absolute: float  # latest - baseline, in the measure's unit
    percent: float | None  # relative to baseline; None when the baseline is 0


@dataclass(frozen=True)
class TrendResult:
    """Theil-Sen trend: ``value ~ intercept + slope_per_week * weeks since first point``."""

    slope_per_week: float
    intercept: float
    n_points: int
    first: date
    last: date


class ChangeClass(StrEnum):
    IMPROVED_MCID = "improved_mcid"  # improved by at least the MCID
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WORSENED = "worsened"
    WORSENED_MCID = "worsened_mcid"  # worsened by at least the MCID


def day_month(d: date) -> str:
    """``3 Mar`` - locale-independent, for plot and chart axes."""
    return f"{d.day} {MONTHS[d.month - 1]}"


def format_date(d: date) -> str:
    """``3 Mar 2026`` - locale-independent, as used in sentences and reports."""
    return f"{day_month(d)} {d.year}"


def _ordered(series: Iterable[Point]) -> list[Point]:
    """Points sorted by date (stable: same-day points keep their input order), validated."""
    pts = list(series)
    for p in pts:
        if not isinstance(p, Point) or not isinstance(p.when, date):
            raise ValidationError("series", f"{p!r} is not a Point", "Point(when=date, value)")
        check_number("series", p.value, "finite numbers")
    return sorted(pts, key=lambda p: p.when)


def change_from_baseline(series: Iterable[Point]) -> Change | None:
    """Change from the earliest to the latest point; ``None`` with fewer than 2 points."""
    pts = _ordered(series)
    if len(pts) < 2:
        return None
    first, last = pts[0], pts[-1]
    absolute = last.value - first.value
    percent = None if first.value == 0 else absolute / abs(first.value) * 100.0
    return Change(first, last, absolute, percent)


def _improvement(measure: Measure, baseline: float, latest: float) -> float:
    """Signed improvement: positive = better, whatever the measure's direction."""
    delta = latest - baseline
    return delta if measure.higher_is_better else -delta


def mcid_reached(measure: Measure, baseline: float, latest: float) -> bool | None:
    """True if ``latest`` is better than ``baseline`` by at least the MCID; None if no MCID."""
    if measure.mcid is None:
        return None
    b = check_number(measure.name, baseline, measure.allowed)
    x = check_number(measure.name, latest, measure.allowed)
    return _improvement(measure, b, x) >= measure.mcid - _EPS


def classify_change(measure: Measure, baseline: float, latest: float) -> ChangeClass:
    """Direction-aware class of a change; "unchanged" means below display resolution."""
    imp = _improvement(measure, baseline, latest)
    resolution = 0.5 * 10.0 ** (-measure.decimals)
    if abs(imp) < resolution:
        return ChangeClass.UNCHANGED
    big = measure.mcid is not None and abs(imp) >= measure.mcid - _EPS
    if imp > 0:
        return ChangeClass.IMPROVED_MCID if big else ChangeClass.IMPROVED
    return ChangeClass.WORSENED_MCID if big else ChangeClass.WORSENED


def trend(series: Iterable[Point]) -> TrendResult | None:
    """Theil-Sen slope per week; ``None`` unless >= 3 points on >= 2 distinct dates.

    Slopes are taken over all pairs of points on different dates; the intercept is the median
    of ``value - slope * weeks``. Robust to up to ~29 % outliers.
    """
    pts = _ordered(series)
    if len(pts) < 3 or len({p.when for p in pts}) < 2:
        return None
    t0 = pts[0].when
    xs = [(p.when - t0).days / 7.0 for p in pts]
    ys = [p.value for p in pts]
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i, j in combinations(range(len(pts)), 2)
        if xs[j] != xs[i]
    ]
    slope = statistics.median(slopes)
    intercept = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    return TrendResult(slope, intercept, len(pts), t0, pts[-1].when)


def weeks_since(surgery_date: date, on_date: date) -> float:
    """Weeks from ``surgery_date`` to ``on_date`` (negative before surgery)."""
    for label, d in (("Surgery date", surgery_date), ("Date", on_date)):
        if not isinstance(d, date):
            raise ValidationError(label, f"{d!r} is not a date", "a calendar date")
    return (on_date - surgery_date).days / 7.0


# --- ACL reconstruction phases ---------------------------------------------------------


class PhaseId(StrEnum):
    PRE_OP = "pre_op"
    EARLY = "early"  # phase 1
    STRENGTH = "strength"  # phase 2
    RUNNING = "running"  # phase 3
    RETURN_TO_SPORT = "return_to_sport"  # phase 4


@dataclass(frozen=True)
class AclCriteria:
    """Clinical milestones; ``None``/``False`` counts as "not (yet) shown"."""

    full_extension: bool = False  # passive extension 0° or better, symmetric
    effusion_trace_or_less: bool = False  # stroke test trace or none
    no_quad_lag: bool = False  # straight-leg raise without extension lag
    normal_gait: bool = False
    quad_lsi: float | None = None  # %
    hop_lsi: float | None = None  # %


@dataclass(frozen=True)
class Phase:
    """The phase reached, what it aims at and which criteria still block the next one."""

    id: PhaseId
    number: int  # 0 = pre-op, 1-4 post-op
    label: str
    goals: str
    weeks_post_op: float
    next_phase: PhaseId | None
    unmet_for_next: tuple[str, ...]


@dataclass(frozen=True)
class _PhaseDef:
    id: PhaseId
    number: int
    label: str
    goals: str
    min_weeks: float


_PHASES = (
    _PhaseDef(
        PhaseId.PRE_OP,
        0,
        "Pre-operative (prehabilitation)",
        "Reduce effusion, restore full range of motion and quadriceps strength.",
        -math.inf,
    ),
    _PhaseDef(
        PhaseId.EARLY,
        1,
        "Phase 1 - early post-operative",
        "Protect the graft, control pain and effusion, regain full extension and "
        "quadriceps activation.",
        0.0,
    ),
    _PhaseDef(
        PhaseId.STRENGTH,
        2,
        "Phase 2 - strength and neuromuscular control",
        "Normal gait, full range of motion, progressive strengthening and balance.",
        2.0,
    ),
    _PhaseDef(
        PhaseId.RUNNING,
        3,
        "Phase 3 - running, agility and plyometrics",
        "Return to running, agility and hopping; strength towards symmetry.",
        12.0,
    ),
    _PhaseDef(
        PhaseId.RETURN_TO_SPORT,
        4,
        "Phase 4 - return to sport",
        "Sport-specific training and graded return to sport.",
        39.0,
    ),  # 9 months
)


def _lsi_ok(name: str, value: float | None, threshold: float) -> str | None:
    if value is None:
        return f"{name} not measured (needs at least {threshold:g} %)"
    v = check_number(name, value, "0 to 200 %")
    if not 0 <= v <= 200:
        raise ValidationError(name, f"{v:g} is out of range", "0 to 200 %")
    return None if v >= threshold else f"{name} {v:g} % (needs at least {threshold:g} %)"


def _unmet(target: PhaseId, weeks: float, c: AclCriteria) -> list[str]:
    """Criteria (and time) not yet met for entering ``target``."""
    out: list[str] = []
    d = next(p for p in _PHASES if p.id == target)
    if weeks < d.min_weeks:
        out.append(f"at least {d.min_weeks:g} weeks after surgery (now {weeks:.1f})")
    if target in (PhaseId.STRENGTH, PhaseId.RUNNING, PhaseId.RETURN_TO_SPORT):
        if not c.full_extension:
            out.append("full knee extension")
        if not c.effusion_trace_or_less:
            out.append("effusion trace or less")
        if not c.no_quad_lag:
            out.append("straight-leg raise without quadriceps lag")
    if target in (PhaseId.RUNNING, PhaseId.RETURN_TO_SPORT) and not c.normal_gait:
        out.append("normal gait")
    if target == PhaseId.RUNNING:
        msg = _lsi_ok("quadriceps LSI", c.quad_lsi, 80.0)
        out += [msg] if msg else []
    if target == PhaseId.RETURN_TO_SPORT:
        for name, value in (("quadriceps LSI", c.quad_lsi), ("hop LSI", c.hop_lsi)):
            msg = _lsi_ok(name, value, 90.0)
            out += [msg] if msg else []
    return out


def acl_phase(weeks_post_op: float, criteria: AclCriteria | None = None) -> Phase:
    """The ACL-reconstruction rehabilitation phase reached, by time AND criteria.

    A phase is entered only when its earliest week is reached and every criterion for it is
    met; otherwise the patient stays in the previous phase and ``unmet_for_next`` lists what
    is missing. See the module docstring for the sources.
    """
    weeks = check_number("Weeks after surgery", weeks_post_op, "a number of weeks")
    c = criteria or AclCriteria()
    if weeks < 0:
        current = _PHASES[0]
    else:
        current = _PHASES[1]
        for d in _PHASES[2:]:
            if _unmet(d.id, weeks, c):
                break
            current = d
    nxt = next((p for p in _PHASES if p.number == current.number + 1), None)
    if current.id == PhaseId.PRE_OP:
        nxt, unmet = _PHASES[1], ["surgery"]
    else:
        unmet = _unmet(nxt.id, weeks, c) if nxt else []
    return Phase(
        current.id,
        current.number,
        current.label,
        current.goals,
        weeks,
        nxt.id if nxt else None,
        tuple(unmet),
    )


# --- plain-language interpretation -----------------------------------------------------


_EXTRA_DECIMALS = 3  # at most this many digits beyond the measure's display precision


def _relation(value: float, bound: float) -> int:
    """-1 below, 0 on (within float noise), +1 above ``bound``."""
    if abs(value - bound) <= _EPS:
        return 0
    return -1 if value < bound else 1


def format_against(
    measure: Measure, value: float, bound: float | None, signed: bool = False
) -> str:
    """``value`` with enough decimals that it reads on the same side of ``bound`` as it is.

    Verdicts are decided on the exact value; at display precision 89.96 % would print as
    "90.0 %" next to "not yet at least 90 %". Extra decimals are added until the printed
    value is on the correct side of the bound (at most three more; past that the value is
    rounded towards its own side, so the printed figure never contradicts the verdict).
    """
    if bound is None:
        return measure.format_value(value, signed)
    side = _relation(value, bound)
    decimals = measure.decimals
    for extra in range(_EXTRA_DECIMALS + 1):
        decimals = measure.decimals + extra
        if _relation(round(value, decimals), bound) == side:
            return measure.format_value(value, signed, decimals=decimals)
    scale = 10.0**decimals
    directed = (math.floor if side < 0 else math.ceil)(value * scale) / scale
    return measure.format_value(directed, signed, decimals=decimals)


def _band_bound(band: Band) -> float | None:
    """The single bound of a one-sided band (``None`` for a two-sided band)."""
    if band.low is not None and band.high is not None:
        return None
    return band.low if band.low is not None else band.high


def format_result(m: Measure, value: float) -> str:
    """A result as printed wherever a band verdict (cut-off, goal) is given for it.

    At display precision unless that would put it on the other side of (or onto) one of the
    measure's band bounds; see :func:`format_against`.
    """
    bounds = [b for b in (_band_bound(band) for band in m.bands) if b is not None]
    nearest = min(bounds, key=lambda b: abs(b - value), default=None)
    return format_against(m, value, nearest)


def is_reference_side(side: Side | None, affected: Side | None) -> bool:
    """True for results of the unaffected side: the comparison, not an outcome.

    Only when one knee is affected; with both knees affected (or no side) every result
    is an outcome.
    """
    return side is not None and affected in (Side.LEFT, Side.RIGHT) and side != affected


def _band_position(band: Band, value: float) -> str:
    """'above'/'below'/'at' relative to a one-sided band's bound, for sentences.

    On the bound itself the band's inclusiveness decides: "at" when the value is inside the
    band, "at, not above," / "at, not below," when it is just outside.
    """
    bound = band.low if band.low is not None else band.high
    assert bound is not None
    if value > bound:
        return "above"
    if value < bound:
        return "below"
    if band.contains(value):
        return "at"
    return "at, not above," if band.low is not None else "at, not below,"


def _band_sentence(m: Measure, band: Band, baseline: float | None, latest: float) -> str:
    inside = band.contains(latest)
    was = None if baseline is None else band.contains(baseline)
    bound_text = band.describe(m.unit)
    if band.kind == "goal":
        if inside:
            prefix = "Now meets" if was is False else "Meets"
            return f"{prefix} the {band.label} ({bound_text})."
        if was:
            return f"No longer meets the {band.label} ({bound_text})."
        return f"Not yet at the {band.label} ({bound_text})."
    bound = band.low if band.low is not None else band.high
    assert bound is not None
    where = f"{_band_position(band, latest)} the {band.label} of {m.format_value(bound)}"
    if band.kind == "normative":
        return f"{where[0].upper()}{where[1:]}."
    if was is None or was == inside:
        prefix = "Still " if (was is not None and inside) else ""
    else:
        prefix = "Now "
    sentence = f"{prefix}{where}."
    return sentence[0].upper() + sentence[1:]


def _bands_text(m: Measure, baseline: float | None, latest: float) -> str:
    return " ".join(_band_sentence(m, b, baseline, latest) for b in m.bands)


def format_change(m: Measure, delta: float) -> str:
    """A signed change, precise enough to show on which side of the MCID it falls."""
    if m.mcid is None:
        return m.format_value(delta, signed=True)
    # improvement and worsening are both judged on |change| >= MCID (classify_change)
    return format_against(m, delta, m.mcid if delta >= 0 else -m.mcid, signed=True)


def interpret(measure: Measure | str, series: Iterable[Point], label: str | None = None) -> str:
    """Plain-language sentences on a measure's progress, for the GUI and the PDF report.

    ``label`` overrides the measure's short name (e.g. ``"Knee flexion (left)"``).
    """
    m = measure if isinstance(measure, Measure) else get_measure(measure)
    name = label or m.short_name
    pts = _ordered(series)
    if not pts:
        return f"No {name} results recorded yet."
    first, last = pts[0], pts[-1]
    if len(pts) == 1:
        text = (
            f"{name}: {format_result(m, first.value)} on {format_date(first.when)} "
            "(baseline; no follow-up yet)."
        )
        bands = _bands_text(m, None, first.value)
        return f"{text} {bands}".strip()
    delta = last.value - first.value
    cls = classify_change(m, first.value, last.value)
    since = format_date(first.when)
    if cls == ChangeClass.UNCHANGED:
        text = f"{name} unchanged at {format_result(m, last.value)} since {since}."
    else:
        verb = (
            "improved" if cls in (ChangeClass.IMPROVED, ChangeClass.IMPROVED_MCID) else ("worsened")
        )
        text = (
            f"{name} {verb} from {format_result(m, first.value)} to "
            f"{format_result(m, last.value)} ({format_change(m, delta)}) "
            f"since {since}"
        )
        if m.mcid is None:
            text += "; no minimal clinically important difference is established for it."
        else:
            mcid = m.format_value(m.mcid)
            if cls == ChangeClass.IMPROVED_MCID:
                text += f"; this exceeds the minimal clinically important difference of {mcid}."
            elif cls == ChangeClass.WORSENED_MCID:
                text += (
                    f"; this worsening exceeds the minimal clinically important "
                    f"difference of {mcid}."
                )
            else:
                text += (
                    f"; this is less than the minimal clinically important difference of {mcid}."
                )
    bands = _bands_text(m, first.value, last.value)
    return f"{text} {bands}".strip()


@dataclass(frozen=True)
class MeasureSeries:
    """The results of one measure (and side) for an episode, for :func:`summarize_episode`."""

    measure_id: str
    points: tuple[Point, ...]
    side: Side | None = None
    measure: Measure | None = None  # the clinic's view of it (clinic_measure); None: catalogue

    @property
    def shown(self) -> Measure:
        """The measure whose bands and MCID judge this series."""
        return self.measure or get_measure(self.measure_id)

    @property
    def label(self) -> str:
        m = get_measure(self.measure_id)
        return f"{m.short_name} ({self.side.value})" if self.side else m.short_name


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class EpisodeFindings:
    """What an episode's results say, grouped for the report's summary and headlines.

    Results of the unaffected side are the reference for the affected one, not outcomes:
    they are listed only in ``reference``, never as improved, worsened, flagged or met.
    """

    first: date | None
    last: date | None
    improved_mcid: tuple[str, ...] = ()
    improved: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    worsened: tuple[str, ...] = ()  # all worsened, by the MCID or less
    worsened_mcid: tuple[str, ...] = ()  # worsened by at least the MCID
    single: tuple[str, ...] = ()
    met: tuple[str, ...] = ()  # "Quad LSI (return-to-sport criterion)"
    flags: tuple[str, ...] = ()  # "TUG above the fall-risk cut-off"
    not_met: tuple[str, ...] = ()  # "Quad LSI 89.96 % (return-to-sport criterion: at least 90 %)"
    reference: tuple[str, ...] = ()  # labels of unaffected-side series


def episode_findings(
    series: Iterable[MeasureSeries], affected: Side | None = None
) -> EpisodeFindings:
    """Classify every series of an episode (see :class:`EpisodeFindings`)."""
    out: dict[str, list[str]] = {
        k: [] for k in ("improved_mcid", "improved", "unchanged", "worsened", "worsened_mcid",
                        "single", "met", "flags", "not_met", "reference")
    }
    dates: list[date] = []
    for s in series:
        m = s.shown
        pts = _ordered(s.points)
        if not pts:
            continue
        dates += [pts[0].when, pts[-1].when]
        if is_reference_side(s.side, affected):
            out["reference"].append(s.label)
            continue
        latest = pts[-1].value
        for b in m.bands:
            if b.kind == "cutoff" and b.contains(latest):
                out["flags"].append(f"{s.label} {_band_position(b, latest)} the {b.label}")
            elif b.kind == "goal" and b.contains(latest):
                out["met"].append(f"{s.label} ({b.label})")
            elif b.kind == "goal":
                out["not_met"].append(
                    f"{s.label} {format_result(m, latest)} ({b.label}: {b.describe(m.unit)})"
                )
        if len(pts) == 1:
            out["single"].append(s.label)
            continue
        key = {
            ChangeClass.IMPROVED_MCID: "improved_mcid",
            ChangeClass.IMPROVED: "improved",
            ChangeClass.UNCHANGED: "unchanged",
            ChangeClass.WORSENED: "worsened",
            ChangeClass.WORSENED_MCID: "worsened_mcid",
        }[classify_change(m, pts[0].value, latest)]
        out[key].append(s.label)
        if key == "worsened_mcid":
            out["worsened"].append(s.label)
    return EpisodeFindings(
        min(dates, default=None), max(dates, default=None),
        **{k: tuple(v) for k, v in out.items()},
    )


def summarize_episode(
    series: Iterable[MeasureSeries],
    surgery_date: date | None = None,
    on_date: date | None = None,
    affected: Side | None = None,
) -> str:
    """A short paragraph summarising progress across measures, for the report summary.

    With ``affected`` set to one knee, results of the other knee are named as the reference
    side only (see :class:`EpisodeFindings`).
    """
    f = episode_findings(series, affected)
    if f.first is None or f.last is None:
        return "No test results recorded in this period."
    parts = [f"Results from {format_date(f.first)} to {format_date(f.last)}"]
    if surgery_date is not None:
        weeks = weeks_since(surgery_date, on_date or f.last)
        parts[0] += f" ({weeks:.0f} weeks after surgery)"
    parts[0] += "."
    phrases = (
        (f.improved_mcid, "Improved by at least the minimal clinically important difference: {}."),
        (f.improved, "Improved, but by less than the MCID or with no MCID established: {}."),
        (f.unchanged, "Unchanged: {}."),
        (f.worsened, "Worsened: {}."),
        (f.single, "Baseline only, no follow-up yet: {}."),
        (f.met, "Criteria met: {}."),
        (f.flags, "Attention: {}."),
    )
    parts += [tpl.format(_join(names)) for names, tpl in phrases if names]
    if f.reference:
        assert affected is not None
        other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
        parts.append(f"The {other.value} (unaffected) knee is the reference for the affected "
                     f"{affected.value} knee: {_join(f.reference)}.")
    return " ".join(parts)


def describe_reference(
    measure: Measure | str,
    series: Iterable[Point],
    label: str,
    affected: Iterable[Point] = (),
) -> str:
    """A neutral sentence on the unaffected side's results, the reference for the other knee.

    No verdict (improved, worsened, criterion met) is given for the reference side; when the
    affected side was measured too, the latest side-to-side difference is stated instead.
    """
    m = measure if isinstance(measure, Measure) else get_measure(measure)
    pts = _ordered(series)
    if not pts:
        return f"No {label} results recorded yet."
    last = pts[-1]
    text = (
        f"{label}, the unaffected reference side: {m.format_value(last.value)} on "
        f"{format_date(last.when)}."
    )
    involved = _ordered(affected)
    if involved:
        diff = abs(involved[-1].value - last.value)
        if round(diff, m.decimals) == 0:
            same = m.format_value(last.value)
            text += f" The affected knee's latest result is the same ({same})."
        else:
            text += (
                f" The affected knee's latest result is {m.format_value(involved[-1].value)}, "
                f"a side-to-side difference of {m.format_value(diff)}."
            )
    return text
