"""What the progress report says, as plain strings: no reportlab here.

Every judgement (change class, MCID reached, plain-language sentences, weeks after surgery)
comes from :mod:`clinic_app.domain.progress`; this module only selects and formats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from clinic_app.domain.measures import MEASURES, Measure, clinic_measure, get_measure
from clinic_app.domain.progress import (
    ChangeClass,
    MeasureSeries,
    Point,
    classify_change,
    describe_reference,
    episode_findings,
    format_change,
    format_date,
    format_result,
    interpret,
    is_reference_side,
    mcid_reached,
    summarize_episode,
    weeks_since,
)
from clinic_app.domain.records import Diagnosis, EpisodeDraft, Side, TestResult, WalkSession
from clinic_app.domain.scoring import koos4_by_day

DASH = "–"
_ORDER = {mid: i for i, mid in enumerate(MEASURES)}
_SIDE_ORDER = {None: 0, Side.LEFT: 1, Side.RIGHT: 2, Side.BILATERAL: 3}

# Measures drawn as charts, in this order; ("koos", ...) draws the subscales on one chart.
CHART_GROUPS: tuple[tuple[str, ...], ...] = (
    ("bwt_3m",), ("backward_speed",), ("tug",), ("walk_10m",), ("walk_6min",),
    ("knee_flexion_rom",), ("knee_extension_rom",), ("quad_lsi",), ("hop_lsi",), ("nprs",),
    ("lefs",), ("koos_pain", "koos_symptoms", "koos_adl", "koos_sport_rec", "koos_qol"),
)


def fmt_date(d: date | None) -> str:
    return format_date(d) if d is not None else DASH


def fmt_datetime(dt: datetime) -> str:
    """Local date and time, e.g. ``5 Mar 2026 14:05``."""
    local = dt.astimezone()
    return f"{format_date(local.date())} {local:%H:%M}"


def fmt_num(value: float | None, decimals: int = 0) -> str:
    return DASH if value is None else f"{value:.{decimals}f}"


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def period_text(
    start: date | None, end: date | None, span: tuple[date, date] | None = None
) -> str:
    """The requested period; open ends are described, with the recorded span if known."""
    if start is not None and end is not None:
        return f"{fmt_date(start)} to {fmt_date(end)}"
    if start is None and end is None:
        text = "All records"
    elif start is None:
        text = f"All records up to {fmt_date(end)}"
    else:
        text = f"From {fmt_date(start)} onwards"
    if span is not None:
        text += f" ({fmt_date(span[0])} – {fmt_date(span[1])})"
    return text


@dataclass(frozen=True)
class SessionRow:
    date: str
    mode: str
    speed_kmh: str
    duration_min: str
    distance_m: str
    incline_pct: str
    assistance: str
    pain: str
    rpe: str


def session_row(s: WalkSession) -> SessionRow:
    d = s.draft
    if d.pain_before is None and d.pain_after is None:
        pain = DASH
    else:
        pain = f"{fmt_num(d.pain_before)} → {fmt_num(d.pain_after)}"
    return SessionRow(
        date=format_date(d.performed_at.astimezone().date()),
        mode=d.mode.value.capitalize(),
        speed_kmh=fmt_num(None if d.speed_m_s is None else d.speed_m_s * 3.6, 1),
        duration_min=fmt_num(d.duration_min),
        distance_m=fmt_num(d.distance_m),
        incline_pct=fmt_num(d.incline_pct, 1 if d.incline_pct and d.incline_pct % 1 else 0),
        assistance=d.assistance.value.capitalize(),
        pain=pain,
        rpe=DASH if d.rpe is None else f"{d.rpe:g}",
    )


def adverse_events(sessions: Iterable[WalkSession]) -> list[tuple[str, str]]:
    """(date, text) of every session that recorded an adverse event."""
    return [
        (format_date(s.draft.performed_at.astimezone().date()), s.draft.adverse_events.strip())
        for s in sessions if s.draft.adverse_events.strip()
    ]


def measure_series(tests: Iterable[TestResult], bwt_fall_flag: bool = True) -> list[MeasureSeries]:
    """Results grouped per measure and side, in catalogue order, points oldest first.

    ``bwt_fall_flag`` is the clinic's choice (Settings › Clinical): off, the 3MBWT series
    carry no fall-risk bands.
    """
    groups: dict[tuple[str, Side | None], list[Point]] = defaultdict(list)
    for t in tests:
        groups[(t.draft.measure_id, t.draft.side)].append(Point(t.draft.performed_on, t.value))
    keys = sorted(groups, key=lambda k: (_ORDER.get(k[0], len(_ORDER)), _SIDE_ORDER[k[1]]))
    return [
        MeasureSeries(mid, tuple(sorted(groups[(mid, side)], key=lambda p: p.when)), side,
                      None if bwt_fall_flag else clinic_measure(mid, bwt_fall_flag))
        for mid, side in keys
    ]


@dataclass(frozen=True)
class ResultRow:
    """One line of the standardized-tests table."""

    measure: str
    side: str
    baseline: str
    baseline_date: str
    latest: str
    latest_date: str
    change: str
    direction: str  # "better" / "worse" / "no change" / ""
    mcid: str
    mcid_reached: str  # "yes" / "no" / "n.a."
    reading: str = ""  # the scale and which way is better, e.g. "lower is better"


_DIRECTION = {
    ChangeClass.IMPROVED_MCID: "better",
    ChangeClass.IMPROVED: "better",
    ChangeClass.UNCHANGED: "no change",
    ChangeClass.WORSENED: "worse",
    ChangeClass.WORSENED_MCID: "worse",
}


def result_row(s: MeasureSeries, affected: Side | None = None) -> ResultRow:
    m = s.shown
    first, last = s.points[0], s.points[-1]
    side = "" if s.side is None else s.side.value.capitalize()
    reference = is_reference_side(s.side, affected)
    if s.side is not None and affected in (s.side, Side.BILATERAL):
        side += " (affected)"
    elif reference:
        side += " (reference)"
    mcid = m.format_value(m.mcid) if m.mcid is not None else "none published"
    if len(s.points) < 2:
        return ResultRow(m.name, side, format_result(m, first.value), format_date(first.when),
                         DASH, "no follow-up", DASH, "", mcid, "n.a.", m.reading)
    reached = mcid_reached(m, first.value, last.value)
    if reference:  # the unaffected knee is the comparison: no better/worse verdict
        return ResultRow(m.name, side, m.format_value(first.value), format_date(first.when),
                         m.format_value(last.value), format_date(last.when),
                         m.format_value(last.value - first.value, signed=True), "", mcid,
                         "n.a.", m.reading)
    return ResultRow(
        measure=m.name,
        side=side,
        baseline=format_result(m, first.value),
        baseline_date=format_date(first.when),
        latest=format_result(m, last.value),
        latest_date=format_date(last.when),
        change=format_change(m, last.value - first.value),
        direction=_DIRECTION[classify_change(m, first.value, last.value)],
        mcid=mcid,
        mcid_reached="n.a." if reached is None else ("yes" if reached else "no"),
        reading=m.reading,
    )



def summary_paragraph(
    series: Sequence[MeasureSeries], surgery_date: date | None, affected: Side | None = None
) -> str:
    """The domain's episode summary (:func:`clinic_app.domain.progress.summarize_episode`)."""
    return summarize_episode(series, surgery_date, affected=affected)


