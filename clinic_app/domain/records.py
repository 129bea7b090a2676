"""Frozen dataclasses that travel between layers, and the controlled vocabularies.

Repositories return these, services accept the ``*Draft`` classes as input, the
GUI and reports read them. Speeds are stored in SI (m/s), distances in metres,
durations in minutes, dates as ``datetime.date`` and instants as aware UTC
``datetime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Diagnosis(StrEnum):
    ACL_RECONSTRUCTION = "acl_reconstruction"
    ANTERIOR_KNEE_PAIN = "anterior_knee_pain"
    KNEE_OSTEOARTHRITIS = "knee_osteoarthritis"
    POST_SURGERY_OTHER = "post_surgery_other"

    @property
    def label(self) -> str:
        return DIAGNOSIS_LABELS[self]


DIAGNOSIS_LABELS: dict[Diagnosis, str] = {
    Diagnosis.ACL_RECONSTRUCTION: "ACL reconstruction",
    Diagnosis.ANTERIOR_KNEE_PAIN: "Anterior knee pain",
    Diagnosis.KNEE_OSTEOARTHRITIS: "Knee osteoarthritis",
    Diagnosis.POST_SURGERY_OTHER: "Other knee surgery",
}


class SurgeryType(StrEnum):
    """The knee operation an episode follows; the stored code is stable, the label is shown."""

    ACL_HAMSTRING = "acl_recon_hamstring"
    ACL_PATELLAR = "acl_recon_patellar"
    ACL_QUADRICEPS = "acl_recon_quadriceps"
    ACL_REPAIR = "acl_repair"
    PARTIAL_MENISCECTOMY = "partial_meniscectomy"
    MENISCUS_REPAIR = "meniscus_repair"
    TKA = "total_knee_arthroplasty"
    UKA = "unicompartmental_knee_arthroplasty"
    HTO = "high_tibial_osteotomy"
    MPFL = "mpfl_reconstruction"
    OTHER = "other"

    @property
    def label(self) -> str:
        return SURGERY_TYPE_LABELS[self]


SURGERY_TYPE_LABELS: dict[SurgeryType, str] = {
    SurgeryType.ACL_HAMSTRING: "ACL reconstruction (hamstring graft)",
    SurgeryType.ACL_PATELLAR: "ACL reconstruction (patellar tendon graft)",
    SurgeryType.ACL_QUADRICEPS: "ACL reconstruction (quadriceps tendon graft)",
    SurgeryType.ACL_REPAIR: "ACL repair",
    SurgeryType.PARTIAL_MENISCECTOMY: "Partial meniscectomy",
    SurgeryType.MENISCUS_REPAIR: "Meniscus repair",
    SurgeryType.TKA: "Total knee arthroplasty",
    SurgeryType.UKA: "Unicompartmental knee arthroplasty",
    SurgeryType.HTO: "High tibial osteotomy",
    SurgeryType.MPFL: "MPFL reconstruction",
    SurgeryType.OTHER: "Other knee surgery",
}

#: The three ACL reconstructions, one per graft (the cohort filter "ACL reconstruction, any graft").
ACL_RECONSTRUCTIONS: frozenset[SurgeryType] = frozenset(
    {SurgeryType.ACL_HAMSTRING, SurgeryType.ACL_PATELLAR, SurgeryType.ACL_QUADRICEPS})


def surgery_label(code: SurgeryType | str | None) -> str:
    """The words for a stored surgery type; "not recorded" when there is none."""
    if code is None or code == "":
        return "not recorded"
    return SurgeryType(code).label


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"


class WalkMode(StrEnum):
    OVERGROUND = "overground"
    TREADMILL = "treadmill"


class Surface(StrEnum):
    FLAT = "flat"
    CARPET = "carpet"
    GRASS = "grass"
    TREADMILL_BELT = "treadmill_belt"
    OTHER = "other"


class Assistance(StrEnum):
    INDEPENDENT = "independent"
    SUPERVISED = "supervised"
    HANDRAIL = "handrail"
    ASSISTED = "assisted"


class Role(StrEnum):
    ADMIN = "admin"
    THERAPIST = "therapist"
    FRONT_DESK = "front_desk"


@dataclass(frozen=True)
class Stamp:
    """Who created/changed a record and when, and its optimistic-lock version."""

    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    version: int
    entered_in_error: bool = False
    error_reason: str | None = None


# --- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientDraft:
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    sex: Sex = Sex.UNKNOWN
    phone: str = ""
    email: str = ""
    notes: str = ""


@dataclass(frozen=True)
class EpisodeDraft:
    diagnosis: Diagnosis
    affected_side: Side
    start_date: date
    surgery_date: date | None = None
    referring_doctor: str = ""
    end_date: date | None = None
    notes: str = ""
    #: Only with a surgery date; a date without a type reads "not recorded".
    surgery_type: SurgeryType | None = None
    #: User name of the treating therapist; empty means the user who opens the episode.
    treating_therapist: str = ""


@dataclass(frozen=True)
class WalkSessionDraft:
    """One retro-walking (backward walking) treatment session."""

    performed_at: datetime
    mode: WalkMode = WalkMode.OVERGROUND
    surface: Surface = Surface.FLAT
    duration_min: float | None = None
    distance_m: float | None = None
    speed_m_s: float | None = None
    incline_pct: float | None = None
    assistance: Assistance = Assistance.INDEPENDENT
    pain_before: int | None = None
    pain_after: int | None = None
    rpe: float | None = None
    heart_rate: int | None = None
    adverse_events: str = ""
    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""


@dataclass(frozen=True)
class TestResultDraft:
    """A standardized test result.

    ``items`` holds raw questionnaire answers (KOOS subscale, LEFS) where the score
    is computed from them; ``None`` entries are unanswered items.
    """

    __test__ = False  # not a pytest test class

    measure_id: str
    performed_on: date
    value: float | None = None
    side: Side | None = None
    items: tuple[int | None, ...] | None = None
    session_id: UUID | None = None
    notes: str = ""


# --- stored records -------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    id: UUID
    draft: PatientDraft
    stamp: Stamp

    @property
    def display_name(self) -> str:
        return f"{self.draft.family_name}, {self.draft.given_name}"


@dataclass(frozen=True)
class PatientPage:
    """One page of the patient list and the key the next page starts after.

    ``next_after`` is opaque to callers (the list's sort key of the last row); ``None``
    means this page is the last one.
    """

    patients: tuple[Patient, ...]
    next_after: tuple[str, str, UUID] | None


@dataclass(frozen=True)
class Episode:
    id: UUID
    patient_id: UUID
    draft: EpisodeDraft
    stamp: Stamp


@dataclass(frozen=True)
class WalkSession:
    id: UUID
    episode_id: UUID
    draft: WalkSessionDraft
    stamp: Stamp


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    id: UUID
    episode_id: UUID
    draft: TestResultDraft
    value: float
    stamp: Stamp


@dataclass(frozen=True)
class User:
    id: UUID
    username: str
    full_name: str
    role: Role
    active: bool = True


@dataclass(frozen=True)
class Account:
    """What signing in needs to know of a stored account (the security service's view).

    ``intact`` is False when the stored row no longer carries its valid signature (changed
    outside Backstep): such an account is never signed in.
    """

    id: UUID
    username: str
    full_name: str
    role: Role
    active: bool
    password_hash: str | None
    failed_logins: int
    locked_until: datetime | None
    intact: bool


@dataclass(frozen=True)
class ClinicInfo:
    name: str = ""
    address: str = ""
    phone: str = ""
    logo_png: bytes | None = field(default=None, repr=False)
    version: int = 0


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    patient_id: UUID | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    detail: str
