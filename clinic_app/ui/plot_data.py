"""Series extraction for the progress plot: episode chart -> numpy arrays. No Qt, no pyqtgraph.

x values are float64:

* date mode - seconds since 1970-01-01 *on the clinic's wall clock*, shown by a
  ``DateAxisItem(utcOffset=0)``. A test on date ``d`` sits at 00:00 of ``d``; a session sits at
  its local time of day (``performed_at`` is aware UTC and is converted to the local zone), so
  the axis labels never shift with the machine's time zone;
* weeks mode - weeks since the surgery date, ``(x_date - x(surgery)) / 604800``, which for a
  test equals :func:`clinic_app.domain.progress.weeks_since`. There is no fallback to weeks
  since episode start: without a surgery date ``x_weeks`` is ``None``.

Test results and sessions marked "entered in error" are always excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

import numpy as np

from clinic_app.domain.measures import MEASURES, Measure
from clinic_app.domain.records import Side, WalkSession
from clinic_app.services.charting import EpisodeChart

SECONDS_PER_WEEK = 7 * 24 * 3600.0

SeriesKey = Side | str | None
"""``None`` for a single series, a :class:`Side` for sided measures, ``"before"``/``"after"``
for session pain."""


def _session_measure(base: str, **changes: object) -> Measure:
    return replace(MEASURES[base], **changes)  # type: ignore[arg-type]


SESSION_MEASURES: dict[str, Measure] = {
    m.id: m
    for m in (
        _session_measure(
            "backward_speed", id="session_speed", name="Retro-walking speed (sessions)",
            short_name="Session speed",
            source="Speed recorded at each retro-walking session, stored in m/s.",
        ),
        _session_measure(
            "nprs", id="session_pain", name="Pain before / after retro-walking",
            short_name="Session pain", loinc=None,
            source="NPRS 0-10 recorded before and after each retro-walking session.",
        ),
        Measure(
            id="session_duration", name="Retro-walking duration (sessions)",
            short_name="Duration", unit="min", ucum="min", min_value=0.0, max_value=180.0,
            decimals=0, higher_is_better=True, mcid=None,
            mcid_source="Training dose, not an outcome: no MCID.", sided=False, loinc=None,
        ),
        Measure(
            id="session_distance", name="Retro-walking distance (sessions)",
            short_name="Distance", unit="m", ucum="m", min_value=0.0, max_value=10_000.0,
            decimals=0, higher_is_better=True, mcid=None,
            mcid_source="Training dose, not an outcome: no MCID.", sided=False, loinc=None,
        ),
    )
}
"""Retro-walking session parameters charted like measures (ids prefixed ``session_``)."""

_SESSION_FIELDS: dict[str, tuple[tuple[SeriesKey, str, str], ...]] = {
    "session_speed": ((None, "speed_m_s", "Speed"),),
    "session_pain": (("before", "pain_before", "Before session"),
                     ("after", "pain_after", "After session")),
    "session_duration": ((None, "duration_min", "Duration"),),
    "session_distance": ((None, "distance_m", "Distance"),),
}

DEFAULT_MEASURES = ("bwt_3m", "knee_flexion_rom", "quad_lsi", "koos_pain")
"""Shown first when present: backward walking, ROM, strength symmetry and a PROM."""

DEFAULT_SESSION_MEASURES = ("session_speed", "session_pain")
"""Shown when an episode has sessions but no test results yet."""


def measure_for(measure_id: str) -> Measure:
    """Catalogue measure or session pseudo-measure for ``measure_id``."""
    return SESSION_MEASURES.get(measure_id) or MEASURES[measure_id]


@dataclass(frozen=True)
class Series:
    """One line on a plot: one measure (and side / before-after) over time, sorted by x."""

    key: SeriesKey
    label: str
    affected: bool | None  # None when the measure is not sided
    x_date: np.ndarray
    x_weeks: np.ndarray | None
    y: np.ndarray
    with_time: bool  # sessions: read-out shows the time of day

    def x(self, mode: str) -> np.ndarray:
        """x values for ``mode`` ("date" or "weeks")."""
        if mode == "weeks":
            if self.x_weeks is None:
                raise ValueError("no surgery date: weeks since surgery are not defined")
            return self.x_weeks
        return self.x_date


def date_to_x(d: date) -> float:
    """Seconds of 00:00 on ``d`` (wall clock, see module docstring)."""
    return datetime.combine(d, time(0), UTC).timestamp()


def session_to_x(when: datetime) -> float:
    """Seconds of an aware instant at its local wall-clock time."""
    local = when.astimezone() if when.tzinfo is not None else when
    return local.replace(tzinfo=UTC).timestamp()


def x_to_datetime(x: float) -> datetime:
    """Inverse of :func:`date_to_x` / :func:`session_to_x` (naive wall-clock datetime)."""
    return datetime.fromtimestamp(float(x), UTC).replace(tzinfo=None)


def surgery_x(chart: EpisodeChart) -> float | None:
    """Date-mode x of the surgery date, ``None`` without one."""
    d = chart.episode.draft.surgery_date
    return None if d is None else date_to_x(d)


def available_measures(chart: EpisodeChart) -> list[str]:
    """Measures with at least one valid result (catalogue order), then session parameters."""
    present = {t.draft.measure_id for t in chart.tests if not t.stamp.entered_in_error}
    out = [mid for mid in MEASURES if mid in present]
    sessions = _valid_sessions(chart)
    for mid, fields in _SESSION_FIELDS.items():
        if any(getattr(s.draft, attr) is not None for s in sessions for _, attr, _ in fields):
            out.append(mid)
    return out


def default_selection(available: list[str]) -> list[str]:
    """The preferred measures that are present, else session speed/pain, else the first four."""
    chosen = [m for m in DEFAULT_MEASURES if m in available]
    if not chosen:
        chosen = [m for m in DEFAULT_SESSION_MEASURES if m in available]
    return chosen or available[:4]


def _valid_sessions(chart: EpisodeChart) -> list[WalkSession]:
    return [s for s in chart.sessions if not s.stamp.entered_in_error]


def _make(
    key: SeriesKey, label: str, affected: bool | None, xs: list[float], ys: list[float],
    surgery: float | None, with_time: bool,
) -> Series:
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    weeks = None if surgery is None else (x - surgery) / SECONDS_PER_WEEK
    return Series(key, label, affected, x, weeks, y, with_time)


def _side_affected(side: Side, affected_side: Side) -> bool:
    return affected_side == Side.BILATERAL or side == affected_side


def build_series(chart: EpisodeChart, measure_id: str) -> list[Series]:
    """The series of ``measure_id`` in ``chart``; affected side first for sided measures."""
    surgery = surgery_x(chart)
    if measure_id in SESSION_MEASURES:
        return _session_series(chart, measure_id, surgery)
    measure = MEASURES[measure_id]
    tests = [
        t for t in chart.tests
        if t.draft.measure_id == measure_id and not t.stamp.entered_in_error
    ]
    if not measure.sided:
        return [_make(None, measure.short_name, None,
                      [date_to_x(t.draft.performed_on) for t in tests],
                      [t.value for t in tests], surgery, False)] if tests else []
    affected_side = chart.episode.draft.affected_side
    out = []
    for side in (Side.LEFT, Side.RIGHT, Side.BILATERAL):
        own = [t for t in tests if t.draft.side == side]
        if not own:
            continue
        hurt = _side_affected(side, affected_side)
        label = f"{side.value.capitalize()} ({'affected' if hurt else 'unaffected'})"
        out.append(_make(side, label, hurt, [date_to_x(t.draft.performed_on) for t in own],
                         [t.value for t in own], surgery, False))
    unsided = [t for t in tests if t.draft.side is None]
    if unsided:
        out.append(_make(None, "Side not recorded", None,
                         [date_to_x(t.draft.performed_on) for t in unsided],
                         [t.value for t in unsided], surgery, False))
    out.sort(key=lambda s: (s.affected is not True, s.label))
    return out


def _session_series(chart: EpisodeChart, measure_id: str, surgery: float | None) -> list[Series]:
    sessions = _valid_sessions(chart)
    out = []
    for key, attr, label in _SESSION_FIELDS[measure_id]:
        rows = [(session_to_x(s.draft.performed_at), float(v))
                for s in sessions if (v := getattr(s.draft, attr)) is not None]
        if rows:
            out.append(_make(key, label, None, [r[0] for r in rows], [r[1] for r in rows],
                             surgery, True))
    return out
