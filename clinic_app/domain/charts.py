"""A patient's whole chart: what a report, an export or the record view shows at once."""

from __future__ import annotations

from dataclasses import dataclass

from clinic_app.domain.records import Episode, Patient, TestResult, WalkSession


@dataclass(frozen=True)
class EpisodeChart:
    """Everything recorded in one episode of care, oldest first."""

    episode: Episode
    sessions: tuple[WalkSession, ...]
    tests: tuple[TestResult, ...]


@dataclass(frozen=True)
class PatientChart:
    """A patient with each of their episodes of care."""

    patient: Patient
    episodes: tuple[EpisodeChart, ...]
