"""A patient's whole chart: what a report, an export or the record view shows at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from clinic_app.domain.readiness import DEFAULT_CRITERIA_SET
from clinic_app.domain.records import ClinicInfo, Episode, Patient, TestResult, WalkSession

if TYPE_CHECKING:
    from clinic_app.domain.plan_of_care import EpisodePlanRecords, PlanOfCare


@dataclass(frozen=True)
class EpisodeChart:
    """Everything recorded in one episode of care, oldest first."""

    episode: Episode
    sessions: tuple[WalkSession, ...]
    tests: tuple[TestResult, ...]
    plan: EpisodePlanRecords | None = None  # goals, prescription, checklists (exports)


@dataclass(frozen=True)
class PatientChart:
    """A patient with each of their episodes of care."""

    patient: Patient
    episodes: tuple[EpisodeChart, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything one progress report shows; records entered in error are already excluded.

    ``chart.episodes`` holds only the episodes relevant to the period, newest first, each
    with the sessions and tests inside the period (oldest first).
    """

    clinic: ClinicInfo
    chart: PatientChart
    period_start: date | None
    period_end: date | None
    therapist: str
    generated_at: datetime  # aware
    report_id: str = ""
    criteria_set: str = DEFAULT_CRITERIA_SET  # the clinic's return-to-sport criteria
    bwt_fall_flag: bool = True  # the clinic applies the 3MBWT (older adults) fall-risk bands
    plans: Mapping[UUID, PlanOfCare] = field(default_factory=dict)  # by episode id

    @property
    def patient(self) -> Patient:
        return self.chart.patient

    @property
    def episodes(self) -> tuple[EpisodeChart, ...]:
        return self.chart.episodes