def interpretations(series: Sequence[MeasureSeries], affected: Side | None = None) -> list[str]:
    """One plain-language sentence per measure and side, from the domain's ``interpret``.

    The unaffected knee gets a neutral reference sentence (with the side-to-side difference)
    instead of a verdict.
    """
    out = []
    for s in series:
        if is_reference_side(s.side, affected):
            involved = next((o.points for o in series
                             if o.measure_id == s.measure_id and o.side == affected), ())
            out.append(describe_reference(s.measure_id, s.points, s.label, involved))
        else:
            out.append(interpret(s.shown, s.points, s.label))
    return out


def koos4_sentence(series: Sequence[MeasureSeries]) -> str | None:
    """The KOOS4 (mean of Pain, Symptoms, Sport/Rec and QoL) on the first and the latest day
    all four were scored, or ``None`` when no day has all four."""
    days = koos4_by_day((s.measure_id, p.when, p.value) for s in series for p in s.points)
    if not days:
        return None
    pts = get_measure("koos_pain")  # the subscales' unit and precision
    (d0, v0), (d1, v1) = days[0], days[-1]
    text = (f"KOOS4 (mean of Pain, Symptoms, Sport/Rec and QoL; Frobell et al. 2010; "
            f"{pts.reading}): {pts.format_value(v0)} on {format_date(d0)}")
    if d1 != d0:
        text += (f", {pts.format_value(v1)} on {format_date(d1)} "
                 f"({pts.format_value(v1 - v0, signed=True)})")
    return text + "."


@dataclass(frozen=True)
class Headline:
    """One line of the report's opening summary: a bold lead and its text."""

    lead: str
    text: str


