"""What the conflict review shows for a plan of care: the prescription as flat fields and a
goal's fields, each with its label and how a value is written in the dialog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clinic_app.domain.measures import MEASURES
from clinic_app.domain.plan_of_care import KMH_PER_MS, PrescriptionDraft


@dataclass(frozen=True)
class RxFields:
    """A prescription as the form shows it (speed in km/h), so the three-way comparison and
    the merge work field by field rather than on the nested dose."""

    duration_min: float
    speed_kmh: float | None
    incline_pct: float
    mode: str
    surface: str
    assistance: str
    spotter: bool
    dual_task: str
    sessions_per_week: int


def rx_fields(p: PrescriptionDraft) -> RxFields:
    """The form's view of a stored or typed prescription."""
    d = p.dose
    return RxFields(d.duration_min,
                    None if d.speed_m_s is None else round(d.speed_m_s * KMH_PER_MS, 2),
                    d.incline_pct, d.mode.value, d.surface.value, d.assistance.value,
                    d.spotter, d.dual_task, p.sessions_per_week)


RX_LABELS = {"duration_min": "Duration (min)", "speed_kmh": "Speed (km/h)",
             "incline_pct": "Incline (%)", "mode": "Mode", "surface": "Surface",
             "assistance": "Assistance", "spotter": "Spotter", "dual_task": "Dual task",
             "sessions_per_week": "Sessions per week"}

GOAL_LABELS = {"measure_id": "Measure", "target_value": "Target value",
               "target_date": "Target date", "text": "Goal in words",
               "achieved_on": "Date achieved"}


def _blank(value: object) -> bool:
    return value is None or value == ""


def show_rx_value(attr: str, value: object) -> str:
    """One prescription field as the conflict dialog writes it."""
    if _blank(value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


def show_goal_value(attr: str, value: object) -> str:
    """One goal field as the conflict dialog writes it (the measure by its name)."""
    if _blank(value):
        return "— (goal in words)" if attr == "measure_id" else "—"
    if attr == "measure_id":
        m = MEASURES.get(str(value))
        return m.name if m else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
