"""The plan of care in the CSV export and import: three files beside the four chart files.

* ``goals.csv`` - one row per goal: a measure with target value (in the measure's unit,
  named in ``unit``) and target date, or a goal in words (``text``); ``achieved`` /
  ``achieved_on`` for a goal in words the therapist ticked.
* ``prescriptions.csv`` - the retro-walking prescription of an episode: mode, surface,
  duration (min), speed (m/s, blank = comfortable pace), incline (%), assistance, spotter,
  dual task, sessions per week, notes.
* ``session_safety.csv`` - what a session recorded with the plan: the safety checklist
  (``path_clear``, ``surface_checked``, ``spotter_present``: true, false or blank = not
  checked), ``home`` for a session the patient did at home and reported, and the suggested
  dose with ``overridden`` / ``override_reason`` when the therapist chose another one.

Same conventions as the chart files (``clinic_app.interop.csv_io``): UTF-8 with a BOM,
comma separated (``;`` with decimal commas accepted on import), ISO dates, exact numbers,
formula-like text quoted with an apostrophe, rows entered in error exported with their
reason and status, never left out. Goals and prescriptions name their episode by
``episode_id``, or ``mrn`` + ``episode_start``; a checklist row names its ``session_id``.
Import checks every row with the domain's validators and reports each problem with its
file, row and column; nothing is stored unless every row of every file is right.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.imports import (
    PLAN_KINDS,
    GoalIn,
    ImportProblem,
    PrescriptionIn,
    SafetyIn,
)
from clinic_app.domain.measures import MEASURES
from clinic_app.domain.plan_of_care import (
    KMH_PER_MS,
    Dose,
    EpisodePlanRecords,
    GoalDraft,
    PrescriptionDraft,
    SafetyDraft,
    validate_goal,
    validate_prescription,
    validate_safety,
)
from clinic_app.domain.records import Assistance, Side, Surface, WalkMode
from clinic_app.interop.csv_io import ENCODING, _Cells, _Table

GOAL_COLUMNS = (
    "goal_id", "episode_id", "mrn", "episode_start", "measure_id", "side", "target_value",
    "unit", "target_date", "text", "achieved", "achieved_on", "entered_in_error",
    "error_reason",
)
PRESCRIPTION_COLUMNS = (
    "prescription_id", "episode_id", "mrn", "episode_start", "mode", "surface",
    "duration_min", "speed_m_s", "incline_pct", "assistance", "spotter", "dual_task",
    "sessions_per_week", "notes", "entered_in_error", "error_reason",
)
SAFETY_COLUMNS = (
    "checklist_id", "session_id", "home", "path_clear", "surface_checked", "spotter_present",
    "suggestion", "overridden", "override_reason", "entered_in_error", "error_reason",
)
PLAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "goals": GOAL_COLUMNS, "prescriptions": PRESCRIPTION_COLUMNS,
    "session_safety": SAFETY_COLUMNS,
}
"""File kind -> columns, in export order."""
assert tuple(PLAN_COLUMNS) == PLAN_KINDS

PLAN_REQUIRED: dict[str, tuple[str, ...]] = {
    "goals": (), "prescriptions": ("duration_min",), "session_safety": ("session_id",),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT = frozenset({"text", "dual_task", "notes", "suggestion", "override_reason",
                   "error_reason"})
_GOAL_FIELDS = {"Goal": "text", "Target": "target_value", "Target date": "target_date",
                "Achieved": "achieved", "Date achieved": "achieved_on"}
_RX_FIELDS = {"Duration": "duration_min", "Speed": "speed_m_s", "Incline": "incline_pct",
              "Sessions per week": "sessions_per_week", "Dual task": "dual_task"}
_SAFETY_FIELDS = {"Override reason": "override_reason", "Suggestion": "suggestion"}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


# --- export ----------------------------------------------------------------------------


def _cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    text = str(value.value if hasattr(value, "value") else value)
    if column in _TEXT and text.startswith(_FORMULA_START):
        return "'" + text
    return text


PlanEpisode = tuple[object, str, object, EpisodePlanRecords]
"""An episode's plan of care as the export writes it: ``(episode id, MRN, episode start,
records)``; the id and the start may be the text the CSV holds or a UUID and a date."""


def plan_rows(episodes: Iterable[PlanEpisode]) -> dict[str, list[dict[str, object]]]:
    """The three plan-of-care tables of ``episodes`` as ``{column: value}`` rows."""
    tables: dict[str, list[dict[str, object]]] = {k: [] for k in PLAN_COLUMNS}
    for episode_id, mrn, start, plan in episodes:
        link = {"episode_id": episode_id, "mrn": mrn, "episode_start": start}
        for g in plan.goals:
            d = g.draft
            m = MEASURES.get(d.measure_id) if d.measure_id else None
            tables["goals"].append({
                "goal_id": g.id, **link, "measure_id": d.measure_id, "side": d.side,
                "target_value": d.target_value, "unit": m.unit if m else None,
                "target_date": d.target_date, "text": d.text, "achieved": d.achieved,
                "achieved_on": d.achieved_on,
                "entered_in_error": g.stamp.entered_in_error,
                "error_reason": g.stamp.error_reason})
        for p in plan.prescriptions:
            dose = p.draft.dose
            tables["prescriptions"].append({
                "prescription_id": p.id, **link, "mode": dose.mode,
                "surface": dose.surface, "duration_min": dose.duration_min,
                "speed_m_s": dose.speed_m_s, "incline_pct": dose.incline_pct,
                "assistance": dose.assistance, "spotter": dose.spotter,
                "dual_task": dose.dual_task,
                "sessions_per_week": p.draft.sessions_per_week, "notes": p.draft.notes,
                "entered_in_error": p.stamp.entered_in_error,
                "error_reason": p.stamp.error_reason})
        for k in plan.safety:
            s = k.draft
            tables["session_safety"].append({
                "checklist_id": k.id, "session_id": k.session_id, "home": s.home,
                "path_clear": s.path_clear, "surface_checked": s.surface_checked,
                "spotter_present": s.spotter_present, "suggestion": s.suggestion,
                "overridden": s.overridden, "override_reason": s.override_reason,
                "entered_in_error": k.stamp.entered_in_error,
                "error_reason": k.stamp.error_reason})
    return tables


class PlanCsvWriter:
    """Writes ``goals.csv``, ``prescriptions.csv`` and ``session_safety.csv`` into a folder,
    one page of episodes at a time (used beside the chart files' own page writer)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._stack = ExitStack()
        self._writers: dict[str, Any] = {}
        self.rows = 0

    def __enter__(self) -> PlanCsvWriter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for kind, columns in PLAN_COLUMNS.items():
            fh = self._stack.enter_context(
                open(self.out_dir / f"{kind}.csv", "w", encoding=ENCODING, newline=""))
            self._writers[kind] = csv.writer(fh)
            self._writers[kind].writerow(columns)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    def write(self, episodes: Iterable[PlanEpisode]) -> None:
        """Append the plan-of-care rows of one page of episodes, in the order given."""
        for kind, rows in plan_rows(episodes).items():
            columns = PLAN_COLUMNS[kind]
            self._writers[kind].writerows([_cell(c, row.get(c)) for c in columns]
                                          for row in rows)
            self.rows += len(rows)


# --- import ----------------------------------------------------------------------------


class _PlanTable(_Table):
    """A plan-of-care file: the chart files' reader with this file's columns."""

    def _check_header(self) -> bool:
        assert self.kind in PLAN_COLUMNS
        allowed = PLAN_COLUMNS[self.kind]
        ok = True
        seen: set[str] = set()
        for c in self.header:
            if c in seen:
                self.bad(1, c, "column appears twice")
                ok = False
            seen.add(c)
            if c not in allowed:
                self.bad(1, c or "(blank)", f"unknown column for {self.kind}.csv "
                         f"(allowed: {', '.join(allowed)})")
                ok = False
        for c in PLAN_REQUIRED[self.kind]:
            if c not in seen:
                self.bad(1, c, f"required column is missing from {self.kind}.csv")
                ok = False
        if self.kind != "session_safety" and "episode_id" not in seen and not (
                {"mrn", "episode_start"} <= seen):
            self.bad(1, "episode_id", "the file needs an episode_id column, or both mrn and "
                     "episode_start columns, to say which episode each row belongs to")
            ok = False
        return ok


def _checked(c: _Cells, column: str) -> bool | None:
    """A checklist tick: true, false, or blank for "not checked"."""
    value = c.raw(column).lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    c.bad(column, f"{value!r} is not true or false (allowed: true, false, blank = not "
          "checked)")
    return None


def _validated(c: _Cells, check: Callable[[], object], columns: dict[str, str],
               fallback: str) -> None:
    try:
        check()
    except ValidationError as exc:
        c.bad(columns.get(exc.field, fallback), str(exc))


def _goal(c: _Cells, today: date) -> GoalIn:
    link = c.link()
    measure_id = c.raw("measure_id").lower() or None
    measure = MEASURES.get(measure_id) if measure_id else None
    if measure_id and measure is None:
        c.bad("measure_id", f"{measure_id!r} is not a measure of the catalogue (allowed: "
              "a measure id such as lefs or tug, or blank for a goal in words)")
    target = c.number("target_value", measure.allowed if measure else "a number")
    unit = c.raw("unit")
    if unit and measure is not None and unit not in (measure.unit, measure.ucum):
        c.bad("unit", f"{unit!r} is not the unit of {measure.name} "
              f"(allowed: {measure.unit or measure.ucum} or blank)")
    side = c.choice("side", Side)
    if side is not None and not isinstance(side, Side):
        c.bad("side", f"{side!r} is not a side (allowed: "
              f"{', '.join(s.value for s in Side)}, or blank)")
    draft = GoalDraft(measure_id, target, c.day("target_date"), c.text("text"),
                      side if isinstance(side, Side) else None, c.flag("achieved"),
                      c.day("achieved_on"))
    flagged, reason = c.error_state()
    if not c.failed:
        _validated(c, lambda: validate_goal(draft, link.episode_start, today), _GOAL_FIELDS,
                   "measure_id")
    return GoalIn(c.table.name, c.row, c.raw("goal_id"), link,
                  None if c.failed else draft, flagged, reason)


def _choice(c: _Cells, column: str, kind: type, default: Any) -> Any:
    value = c.choice(column, kind, default)
    if not isinstance(value, kind):
        c.bad(column, f"{value!r} is not allowed (allowed: "
              f"{', '.join(m.value for m in kind)})")  # type: ignore[attr-defined]
        return default
    return value


def _prescription(c: _Cells) -> PrescriptionIn:
    link = c.link()
    duration = c.number("duration_min", "1 to 120 min")
    if duration is None and "duration_min" not in c.bad_columns:
        c.bad("duration_min", "is required (allowed: 1 to 120 min)")
    speed = c.number("speed_m_s", f"{0.1 / KMH_PER_MS:.3f} to 3 m/s, or blank")
    per_week = c.whole("sessions_per_week", "1 to 14, whole numbers")
    spotter = c.raw("spotter")
    dose = Dose(duration or 0.0, speed, c.number("incline_pct", "0 to 15 %") or 0.0,
                _choice(c, "mode", WalkMode, WalkMode.OVERGROUND),
                _choice(c, "surface", Surface, Surface.FLAT),
                _choice(c, "assistance", Assistance, Assistance.SUPERVISED),
                c.flag("spotter") if spotter else True, c.text("dual_task").strip())
    draft = PrescriptionDraft(dose, 3 if per_week is None else per_week,
                              c.text("notes").strip())
    flagged, reason = c.error_state()
    if not c.failed:
        _validated(c, lambda: validate_prescription(draft), _RX_FIELDS, "duration_min")
    return PrescriptionIn(c.table.name, c.row, c.raw("prescription_id"), link,
                          None if c.failed else draft, flagged, reason)


def _safety(c: _Cells) -> SafetyIn:
    session_ref = c.required("session_id")
    draft = SafetyDraft(c.flag("home"), _checked(c, "path_clear"),
                        _checked(c, "surface_checked"), _checked(c, "spotter_present"),
                        c.text("suggestion"), c.flag("overridden"),
                        c.text("override_reason"))
    flagged, reason = c.error_state()
    if not c.failed:
        try:
            draft = validate_safety(draft)
        except ValidationError as exc:
            c.bad(_SAFETY_FIELDS.get(exc.field, "override_reason"), str(exc))
    return SafetyIn(c.table.name, c.row, c.raw("checklist_id"), session_ref,
                    None if c.failed else draft, flagged, reason)


def open_table(path: Path, kind: str, problems: list[ImportProblem]) -> _Table:
    """The plan-of-care file ``path`` of ``kind`` (one of ``PLAN_KINDS``), header checked;
    problems join ``problems``."""
    return _PlanTable(path, kind, problems)


def row_reader(kind: str, table: _Table, today: date) -> Callable[[int, list[str]], Any]:
    """``read(row number, values)``: one record of ``table`` read and checked (no database)
    into a ``GoalIn``, ``PrescriptionIn`` or ``SafetyIn``."""
    if kind == "goals":
        return lambda n, v: _goal(table.cells(n, v), today)
    if kind == "prescriptions":
        return lambda n, v: _prescription(table.cells(n, v))
    return lambda n, v: _safety(table.cells(n, v))