def headlines(episode: EpisodeDraft, series: Sequence[MeasureSeries], on: date) -> list[Headline]:
    """At most five lines that open page 1: diagnosis, weeks since surgery, what improved
    beyond the MCID, what needs attention and which criteria are met.

    Every verdict comes from :func:`clinic_app.domain.progress.episode_findings`, so the
    unaffected knee (the reference) never appears as a result.
    """
    f = episode_findings(series, episode.affected_side)
    side = ("both knees" if episode.affected_side == Side.BILATERAL
            else f"{episode.affected_side.value} knee")
    lines = [Headline("Diagnosis", f"{episode.diagnosis.label}, {side}")]
    if episode.surgery_date is None:
        weeks = max(0.0, weeks_since(episode.start_date, on))
        lines.append(Headline("Weeks since surgery",
                              f"no surgery recorded; in care since {fmt_date(episode.start_date)}"
                              f" ({weeks:.0f} weeks)"))
    else:
        weeks = weeks_since(episode.surgery_date, on)
        text = (f"surgery planned for {fmt_date(episode.surgery_date)}" if weeks < 0 else
                f"{weeks:.0f} (surgery {fmt_date(episode.surgery_date)}, as of {fmt_date(on)})")
        lines.append(Headline("Weeks since surgery", text))
    if f.first is None:
        lines.append(Headline("Results", "no standardized tests recorded in this period"))
        return lines
    if f.improved_mcid:
        lines.append(Headline("Improved beyond the MCID", _list(f.improved_mcid)))
    elif f.improved:
        lines.append(Headline("Improved beyond the MCID",
                              f"none yet (improved by less: {_list(f.improved)})"))
    else:
        lines.append(Headline("Improved beyond the MCID", "none yet"))
    attention = [*f.flags]
    if f.worsened:
        attention.append(f"worsened: {_list(f.worsened)}")
    if f.not_met:
        attention.append(f"not yet met: {', '.join(f.not_met)}")
    lines.append(Headline("Needs attention", "; ".join(attention) if attention
                          else "nothing flagged"))
    if f.met:
        text = _list(f.met)
        early = episode.surgery_date is not None and weeks_since(episode.surgery_date, on) < 39
        if (episode.diagnosis == Diagnosis.ACL_RECONSTRUCTION and early
                and any("return-to-sport" in m for m in f.met)):
            # one criterion met is not clearance: Grindem et al. 2016 also require 9 months
            text += "; return to sport not before 9 months after surgery"
        lines.append(Headline("Criteria met", text))
    return lines[:5]


def _list(names: Sequence[str]) -> str:
    return ", ".join(names)


def weeks_post_op_text(surgery: date | None, on: date) -> str:
    if surgery is None:
        return DASH
    weeks = weeks_since(surgery, on)
    if weeks < 0:
        return f"{fmt_date(surgery)} (planned)"
    return f"{fmt_date(surgery)} ({weeks:.0f} weeks post-op on {fmt_date(on)})"


@dataclass(frozen=True)
class ChartLine:
    label: str
    points: tuple[Point, ...]
    primary: bool


@dataclass(frozen=True)
class ChartSpec:
    """One small chart: the measure (scale, bands, direction) and its lines."""

    title: str
    measure: Measure
    lines: tuple[ChartLine, ...]


def chart_specs(series: Sequence[MeasureSeries], affected: Side | None) -> list[ChartSpec]:
    """Charts for the key measures that have at least two results in the period."""
    by_id: dict[str, list[MeasureSeries]] = defaultdict(list)
    for s in series:
        by_id[s.measure_id].append(s)
    specs: list[ChartSpec] = []
    for group in CHART_GROUPS:
        members = [s for mid in group for s in by_id.get(mid, []) if len(s.points) >= 2]
        if not members:
            continue
        m = members[0].shown if members[0].measure_id == group[0] else get_measure(group[0])
        lines = []
        for s in members:
            if len(group) > 1:
                label = get_measure(s.measure_id).short_name.removeprefix("KOOS ")
            elif s.side is not None:
                label = s.side.value.capitalize()
                if affected in (s.side, Side.BILATERAL):
                    label += " (affected)"
                elif is_reference_side(s.side, affected):
                    label += " (reference)"
            else:
                label = m.short_name
            if len(group) > 1:
                primary = False  # several subscales: no baseline line, it would clutter
            elif len(members) == 1:
                primary = True
            else:
                primary = s.side is not None and affected in (s.side, Side.BILATERAL)
            lines.append(ChartLine(label, s.points, primary))
        title = "KOOS subscales" if len(group) > 1 else m.short_name
        specs.append(ChartSpec(title, m, tuple(lines)))
    return specs
