"""Clinic-wide cohorts: which episodes a cohort holds, and the recovery curve it yields.

A cohort curve gives, per whole week since surgery (or since the episode started), the
median and the quartiles of one measure over the episodes measured that week, and how many
episodes that is. Each episode counts once per week (the mean of its results that week), so
a patient tested twice in a week does not weigh double.

Quantiles use linear interpolation between the ordered values: for ``n`` values ``x1 <= ...
<= xn`` and a fraction ``p`` the position is ``h = (n - 1) p`` (0-based) and the quantile
``x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])``. It is PostgreSQL's
``percentile_cont`` and Hyndman & Fan's definition 7 (Python's
``statistics.quantiles(method="inclusive")``), so both databases give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.records import SurgeryType

#: Below this many patients a curve is not shown as "the usual recovery": a median of a
#: handful of people moves with every single patient.
MIN_COHORT_PATIENTS = 10

#: Curves stop two years after surgery; later results are follow-up, not recovery.
MAX_WEEKS = 104


class WeekBasis(StrEnum):
    """What week 0 of a curve is."""

    SURGERY = "surgery"
    EPISODE_START = "start"

    @property
    def label(self) -> str:
        return "weeks since surgery" if self is WeekBasis.SURGERY else \
            "weeks since episode start"


class SurgeryFilter(StrEnum):
    """Whether the episodes had surgery (a surgery date on the record), or the group of
    operations "ACL reconstruction, any graft"; one operation is ``CohortFilter.surgery_type``.
    """

    ANY = "any"
    OPERATED = "operated"
    NOT_OPERATED = "not_operated"
    ACL_RECONSTRUCTION = "acl_reconstruction_any"


@dataclass(frozen=True)
class AgeBand:
    """Age at the start of the episode, ``low`` inclusive to ``high`` exclusive, in years."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not (0 <= self.low < self.high <= 130):
            raise ValidationError("Age band", f"{self.low}-{self.high} years",
                                  "0 to 130 years, the lower age below the upper")

    @property
    def label(self) -> str:
        return f"{self.low}-{self.high - 1} years"


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand(0, 18), AgeBand(18, 30), AgeBand(30, 45), AgeBand(45, 60), AgeBand(60, 75),
    AgeBand(75, 130),
)


@dataclass(frozen=True)
class CohortFilter:
    """Which episodes form a cohort; ``None`` means "any"."""

    measure_id: str
    basis: WeekBasis = WeekBasis.SURGERY
    diagnosis: str | None = None
    surgery: SurgeryFilter = SurgeryFilter.ANY
    side: str | None = None
    age_band: AgeBand | None = None
    sex: str | None = None
    started_from: date | None = None
    started_to: date | None = None
    therapist: str | None = None  # user name of the treating therapist
    surgery_type: SurgeryType | None = None  # one operation (implies a surgery date)
    exclude_episode: str | None = None  # the patient's own episode, for an overlay

    def __post_init__(self) -> None:
        # Plain strings (a combo box's data, a command line) become the enums, or are refused.
        try:
            object.__setattr__(self, "basis", WeekBasis(self.basis))
        except ValueError:
            raise ValidationError("Weeks since", repr(self.basis),
                                  ", ".join(b.value for b in WeekBasis)) from None
        try:
            object.__setattr__(self, "surgery", SurgeryFilter(self.surgery))
        except ValueError:
            raise ValidationError("Surgery", repr(self.surgery),
                                  ", ".join(s.value for s in SurgeryFilter)) from None
        if self.surgery_type is not None:
            try:
                object.__setattr__(self, "surgery_type", SurgeryType(self.surgery_type))
            except ValueError:
                raise ValidationError("Surgery type", repr(self.surgery_type),
                                      ", ".join(s.value for s in SurgeryType)) from None
        if (self.started_from is not None and self.started_to is not None
                and self.started_from > self.started_to):
            raise ValidationError(
                "Episode start period",
                f"from {self.started_from.isoformat()} to {self.started_to.isoformat()}",
                "a first day on or before the last day")

    def describe(self) -> str:
        """The filter in words, for the audit trail and the plot's caption (no patient data)."""
        parts = [f"measure {self.measure_id}", self.basis.label]
        if self.diagnosis:
            parts.append(f"diagnosis {self.diagnosis}")
        if self.surgery is SurgeryFilter.ACL_RECONSTRUCTION:
            parts.append("ACL reconstruction, any graft")
        elif self.surgery is not SurgeryFilter.ANY:
            parts.append(self.surgery.value.replace("_", " "))
        if self.surgery_type is not None:
            parts.append(f"surgery {self.surgery_type.label}")
        if self.side:
            parts.append(f"side {self.side}")
        if self.age_band:
            parts.append(f"age {self.age_band.label}")
        if self.sex:
            parts.append(f"sex {self.sex}")
        if self.started_from or self.started_to:
            a = self.started_from.isoformat() if self.started_from else "…"
            b = self.started_to.isoformat() if self.started_to else "…"
            parts.append(f"started {a} to {b}")
        if self.therapist:
            parts.append(f"treating therapist {self.therapist}")
        return "; ".join(parts)


@dataclass(frozen=True)
class CohortWeek:
    """One week of a curve: episodes measured and the quartiles of their values."""

    week: int
    count: int
    q1: float
    median: float
    q3: float


@dataclass(frozen=True)
class CohortCurve:
    """A cohort's recovery curve; ``patients`` counts distinct patients with any value."""

    filter: CohortFilter
    patients: int
    weeks: tuple[CohortWeek, ...]

    @property
    def large_enough(self) -> bool:
        return self.patients >= MIN_COHORT_PATIENTS


def quantile(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile of ``values`` by linear interpolation (definition 7, see above)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    h = (len(xs) - 1) * p
    lo = math.floor(h)
    if lo + 1 >= len(xs):
        return xs[lo]
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


@dataclass(frozen=True)
class MeasureOutcome:
    """One measure's change over the episodes of one diagnosis (first to last result)."""

    measure_id: str
    episodes: int  # episodes with at least two results of the measure
    mcid: float | None
    reached_mcid: int  # episodes whose improvement is at least the MCID
    median_change: float  # signed as measured (last minus first)

    @property
    def share_reached(self) -> float | None:
        if self.mcid is None or not self.episodes:
            return None
        return self.reached_mcid / self.episodes


@dataclass(frozen=True)
class DiagnosisOutcome:
    """The outcomes report's figures for one diagnosis; no patient-identifying data."""

    diagnosis: str
    episodes: int
    median_sessions: float | None  # sessions per episode (episodes with none count as 0)
    sessions: int
    sessions_with_adverse_event: int
    measures: tuple[MeasureOutcome, ...]
    rts_episodes: int = 0  # episodes that met the return-to-sport criteria
    median_weeks_to_rts: float | None = None

    @property
    def adverse_event_rate(self) -> float | None:
        return self.sessions_with_adverse_event / self.sessions if self.sessions else None


@dataclass(frozen=True)
class OutcomesData:
    """Everything the outcomes report and its CSV show."""

    clinic_name: str
    generated_by: str
    generated_on: date
    diagnosis: str | None
    rows: tuple[DiagnosisOutcome, ...]
